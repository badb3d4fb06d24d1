"""The bad-input corpus: each case is sent through the real view and must answer with a
clear message naming the problem (never a 500) and store nothing."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

LONG = "x" * 140_000

UPLOADS = [
    ("nul byte in csv", "d.csv", b"input,output\nhi\x00there,positive\n", "NUL byte"),
    ("nul byte in jsonl", "d.jsonl", b'{"input": "a\x00", "output": "positive"}\n', "NUL byte"),
    ("escaped nul in jsonl", "d.jsonl", b'{"input": "a\\u0000b", "output": "positive"}\n', "NUL character"),
    ("csv cell over the limit", "d.csv", f"input,output\n{LONG},positive\n".encode(), "131,072"),
    ("jsonl cell over the limit", "d.jsonl", f'{{"input": "{LONG}", "output": "positive"}}\n'.encode(), "131,072"),
    ("jsonl nested 100,000 deep", "d.jsonl", b"[" * 100_000 + b"]" * 100_000 + b"\n", "nested too deeply"),
    ("jsonl object nested deep", "d.jsonl", b'{"input": ' + b"[" * 50_000 + b"]" * 50_000 + b', "output": "x"}\n',
     "nested too deeply"),
    ("empty file", "d.csv", b"", "The submitted file is empty"),
    ("header only", "d.csv", b"input,output\n", "no examples"),
    ("jsonl of blank lines", "d.jsonl", b"\n\n\n", "no examples"),
    ("jsonl output is a list", "d.jsonl", b'{"input": "a", "output": ["positive"]}\n', '"output" a string or number'),
    ("jsonl output is a bool", "d.jsonl", b'{"input": "a", "output": true}\n', '"output" a string or number'),
    ("jsonl input missing", "d.jsonl", b'{"text": "a", "output": "positive"}\n', 'with "input" and "output"'),
    ("latin-1 csv", "d.csv", "input,output\ncafé,positive\n".encode("latin-1"), "not UTF-8"),
    ("no extension", "data", b"input,output\na,positive\n", "Upload a .csv"),
    ("label outside the set", "d.csv", b"input,output\na,maybe\n", "not one of the task's labels"),
]


def _messages(response):
    return [str(m) for m in response.context["messages"]]


@pytest.mark.django_db
@pytest.mark.parametrize("case,name,content,needle", UPLOADS, ids=[u[0] for u in UPLOADS])
def test_bad_upload_is_explained_and_stores_nothing(client_in, task, case, name, content, needle):
    before = list(task.examples.values_list("id", "input", "output"))
    response = client_in.post(f"/tasks/{task.pk}/import/",
                              {"file": SimpleUploadedFile(name, content), "split": "pool", "replace": "on"})
    assert response.status_code == 302
    msgs = _messages(client_in.get(response["Location"]))
    assert any("Nothing was imported" in m and needle in m for m in msgs), msgs
    assert list(task.examples.values_list("id", "input", "output")) == before


@pytest.mark.django_db
def test_an_upload_over_the_limit_is_stopped_while_streaming(client_in, task, settings):
    settings.LAB_MAX_UPLOAD_BYTES = 64 * 1024
    before = task.examples.count()
    content = b"input,output\n" + b"a long line of text,positive\n" * 5000  # ~150 KB
    response = client_in.post(f"/tasks/{task.pk}/import/", {"file": SimpleUploadedFile("big.csv", content),
                                                            "split": "pool"})
    msgs = _messages(client_in.get(response["Location"]))
    assert any("Nothing was imported" in m and "larger than" in m for m in msgs), msgs
    assert task.examples.count() == before


@pytest.mark.django_db
def test_the_examples_quota_is_kept_by_imports_and_single_adds(client_in, task, settings):
    settings.LAB_MAX_EXAMPLES_PER_TASK = task.examples.count() + 1
    rows = "input,output\n" + "".join(f"row {i},positive\n" for i in range(3))
    response = client_in.post(f"/tasks/{task.pk}/import/", {"file": SimpleUploadedFile("d.csv", rows.encode()),
                                                            "split": "pool"})
    msgs = _messages(client_in.get(response["Location"]))
    assert any("at most" in m and "examples" in m for m in msgs), msgs
    assert task.examples.count() == settings.LAB_MAX_EXAMPLES_PER_TASK - 1
    client_in.post(f"/tasks/{task.pk}/examples/add/", {"input": "one more", "output": "positive", "split": "pool"})
    assert task.examples.count() == settings.LAB_MAX_EXAMPLES_PER_TASK
    response = client_in.post(f"/tasks/{task.pk}/examples/add/", {"input": "too many", "output": "positive", "split": "pool"})
    assert any("at most" in m for m in _messages(client_in.get(response["Location"])))
    assert task.examples.count() == settings.LAB_MAX_EXAMPLES_PER_TASK


@pytest.mark.django_db
def test_copying_a_task_whose_name_has_the_maximum_length(client_in, user):
    from webapp.lab.models import Task

    from .conftest import make_task

    src = make_task(user, name="n" * Task._meta.get_field("name").max_length)
    first = client_in.post(f"/tasks/{src.pk}/copy/")
    second = client_in.post(f"/tasks/{src.pk}/copy/")
    assert first.status_code == second.status_code == 302
    names = sorted(Task.objects.filter(owner=user).exclude(pk=src.pk).values_list("name", flat=True))
    assert len(names) == 2 and all(len(n) <= 120 for n in names)
    assert names[0].endswith("… (copy)") and names[1].endswith("… (copy 2)")


@pytest.mark.django_db
def test_a_form_too_large_for_the_server_gets_413_with_the_fix(client_in, user):
    from webapp.lab.models import Task

    response = client_in.post("/tasks/new/", {"name": "huge", "description": "d" * 3_000_000,
                                              "kind": "classification", "input_template": "{x}",
                                              "answer_parser": "plain", "labels_text": "a, b"})
    assert response.status_code == 413
    assert "Shorten the long field" in response.content.decode()
    assert not Task.objects.filter(name="huge").exists()


@pytest.mark.django_db
def test_a_long_description_is_a_field_error(client_in):
    from webapp.lab.models import Task

    response = client_in.post("/tasks/new/", {"name": "long", "description": "d" * 20_001,
                                              "kind": "classification", "input_template": "{x}",
                                              "answer_parser": "plain", "labels_text": "a, b"})
    assert response.status_code == 200
    assert "at most 20000 characters" in response.context["form"].errors["description"][0]
    assert not Task.objects.filter(name="long").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("query", [
    "eval_task=sentiment&n=999&seed=0", "eval_task=sentiment&n=4&seed=77", "eval_task=nope&n=4&seed=0",
    "eval_task=" + "x" * 5000 + "&n=4&seed=0",
])
def test_per_example_json_refuses_parameters_of_no_run_and_caches_nothing(client_in, user, query):
    from django.core.cache import cache

    from webapp.lab.models import Run

    from workers.engine.plan import RunKey

    from .conftest import fake_result, make_sft_experiment

    exp = make_sft_experiment(user)
    run = Run.objects.create(experiment=exp, method="sft", n=4, seed=0, state=Run.DONE)
    from webapp.lab.services.results import store_results

    store_results(run, [fake_result(RunKey("sft", 4, 0), exp.train_task.name)])
    keys_before = set(cache._cache.keys())
    response = client_in.get(f"/experiments/{exp.pk}/examples.json?{query}")
    assert response.status_code == 404 and "choose one listed in results.json" in response.json()["error"]
    assert set(cache._cache.keys()) == keys_before
    ok = client_in.get(f"/experiments/{exp.pk}/examples.json?eval_task={exp.train_task.name}&n=4&seed=0")
    assert ok.status_code == 200 and len(set(cache._cache.keys())) == len(keys_before) + 1
