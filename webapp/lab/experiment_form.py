"""The experiment form: the experiment spec's fields as widgets (labels, help texts, bounds
and defaults all come from `ExperimentSpec`), and a POST mapped onto the spec. Reading the
values and every check is `services/planning.plan_submission`, which the REST API calls
too, so the form's field errors are the API's, word for word."""
import uuid

from django import forms

from .experiment_spec import NON_FIELD, ExperimentSpec, bound, settings
from .models import Task
from .services.planning import allowed_tasks, plan_submission


class Shown:
    """A form field that only renders: `clean` hands the posted value on as it was sent
    (the spec reads it, with the messages the field would have given)."""

    def clean(self, value):
        return value


def _shown(cls):
    return type(f"Shown{cls.__name__}", (Shown, cls), {})


WIDGET_FIELDS = {  # Setting.kind -> the Django field that draws it
    "text": _shown(forms.CharField), "numbers": _shown(forms.CharField), "names": _shown(forms.CharField),
    "int": _shown(forms.IntegerField), "choice": _shown(forms.ChoiceField),
    "choices": _shown(forms.MultipleChoiceField), "task": _shown(forms.ModelChoiceField),
    "tasks": _shown(forms.ModelMultipleChoiceField),
}


def shown_value(kind, value):
    """A spec value as its widget shows it: lists typed as text are comma separated."""
    if kind in ("numbers", "names") and isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return value


def _widget_options(name, setting):
    kind = setting.kind
    if kind == "text":
        return {"max_length": bound(name, "max_length"), "required": not setting.blank}
    if kind == "int":
        return {"min_value": bound(name, "ge"), "max_value": bound(name, "le"), "required": not setting.blank}
    if kind == "choice":
        return {"choices": setting.choices}
    if kind == "choices":
        return {"choices": setting.choices, "widget": forms.CheckboxSelectMultiple}
    if kind in ("task", "tasks"):
        return {"queryset": Task.objects.none(), "required": not setting.blank}
    return {}


def spec_field(name, setting):
    """The form field of one spec field."""
    info = ExperimentSpec.model_fields[name]
    initial = None if info.is_required() else shown_value(setting.kind, info.get_default(call_default_factory=True))
    field = WIDGET_FIELDS[setting.kind](label=info.title, help_text=info.description or "", initial=initial,
                                       **_widget_options(name, setting))
    field.widget.attrs.update(dict(setting.attrs))
    return field


class ExperimentForm(forms.Form):
    # a double submit (two quick POSTs of one rendered form) creates one experiment: the key is
    # made when the form is rendered, stored on the experiment, unique per owner
    submit_key = _shown(forms.CharField)(required=False, widget=forms.HiddenInput)
    confirm_unreadable = forms.BooleanField(
        label="Launch anyway: the model cannot read part of this text", required=False,
        help_text="Needed only when the readability check, made when you submit, finds that too many input "
                  "words become the model's unknown token.",
    )

    def __init__(self, *args, user=None, team=None, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("submit_key", uuid.uuid4().hex)
        self.user, self.team = user, team
        tasks = allowed_tasks(user, team)  # the team's tasks and the built-ins
        for name, setting in settings():
            if setting.kind in ("task", "tasks"):
                self.fields[name].queryset = tasks
        self.plan = None  # services/planning.Plan, once validated

    @staticmethod
    def initial_of(spec):
        """Initial values that show `spec` (run again, copy to a team)."""
        return {name: shown_value(setting.kind, getattr(spec, name)) for name, setting in settings()}

    @property
    def spec(self):
        return self.plan.spec if self.plan else None

    @property
    def readability(self):
        """One dict per task checked (services/readability.py)."""
        return self.plan.readability if self.plan else []

    @property
    def warnings(self):
        return self.plan.warnings if self.plan else []

    @property
    def local_models(self):
        """The engine's registry of models that run without the hub (one line each)."""
        from workers.engine.local_models import local_models

        return local_models()

    def clean(self):
        data = super().clean()
        # a field the browser did not send is empty (the API instead gives it its default)
        values = {name: "" if data.get(name) is None else data[name] for name, _ in settings()}
        values.update(submit_key=data.get("submit_key"), confirm_unreadable=data.get("confirm_unreadable"))
        self.plan = plan_submission(self.user, values, team=self.team)
        for field, messages in self.plan.errors.items():
            for message in messages:
                self.add_error(None if field == NON_FIELD else field, message)
        return data


ExperimentForm.base_fields = {"submit_key": ExperimentForm.base_fields["submit_key"],
                              **{name: spec_field(name, setting) for name, setting in settings()},
                              "confirm_unreadable": ExperimentForm.base_fields["confirm_unreadable"]}
