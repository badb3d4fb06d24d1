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
