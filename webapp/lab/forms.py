"""Forms for tasks, examples, imports and sign-up (experiment form: experiment_form.py)."""
import json

from django import forms
from django.contrib.auth.forms import UserCreationForm

from .models import Example, Task
from .services.importers import MAX_CELL_CHARS  # an example's longest text, the same for imports and forms
from .usernames import lookalike

MAX_LABEL_CHARS = 200
MAX_LABELS = 500
# an input template is repeated for every demonstration of a prompt: a few lines, never a document
MAX_TEMPLATE_CHARS = 2_000


def describe_errors(form):
    """A form's errors as one sentence that names each field by its label, for views that
    answer with a message instead of re-rendering the form."""
    parts = []
    for name, errors in form.errors.items():
        field = form.fields.get(name)
        label = (field.label if field is not None and field.label else name.replace("_", " ")).lower()
        text = " ".join(errors).rstrip(".")  # parts end without a stop: "...required; split: ..."
        parts.append(f"{label}: {text}" if name != "__all__" else text)
    return "; ".join(parts)  # the caller ends the sentence (no "empty.. Choose")


def split_labels(text):
    """Labels: one per line, or comma separated when given on one line."""
    text = (text or "").strip()
    if not text:
        return []
    parts = text.splitlines() if "\n" in text else text.split(",")
    return [p.strip() for p in parts if p.strip()]


def label_list_problem(labels):
    """The message for a list of labels (the API sends a list, the page one text) where a
    label holds a separator of split_labels, which would split it silently; else None."""
    for i, label in enumerate(labels):
        if "," in label or (label and label.splitlines() != [label]):  # any line break splitlines knows
            shown = repr(label[:40])[1:-1]
            return (f'labels[{i}] "{shown}" contains a comma or a line break, which separate labels; '
                    "remove it, or send the parts as separate labels.")
    return None


class SignUpForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        fields = ("username",)

    def clean_username(self):
        """Django's checks (NFKC, the allowed characters, taken), then no look-alike of an
        existing account (usernames.py)."""
        username = super().clean_username()
        if username and lookalike(username) is not None:
            raise forms.ValidationError("This username looks like an existing account's (letters from another "
                                        "alphabet, or a digit for a letter); choose a clearly different one.")
        return username


def model_templates():
    """{local model name: the input template new tasks for it start from} (workers/engine/local_models.py)."""
    from workers.engine.local_models import LOCAL_MODELS

    return {m.name: m.template for m in LOCAL_MODELS}


class TaskForm(forms.ModelForm):
    description = forms.CharField(
        required=False, max_length=20_000, widget=forms.TextInput(),
        help_text="What the task is about, for your team (at most 20,000 characters).")
    labels_text = forms.CharField(
        label="Label set",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Classification only: one label per line (or comma separated), e.g. positive, negative.",
    )

    for_model = forms.ChoiceField(
        label="Template for model", required=False,
        help_text="Start the template from the one this model works with (the engine's local model "
                  "registry); leave the template empty to take it.")

    class Meta:
        model = Task
        fields = ["name", "description", "kind", "input_template", "answer_parser"]
        widgets = {
            "input_template": forms.Textarea(attrs={"rows": 3, "class": "mono"}),
        }
        help_texts = {
            "input_template": "Use {x} for the example input and end with the answer prefix, e.g. Text:{x}\\nLabel:",
            "answer_parser": "Generation only: how the answer is read from the model's output.",
        }

    def __init__(self, *args, owner=None, team=None, model=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.owner, self.team = owner, team
        if self.instance.pk and not self.is_bound:
            self.fields["labels_text"].initial = "\n".join(self.instance.labels or [])
        templates = model_templates()
        field = self.fields["for_model"]
        field.choices = [("", "(keep the template below)")] + [(name, f"{name}: {tpl!r}") for name, tpl in templates.items()]
        field.widget.attrs["data-templates"] = json.dumps(templates)
        self.fields["input_template"].required = False
        # the template is kept as written: the embedded model's format "{x} " ends with a space
        self.fields["input_template"].strip = False
        self.fields["input_template"].widget.attrs["maxlength"] = MAX_TEMPLATE_CHARS
        if model in templates and not self.is_bound and not self.instance.pk:
            # a new task for a chosen model starts from that model's template
            field.initial = model
            self.initial["input_template"] = templates[model]
        self.order_fields(["name", "description", "kind", "for_model", "input_template"])

    def clean_input_template(self):
        tpl = self.cleaned_data["input_template"].replace("\r\n", "\n")
        if not tpl.strip():
            tpl = model_templates().get(self.data.get("for_model") or "", "")
            if not tpl:
                raise forms.ValidationError("Enter a template with {x} where the example input goes, or choose a "
                                            "model above to start from its template.")
        if len(tpl) > MAX_TEMPLATE_CHARS:
            raise forms.ValidationError(f"The template is {len(tpl):,} characters long; the limit is "
                                        f"{MAX_TEMPLATE_CHARS:,}. Shorten it: it is repeated for every "
                                        "demonstration of a prompt.")
        if "{x}" not in tpl:
            raise forms.ValidationError("The template must contain {x} where the example input goes.")
        return tpl

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        clash = (Task.objects.filter(name=name, team=self.team) if self.team is not None
                 else Task.objects.filter(name=name, owner=self.owner)).exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError("This team already has a task with this name; pick another."
                                        if self.team is not None else
                                        "You already have a task with this name; pick another.")
        return name

    def clean(self):
        data = super().clean()
        labels = split_labels(data.get("labels_text"))
        if data.get("kind") == Task.CLASSIFICATION:
            if not labels:
                self.add_error("labels_text", "A classification task needs a label set: enter at least two labels.")
            elif len(labels) < 2:
                self.add_error("labels_text", "Enter at least two labels.")
            elif len(set(labels)) != len(labels):
                self.add_error("labels_text", "Each label must appear once.")
            elif len(labels) > MAX_LABELS:
                self.add_error("labels_text", f"Enter at most {MAX_LABELS} labels (this has {len(labels)}).")
            elif any(len(label) > MAX_LABEL_CHARS for label in labels):
                long = next(label for label in labels if len(label) > MAX_LABEL_CHARS)
                self.add_error("labels_text", f'Each label must be at most {MAX_LABEL_CHARS} characters; '
                                              f'shorten "{long[:40]}…" ({len(long)} characters).')
            elif self.instance.pk:
                self._check_examples_fit(labels)
        data["labels"] = labels if data.get("kind") == Task.CLASSIFICATION else []
        return data

    def _check_examples_fit(self, labels):
        """Editing a classification task (its labels, or its kind from generation) must keep
        every existing example's output in the label set: refused with the examples named by
        their row number on the task page."""
        allowed = set(labels)
        outputs = self.instance.examples.order_by("position", "id").values_list("output", flat=True).iterator()
        misfits = [(row, out) for row, out in enumerate(outputs, start=1) if out.strip() not in allowed]
        if not misfits:
            return
        shown = ", ".join(f'#{row} "{out.strip()[:40]}"' for row, out in misfits[:5])
        more = f" and {len(misfits) - 5:,} more" if len(misfits) > 5 else ""
        missing = sorted({out.strip() for _, out in misfits})
        labels_needed = ", ".join(f'"{m[:40]}"' for m in missing[:5]) + (" ..." if len(missing) > 5 else "")
        self.add_error("labels_text", f"{len(misfits):,} example(s) of this task have an output outside this label "
                                      f"set: {shown}{more}. Add the label(s) {labels_needed}, or edit or delete "
                                      "those examples first.")

    def save(self, commit=True):
        self.instance.labels = self.cleaned_data["labels"]
        if self.owner is not None and not self.instance.pk:
            self.instance.owner = self.owner
        if self.team is not None and not self.instance.pk:
            self.instance.team = self.team
        return super().save(commit)


class ExampleForm(forms.ModelForm):
    input = forms.CharField(max_length=MAX_CELL_CHARS, widget=forms.Textarea(attrs={"rows": 2}))
    output = forms.CharField(max_length=MAX_CELL_CHARS, widget=forms.TextInput())

    class Meta:
        model = Example
        fields = ["input", "output", "split"]
        widgets = {
            "input": forms.Textarea(attrs={"rows": 2}),
            "output": forms.TextInput(),
        }

    def __init__(self, *args, task=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.task = task

    def clean(self):
        data = super().clean()
        out = (data.get("output") or "").strip()
        task = self.task or getattr(self.instance, "task", None)
        if task and task.kind == Task.CLASSIFICATION and out and task.labels and out not in task.labels:
            self.add_error("output", f"The output must be one of the task's labels: {', '.join(task.labels)}.")
        return data


class ImportFileForm(forms.Form):
    file = forms.FileField(help_text="CSV with a header input,output — or JSONL, one {\"input\": ..., \"output\": ...} per line.")
    split = forms.ChoiceField(choices=Example.SPLIT_CHOICES, initial=Example.POOL)
    replace = forms.BooleanField(required=False, help_text="Delete the current examples of this split first.")


class HubImportForm(forms.Form):
    dataset_id = forms.CharField(max_length=200, help_text="e.g. stanfordnlp/sst2")
    config = forms.CharField(max_length=100, required=False)
    split = forms.CharField(max_length=50, initial="train")
    input_column = forms.CharField(max_length=100, initial="sentence")
    output_column = forms.CharField(max_length=100, initial="label")
    limit = forms.IntegerField(min_value=1, max_value=5000, initial=500)
