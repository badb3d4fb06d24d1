"""The unreadable-text guard (issue 9): for the chosen model, the share of a task's input
words that become the unknown token, on the prompt preview, on the experiment form (above
the threshold launching needs the confirmation box) and on the launched experiment's page.
Real tokenizers: the embedded model's word-level vocabulary and SmolLM2's byte-level BPE."""
import pytest

from webapp.lab.models import Example, Experiment, Task

from .conftest import experiment_post

SENTENCES = [("the film was a delight", "positive"), ("a dull and tedious mess", "negative"),
             ("warm, funny and wise", "positive"), ("i wanted my money back", "negative"),
             ("a moving story told with care", "positive"), ("the plot makes no sense at all", "negative")]


@pytest.fixture
def english(user):
    task = Task.objects.create(owner=user, name="reviews", kind="classification",
                               labels=["positive", "negative"], input_template="Text:{x}\nLabel:")
    Example.objects.bulk_create(Example(task=task, position=i, input=f"{x} ({i})", output=y)
                                for i, (x, y) in enumerate(SENTENCES * 3))
    return task


def test_form_needs_confirmation_on_the_embedded_model(client_in, english):
    data = experiment_post(english, methods=["icl"], confirm_unreadable="")
    response = client_in.post("/experiments/new/", data)
    assert response.status_code == 200 and not Experiment.objects.exists()
    errors = response.context["form"].errors
    assert list(errors) == ["confirm_unreadable"]
    message = errors["confirm_unreadable"][0]
    assert '"reviews"' in message and '"embedded"' in message and "unknown token" in message
    share = response.context["form"].readability[0]["unknown_share"]
    assert share > 0.05 and f"{share:.0%}" in message
    assert b"Launch anyway" in response.content

    confirmed = client_in.post("/experiments/new/", {**data, "confirm_unreadable": "on"})
    assert confirmed.status_code == 302
    exp = Experiment.objects.get()
    assert exp.warnings and f"{share:.0%}" in exp.warnings[0]
    page = client_in.get(f"/experiments/{exp.pk}/").content.decode()
    assert "unreadable-warning" in page and "film" in page


def test_form_does_not_ask_for_smollm2(client_in, english):
    data = experiment_post(english, model_name="smollm2-135m", methods=["icl"], confirm_unreadable="")
    response = client_in.post("/experiments/new/", data)
    assert response.status_code == 302, response.context["form"].errors
    exp = Experiment.objects.get()
    assert exp.warnings == []
    assert "unreadable-warning" not in client_in.get(f"/experiments/{exp.pk}/").content.decode()


def test_readable_task_passes_on_the_embedded_model(client_in, user):
    task = Task.objects.create(owner=user, name="zoo", kind="classification", labels=["animal", "fruit"],
                               input_template="{x} ")
    words = [("dog", "animal"), ("apple", "fruit"), ("cat", "animal"), ("banana", "fruit")]
    Example.objects.bulk_create(Example(task=task, position=i, input=x, output=y)
                                for i, (x, y) in enumerate(words * 4))
    response = client_in.get(f"/tasks/{task.pk}/preview.json", {"index": 1, "k": 1, "model": "embedded"})
    r = response.json()["readability"]
    assert r["unknown"] == 0 and not r["unreadable"]


def test_preview_reports_the_share_per_model(client_in, english):
    url = f"/tasks/{english.pk}/preview.json"
    embedded = client_in.get(url, {"index": 1, "k": 2, "model": "embedded"}).json()["readability"]
    assert embedded["unreadable"] and embedded["unknown_share"] > 0.05 and "film" in embedded["unknown_examples"]
    smol = client_in.get(url, {"index": 1, "k": 2, "model": "smollm2-135m"}).json()["readability"]
    assert smol["unknown"] == 0 and not smol["unreadable"] and smol["warning"] == ""
    missing = client_in.get(url, {"index": 1, "k": 2, "model": "/nonexistent/dir"}).json()["readability"]
    assert "/nonexistent/dir" in missing["error"]
    assert "readability" not in client_in.get(url, {"index": 1, "k": 2}).json()


def test_threshold_is_a_setting(client_in, english, settings):
    settings.LAB_UNREADABLE_THRESHOLD = 0.99
    r = client_in.get(f"/tasks/{english.pk}/preview.json", {"model": "embedded"}).json()["readability"]
    assert r["unknown_share"] > 0.05 and not r["unreadable"]


def test_form_lists_the_local_models(client_in):
    from workers.engine.local_models import LOCAL_MODELS

    page = client_in.get("/experiments/new/").content.decode()
    assert 'list="local-models"' in page
    for m in LOCAL_MODELS:
        assert f'<option value="{m.name}">' in page and m.reads in page and m.cost in page


def test_a_gguf_path_is_accepted_and_checked(client_in, english):
    """The model field takes a .gguf path: the shipped SmolLM2 file, converted once (the same
    cache as the alias), reads the English task."""
    from workers.engine.local_models import get_local_model, shipped_gguf_path

    path = str(shipped_gguf_path(get_local_model("smollm2-135m")))
    response = client_in.post("/experiments/new/", {**experiment_post(english, model_name=path, methods=["icl"],
                                                                      confirm_unreadable=""), "estimate": "1"})
    form = response.context["form"]
    assert form.is_valid(), form.errors
    assert form.readability[0]["model"] == path and form.readability[0]["unknown"] == 0
    assert not Experiment.objects.exists()
