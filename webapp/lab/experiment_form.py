"""The experiment form: validates every setting (locally, then with the engine's
`check_config`) before anything is created or queued."""
import logging
import re
import uuid

from django import forms

from . import defaults
from .models import METHOD_CHOICES, Task
from .services import quotas
from .services.config import build_config
from .services.model_errors import public_model_error

log = logging.getLogger("webapp.lab")

# the fields the engine's checks name (ConfigError.field, check_config's pairs; list indexes
# dropped, the longest dotted prefix wins) -> the form field to show the message on;
# tests/web/test_forms.py makes the engine emit each one
ENGINE_FIELD_MAP = {
    "model": "model_name",
    "task": "train_task",
    "eval_tasks": "eval_tasks",
    "methods": "methods",
    "n": "n_values",
    "seeds": "seeds",
    "icl_demos": "icl_demos",
    "eval_size": "eval_size",
    "similarity_size": "similarity_size",
    "adapter.type": "adapter_type",
    "adapter.r": "lora_r",
    "adapter.alpha": "lora_alpha",
    "adapter.target_modules": "target_modules",
}


def map_engine_field(engine_field):
    """'adapter.r' -> 'lora_r'; 'eval_tasks[1].labels' -> 'eval_tasks'; unknown -> None."""
    key = re.sub(r"\[\d+\]", "", str(engine_field or "")).strip()
    parts = key.split(".")
    for i in range(len(parts), 0, -1):
        hit = ENGINE_FIELD_MAP.get(".".join(parts[:i]))
        if hit:
            return hit
    return None


def pool_problem(task, n_values, eval_size):
    """The engine's rule for "is the pool big enough for N" (`sampling.draw_split`: N training
    plus N/2 dev examples outside the evaluation set), for the largest N; its message or None."""
    from workers.engine.errors import ConfigError
    from workers.engine.sampling import draw_split

    try:
        draw_split(task.to_engine_task(), max(n_values), 0, eval_size)
    except ConfigError as exc:
        return exc.message
    return None


def visible_tasks(user):
    from webapp.teams.permissions import readable_tasks

    return readable_tasks(user)


def engine_check(config):
    """Run the engine's validation; [] with a warning while the engine is not installed."""
    try:
        from workers.engine.validation import check_config
    except ModuleNotFoundError as exc:
        if (exc.name or "").startswith("workers.engine"):
            log.warning("engine validation not installed (%s); only local checks ran", exc)
            return []
        raise
    return list(check_config(config))


class ExperimentForm(forms.Form):
    # a double submit (two quick POSTs of one rendered form) creates one experiment: the key is
    # made when the form is rendered, stored on the experiment, unique per owner
    submit_key = forms.RegexField(regex=r"^[0-9a-f]{32}$", required=False, widget=forms.HiddenInput,
                                  error_messages={"invalid": "This form is out of date: reload the page and submit "
                                                             "it again."})
    name = forms.CharField(max_length=200, required=False)
    model_name = forms.CharField(
        label="Model", max_length=300, initial="embedded",
        widget=forms.TextInput(attrs={"list": "local-models", "autocomplete": "off"}),
        help_text="A local model listed below, a Hugging Face id (e.g. Qwen/Qwen3-4B-Base), a local model "
                  "directory, or a .gguf file path.",
    )
    train_task = forms.ModelChoiceField(queryset=Task.objects.none(), label="Train task")
    eval_tasks = forms.ModelMultipleChoiceField(
        queryset=Task.objects.none(), required=False, widget=forms.SelectMultiple(attrs={"size": 6}),
        help_text="Empty = evaluate on the train task.",
    )
    methods = forms.MultipleChoiceField(choices=METHOD_CHOICES, initial=defaults.METHODS_DEFAULT,
                                        widget=forms.CheckboxSelectMultiple)
    n_values = forms.CharField(label="N values", initial="4,8", help_text="Comma separated, e.g. 4,8")
    seeds = forms.IntegerField(label="Seeds", min_value=1, max_value=20, initial=1,
                               help_text="Number of training sets (seeds) per N.")
    icl_demos = forms.IntegerField(label="ICL demos", min_value=1, max_value=256, required=False,
                                   help_text="Demonstrations per ICL prompt; empty = all N training examples.")
    adapter_type = forms.ChoiceField(label="Adapter", choices=[("lora", "LoRA"), ("ia3", "(IA)³")],
                                     initial=defaults.ADAPTER_TYPE)
    lora_r = forms.IntegerField(label="r", min_value=1, max_value=512, initial=defaults.LORA_R)
    lora_alpha = forms.IntegerField(label="alpha", min_value=1, max_value=4096, initial=defaults.LORA_ALPHA)
    target_modules = forms.CharField(initial=",".join(defaults.TARGET_MODULES),
                                     help_text="Comma separated module names.")
    eval_size = forms.IntegerField(min_value=1, max_value=5000, initial=defaults.EVAL_SIZE)
    similarity_size = forms.IntegerField(
        label="Similarity queries", min_value=0, max_value=5000, required=False,
        help_text=f"Evaluation queries used for activation similarity; empty = min(eval size, "
                  f"{defaults.SIMILARITY_SIZE}).",
    )

    confirm_unreadable = forms.BooleanField(
        label="Launch anyway: the model cannot read part of this text", required=False,
        help_text="Needed only when the check below finds that too many input words become the model's "
                  "unknown token.",
    )

    def __init__(self, *args, user=None, team=None, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("submit_key", uuid.uuid4().hex)
        self.user = user
        from webapp.teams.permissions import team_tasks

        # the tasks of the team the experiment is created in, and the built-ins
        qs = (team_tasks(team) if team is not None else visible_tasks(user)).order_by("builtin", "name")
        self.fields["train_task"].queryset = qs
        self.fields["eval_tasks"].queryset = qs
        self.config = None
        self.plan = None
        self.readability = []  # one dict per task checked (services/readability.py)
        self.warnings = []     # the unreadable-text warnings, stored with the experiment at launch

    @property
    def local_models(self):
        """The engine's registry of models that run without the hub (one line each)."""
        from workers.engine.local_models import local_models

        return local_models()

    def clean_n_values(self):
        raw = self.cleaned_data["n_values"]
        try:
            values = sorted({int(p) for p in re.split(r"[,\s]+", raw.strip()) if p})
        except ValueError:
            raise forms.ValidationError("Enter whole numbers separated by commas, e.g. 4,8.")
        if not values:
            raise forms.ValidationError("Enter at least one N, e.g. 4.")
        if values[0] < 1:
            raise forms.ValidationError("Each N must be at least 1.")
        return values

    def clean_target_modules(self):
        mods = [m.strip() for m in self.cleaned_data["target_modules"].split(",") if m.strip()]
        bad = [m for m in mods if not re.fullmatch(r"[A-Za-z_][\w.]*", m)]
        if not mods or bad:
            raise forms.ValidationError("List module names separated by commas, e.g. q_proj,k_proj,o_proj.")
        return mods

    def clean_similarity_size(self):
        value = self.cleaned_data.get("similarity_size")
        eval_size = self.cleaned_data.get("eval_size")
        if value is not None and eval_size is not None and value > eval_size:
            raise forms.ValidationError(f"Use at most the eval size ({eval_size}).")
        return value

    def clean_model_name(self):
        return self.cleaned_data["model_name"].strip()

    def _check_task(self, task, field, n_values=None, eval_size=None):
        pool = task.pool().count()
        if task.needs_hub and not task.examples.exists():
            self.add_error(field, f'"{task.name}" needs the Hugging Face hub, which cannot be reached from this '
                                  "machine: import its examples from a CSV/JSONL file first.")
            return
        if task.kind == Task.CLASSIFICATION and not task.labels:
            self.add_error(field, f'"{task.name}" has an empty label set: add labels on the task page.')
        if pool == 0:
            self.add_error(field, f'"{task.name}" has no examples: add or import some on the task page.')
        elif n_values:
            problem = pool_problem(task, n_values, eval_size)
            if problem:
                self.add_error("n_values", problem)

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        train, evals = data["train_task"], list(data.get("eval_tasks") or [])
        self._check_task(train, "train_task", data["n_values"], data["eval_size"])
        for task in evals:
            if task.pk != train.pk:
                self._check_task(task, "eval_tasks")
        if self.errors:
            return data
        self._check_readability(data["model_name"], [train] + [t for t in evals if t.pk != train.pk],
                                data.get("confirm_unreadable"))
        self.config = build_config(
            model_name=data["model_name"], train_task=train, eval_tasks=evals, methods=data["methods"],
            n_values=data["n_values"], seeds=data["seeds"], icl_demos=data.get("icl_demos"),
            eval_size=data["eval_size"], adapter_type=data["adapter_type"], lora_r=data["lora_r"],
            lora_alpha=data["lora_alpha"], target_modules=data["target_modules"],
            similarity_size=data.get("similarity_size"),
        )
        try:
            problems = engine_check(self.config)
        except Exception as exc:  # a crash in validation must not queue anything
            log.exception("check_config crashed")
            problems = [("", f"The engine could not check this configuration: {type(exc).__name__}: {exc}")]
        for engine_field, message in problems:
            field = map_engine_field(engine_field)
            if field == "model_name":
                message = public_model_error(data["model_name"], message)
            if field is None:
                self.add_error(None, f"{engine_field}: {message}" if engine_field else str(message))
            else:
                self.add_error(field, str(message))
        if not self.errors:
            self._plan()
        return data

    def estimate(self, device):
        """The wall-time estimate of the validated experiment (services/estimate.py)."""
        from .services.estimate import estimate, human

        data = self.cleaned_data
        tasks = [data["train_task"]] + [t for t in data.get("eval_tasks") or [] if t.pk != data["train_task"].pk]
        result = estimate(data["model_name"], self.config, self.plan, tasks, device)
        if "low_s" in result:
            low, high = human(result["low_s"]), human(result["high_s"])
            result["text"] = low if low == high else f"{low} to {high}"
        return result

    def _check_readability(self, model_name, tasks, confirmed):
        """The unreadable-text guard: above the threshold, launching needs the confirmation box."""
        from .services.readability import task_readability

        self.readability = [task_readability(model_name, t) for t in tasks]
        self.warnings = [d["warning"] for d in self.readability if d.get("unreadable")]
        if self.warnings and not confirmed:
            for w in self.warnings:
                self.add_error("confirm_unreadable", f"{w} Tick this box to launch anyway.")

    def _plan(self):
        """Expand into runs now, so a config the engine rejects creates nothing.
        `workers.engine.plan` is torch-free: the web process never imports torch."""
        from workers.engine.plan import plan_runs

        try:
            self.plan = plan_runs(self.config)  # the engine's RunKeys, stored on the runs at launch
        except Exception as exc:  # ConfigError(field, message) names the field
            engine_field = getattr(exc, "field", None)
            message = getattr(exc, "message", None) or str(exc)
            field = map_engine_field(engine_field) if engine_field else None
            if field:
                self.add_error(field, message)
            else:
                self.add_error(None, f"{engine_field}: {message}" if engine_field else
                               f"The engine rejected this configuration: {type(exc).__name__}: {exc}")
            return
        if not self.plan:
            self.add_error("methods", "This configuration expands into no runs: choose at least one method.")
            return
        try:
            quotas.ensure_runs_per_experiment(self.plan)
        except quotas.QuotaExceeded as exc:
            self.add_error("n_values", str(exc))
            return
        if self.user is not None:
            try:
                quotas.ensure_room_for_runs(self.user, len(self.plan))
            except quotas.QuotaExceeded as exc:
                self.add_error(None, str(exc))
