"""One experiment spec (webapp/lab/experiment_spec.py) behind every path that launches,
shows or copies an experiment. A value other than the default for each of its fields
survives: the form -> the stored experiment (and its engine config) -> "run again" (the
form's initial values) -> "copy to a team" (idem, its tasks copied; then launched there) ->
the API's read (ExperimentOut) -> the API's create -> its read again, and the API's clone.
The fields are enumerated from the spec, so a new field that one of these paths does not
carry fails here."""
import pytest

from webapp.api.routers.experiments import ExperimentIn, ExperimentOut
from webapp.lab.experiment_form import ExperimentForm
from webapp.lab.experiment_spec import ENGINE_FIELDS, ExperimentSpec, bound, setting_of, settings, spec_of
from webapp.lab.models import Experiment, Task
from webapp.lab.services import snapshots
from webapp.teams.services import create_team, personal_team

from .conftest import make_task
from .test_api import Api

pytestmark = pytest.mark.django_db

# a value other than the default for every field of the spec (tasks by name)
NON_DEFAULT = {
    "name": "round trip",
    "model_name": "smollm2-135m",
    "train_task": "train",
    "eval_tasks": ["other", "train"],
    "methods": ["icl", "sft"],
    "n_values": [2, 4],
    "seeds": 2,
    "icl_demos": 3,
    "eval_size": 10,
    "similarity_size": 5,
    "adapter_type": "ia3",
    "lora_r": 4,
    "lora_alpha": 16,
    "target_modules": ["q_proj", "v_proj"],
}
# the same values where the engine reads them (its config, as stored at launch)
IN_THE_ENGINE = {
    "model": "smollm2-135m", "task": "train", "eval_tasks": ["other", "train"], "methods": ["icl", "sft"],
    "n": [2, 4], "seeds": [0, 1], "icl_demos": 3, "eval_size": 10, "similarity_size": 5, "adapter.type": "ia3",
    "adapter.r": 4, "adapter.alpha": 16, "adapter.target_modules": ["q_proj", "v_proj"],
}
OPTIONS = {"submit_key", "confirm_unreadable"}  # how a launch is asked for, not what it runs


def test_every_field_has_a_value_other_than_its_default():
    assert set(NON_DEFAULT) == set(ExperimentSpec.model_fields), "give the new field a value in NON_DEFAULT"
    for name, info in ExperimentSpec.model_fields.items():
        if not info.is_required():
            assert NON_DEFAULT[name] != info.get_default(call_default_factory=True), name
    assert set(IN_THE_ENGINE) == set(ENGINE_FIELDS), "say where the engine reads the new field"


def test_the_form_and_the_api_take_the_spec_fields_and_nothing_else():
    fields = set(ExperimentSpec.model_fields)
    assert set(ExperimentForm.base_fields) - OPTIONS == fields
    assert set(ExperimentIn.model_fields) - OPTIONS - {"team"} == fields
    assert fields <= set(ExperimentOut.model_fields)


def test_text_lengths_are_the_columns():
    for name, setting in settings():
        if setting.kind == "text":
            assert bound(name, "max_length") == Experiment._meta.get_field(name).max_length, name


def _tasks(user):
    team = personal_team(user)
    return {name: make_task(user, name=name, n=40, team=team) for name in ("train", "other")}


def _posted(values, tasks):
    """Spec values (tasks by name) as the browser posts the form."""
    data = {"confirm_unreadable": "on"}
    for name, setting in settings():
        value = values[name]
        if setting.kind == "task":
            value = tasks[value].pk
        elif setting.kind == "tasks":
            value = [tasks[v].pk for v in value]
        elif setting.kind in ("numbers", "names"):
            value = ",".join(str(v) for v in value)
        data[name] = value
    return data


def _seen(name, value):
    """A field's value as a form's initial values or a JSON body shows it -> NON_DEFAULT's form."""
    kind = setting_of(name).kind
    if kind == "task":
        return Task.objects.get(pk=value).name
    if kind == "tasks":
        return sorted(Task.objects.get(pk=v).name for v in value)
    if kind in ("numbers", "names") and isinstance(value, str):
        value = value.split(",")
    if kind == "numbers":
        return [int(v) for v in value]
    return value


def _check(values, name=NON_DEFAULT["name"], where=""):
    """Every spec field is in `values` with NON_DEFAULT's value (and the name given)."""
    missing = [f for f, _ in settings() if f not in values]
    assert not missing, f"{where}: lost {missing}"
    got = {f: _seen(f, values[f]) for f, _ in settings()}
    expected = {**NON_DEFAULT, "name": name}
    assert got == expected, f"{where}: " + ", ".join(f"{f}: {got[f]!r} != {expected[f]!r}"
                                                       for f in expected if got[f] != expected[f])


def _engine_value(config, path):
    value = config
    for part in path.split("."):
        value = value[part]
    if path == "task":
        return value["name"]
    if path == "eval_tasks":
        return sorted(t["name"] for t in value)
    return value


def test_each_setting_survives_every_path(client, user, no_engine_check):
    client.force_login(user)
    tasks = _tasks(user)
    resp = client.post("/experiments/new/", _posted(NON_DEFAULT, tasks))
    assert resp.status_code == 302, resp.context["form"].errors
    exp = Experiment.objects.get()
    _check(spec_of(exp).model_dump(), where="stored")
    config = snapshots.resolve(exp.config)
    assert {p: _engine_value(config, p) for p in ENGINE_FIELDS} == IN_THE_ENGINE

    again = client.get(f"/experiments/new/?clone={exp.pk}").context["form"].initial
    _check(again, "round trip (again)", "run again")

    lab = create_team(user, "lab")
    copied = client.post(f"/experiments/{exp.pk}/copy/", {"team": lab.pk}, follow=True).context["form"]
    _check(copied.initial, "round trip (copy)", "copy to a team")
    assert {Task.objects.get(pk=pk).team_id for pk in [copied.initial["train_task"], *copied.initial["eval_tasks"]]} \
        == {lab.pk}  # the team's own copies of the tasks
    launched = client.post("/experiments/new/", {**copied.initial, "confirm_unreadable": "on"})
    assert launched.status_code == 302, launched.context["form"].errors
    _check(spec_of(Experiment.objects.get(team=lab)).model_dump(), "round trip (copy)", "launched from the copy")

    api = Api(user)
    read = api.get(f"/experiments/{exp.pk}/").json()
    _check(read, where="API read")
    body = {f: read[f] for f, _ in settings()}
    created = api("POST", "/experiments/", {**body, "confirm_unreadable": True})
    assert created.status_code == 201, created.content
    _check(api.get(f"/experiments/{created.json()['id']}/").json(), where="API create")
    _check(api.get(f"/experiments/{exp.pk}/clone/").json(), "round trip (again)", "API clone")


def test_copy_and_run_again_keep_the_name_within_its_length(client_in, user, no_engine_check):
    """A name of the maximum length: the copy's and the run-again's names are shortened
    ("…") to fit, so their forms launch as they open."""
    limit = Experiment._meta.get_field("name").max_length
    tasks = _tasks(user)
    resp = client_in.post("/experiments/new/", _posted({**NON_DEFAULT, "name": "e" * limit}, tasks))
    assert resp.status_code == 302
    exp = Experiment.objects.get()
    lab = create_team(user, "lab")
    copied = client_in.post(f"/experiments/{exp.pk}/copy/", {"team": lab.pk}, follow=True).context["form"].initial
    again = client_in.get(f"/experiments/new/?clone={exp.pk}").context["form"].initial
    for initial, tag in ((copied, "copy"), (again, "again")):
        assert len(initial["name"]) == limit and initial["name"].endswith(f"… ({tag})"), initial["name"]
        assert initial["similarity_size"] == NON_DEFAULT["similarity_size"]
    launched = client_in.post("/experiments/new/", {**copied, "confirm_unreadable": "on"})
    assert launched.status_code == 302, launched.context["form"].errors
    assert Experiment.objects.get(team=lab).name == copied["name"]
