"""Task pages: CRUD, examples one by one, CSV/JSONL imports (all-or-nothing), hub import."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from webapp.lab.models import Example, Task

from .conftest import make_task


def _messages(resp):
    return [str(m) for m in resp.context["messages"]]


@pytest.mark.django_db
def test_login_required(client):
    resp = client.get("/tasks/")
    assert resp.status_code == 302 and "/accounts/login/" in resp["Location"]


@pytest.mark.django_db
def test_signup_and_login(client):
    resp = client.post("/accounts/signup/", {"username": "carol", "password1": "s3cret-pass",
                                             "password2": "s3cret-pass"})
    assert resp.status_code == 302
    assert client.get("/tasks/").status_code == 200


@pytest.mark.django_db
def test_create_edit_delete_task(client_in, user):
    resp = client_in.post("/tasks/new/", {"name": "topic", "description": "d", "kind": "classification",
                                          "input_template": "Text:{x}\r\nLabel:", "answer_parser": "plain",
                                          "labels_text": "sports\nworld"})
    task = Task.objects.get(name="topic")
    assert resp.status_code == 302 and task.owner == user and task.labels == ["sports", "world"]
    assert task.input_template == "Text:{x}\nLabel:"
    page = client_in.get(f"/tasks/{task.pk}/")  # no examples yet: the preview says what to do
    assert page.status_code == 200
    assert b"Add examples to see the exact prompts" in page.content and b'id="pv-controls"' not in page.content
    Example.objects.create(task=task, input="goal!", output="sports")
    page = client_in.get(f"/tasks/{task.pk}/").content.decode()
    assert f'id="pv-controls" data-url="/tasks/{task.pk}/preview.json"' in page and "Add examples to see" not in page
    client_in.post(f"/tasks/{task.pk}/edit/", {"name": "topic2", "description": "", "kind": "generation",
                                               "input_template": "Q:{x}\nA:", "answer_parser": "gsm8k",
                                               "labels_text": ""})
    task.refresh_from_db()
    assert task.name == "topic2" and task.kind == "generation" and task.labels == []
    client_in.post(f"/tasks/{task.pk}/delete/")
    assert not Task.objects.filter(pk=task.pk).exists()


@pytest.mark.django_db
def test_example_add_edit_delete(client_in, task):
    client_in.post(f"/tasks/{task.pk}/examples/add/", {"input": "great film", "output": "positive", "split": "pool"})
    ex = task.examples.get(input="great film")
    resp = client_in.post(f"/tasks/{task.pk}/examples/add/", {"input": "meh", "output": "maybe", "split": "pool"})
    assert any("one of the task's labels" in m for m in _messages(client_in.get(resp["Location"])))
    assert not task.examples.filter(input="meh").exists()
    client_in.post(f"/tasks/{task.pk}/examples/{ex.pk}/edit/", {"input": "bad film", "output": "negative",
                                                                 "split": "eval"})
    ex.refresh_from_db()
    assert (ex.input, ex.output, ex.split) == ("bad film", "negative", "eval")
    client_in.post(f"/tasks/{task.pk}/examples/{ex.pk}/delete/")
    assert not Example.objects.filter(pk=ex.pk).exists()


def _upload(client, task, name, content, **extra):
    f = SimpleUploadedFile(name, content.encode() if isinstance(content, str) else content)
    resp = client.post(f"/tasks/{task.pk}/import/", {"file": f, "split": "pool", **extra})
    return _messages(client.get(resp["Location"]))


@pytest.mark.django_db
def test_import_csv_and_jsonl(client_in, task):
    before = task.examples.count()
    msgs = _upload(client_in, task, "data.csv", 'input,output\n"hello, world",positive\nugh,negative\n')
    assert "Imported 2 examples" in msgs[0] and task.examples.filter(input="hello, world").exists()
    msgs = _upload(client_in, task, "data.jsonl", '{"input": "a", "output": "positive"}\n\n{"input": "b", "output": "negative"}\n')
    assert "Imported 2 examples" in msgs[0] and task.examples.count() == before + 4
    msgs = _upload(client_in, task, "data.jsonl", '{"input": "only", "output": "positive"}\n', replace="on")
    assert task.examples.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("name,content,needle", [
    ("bad.csv", "text,label\na,positive\n", "columns input,output"),
    ("bad.csv", "input,output\na,positive\nb,\n", "Line 3"),
    ("bad.csv", "input,output\na,positive,extra\n", "Line 2"),
    ("bad.jsonl", '{"input": "a", "output": "positive"}\n{"input": "b", "outp', "Line 2: not valid JSON"),
    ("bad.jsonl", '{"input": "a", "output": "positive"}\n["x"]\n', "Line 2"),
    ("bad.jsonl", '{"input": "a", "output": "positive"}\n{"input": "b", "output": "neutral"}\n', "not one of the task's labels"),
    ("bad.txt", "whatever", "Upload a .csv"),
    ("bad.csv", b"input,output\n\xff\xfe,x\n", "not UTF-8"),
])
def test_bad_files_import_nothing(client_in, task, name, content, needle):
    before = task.examples.count()
    msgs = _upload(client_in, task, name, content)
    assert any(needle in m and "Nothing was imported" in m for m in msgs), msgs
    assert task.examples.count() == before


@pytest.mark.django_db
def test_hub_import_says_offline(client_in, task):
    before = list(task.examples.values_list("input", "output"))
    resp = client_in.post(f"/tasks/{task.pk}/import-hub/", {"dataset_id": "stanfordnlp/sst2", "config": "",
                                                            "split": "train", "input_column": "sentence",
                                                            "output_column": "label", "limit": 10})
    msgs = _messages(client_in.get(resp["Location"]))
    assert any("cannot be reached" in m for m in msgs)
    assert list(task.examples.values_list("input", "output")) == before  # nothing changed


@pytest.mark.django_db
def test_builtin_is_read_only_and_copyable(client_in):
    shared = make_task(None, name="shared-pack", builtin=True)
    assert client_in.get(f"/tasks/{shared.pk}/edit/").status_code == 404
    assert client_in.post(f"/tasks/{shared.pk}/examples/add/", {"input": "x", "output": "positive"}).status_code == 404
    resp = client_in.post(f"/tasks/{shared.pk}/copy/")
    copy = Task.objects.get(name="shared-pack (copy)")
    assert resp.status_code == 302 and copy.owner is not None
    fields = ("position", "split", "input", "output")
    assert list(copy.examples.values_list(*fields)) == list(shared.examples.values_list(*fields))


@pytest.mark.django_db
def test_other_users_task_is_hidden(client_in, other_user):
    theirs = make_task(other_user, name="private")
    assert client_in.get(f"/tasks/{theirs.pk}/").status_code == 404
    assert b"private" not in client_in.get("/tasks/").content


@pytest.mark.django_db
def test_task_list_shows_presets(client_in):
    from django.core.management import call_command

    call_command("load_builtin_tasks")
    page = client_in.get("/tasks/").content.decode()
    assert "sst2" in page and "needs the Hugging Face hub" in page
