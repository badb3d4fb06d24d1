"""The prompt preview comes from the engine's own prompt builder through
tasks/<pk>/preview.json: what a user previews is byte for byte what the engine feeds the
model (checked against the prompts a real engine run hands to the model), and no prompt
format is written anywhere else (the browser only fetches)."""
from pathlib import Path

import pytest

from webapp.lab.models import Example, Task

from .conftest import make_task

ROOT = Path(__file__).resolve().parents[2]


def _preview(client, task, **params):
    return client.get(f"/tasks/{task.pk}/preview.json", params)


@pytest.mark.django_db
def test_preview_json_is_the_engine_format(client_in, user):
    task = make_task(user, n=3)  # example 0 positive, 1 negative, 2 positive
    body = _preview(client_in, task, index=2, k=2).json()
    assert body["icl"] == ("Text:example 0\nLabel:positive\n\nText:example 2\nLabel:positive\n\n"
                           "Text:example 1\nLabel:")
    assert body["sft"] == "Text:example 1\nLabel:negative"
    # an unsaved template edit is previewed as typed (no escape processing: the engine has none)
    body = _preview(client_in, task, index=1, k=1, template="Q: {x} =>").json()
    assert body["icl"] == "Q: example 1 =>negative\n\nQ: example 0 =>" and body["sft"] == "Q: example 0 =>positive"


@pytest.mark.django_db
@pytest.mark.parametrize("params,field,needle", [
    ({"index": 0, "k": 1}, "index", "between 1 and 3"),
    ({"index": 4, "k": 1}, "index", "between 1 and 3"),
    ({"index": "x", "k": 1}, "index", "whole number"),
    ({"index": 1, "k": "x"}, "k", "whole number"),
    ({"index": 1, "k": -1}, "k", "negative"),
    ({"index": 1, "k": 1, "template": "no placeholder"}, "template", "{x}"),
])
def test_bad_preview_parameters_name_the_field(client_in, user, params, field, needle):
    task = make_task(user, n=3)
    resp = _preview(client_in, task, **params)
    assert resp.status_code == 400
    assert resp.json()["field"] == field and needle in resp.json()["error"]


@pytest.mark.django_db
def test_preview_of_another_users_task_is_404(client_in, other_user):
    assert _preview(client_in, make_task(other_user, name="theirs"), index=1, k=1).status_code == 404


def test_no_prompt_format_outside_the_engine():
    """The browser asks the server; the web app calls the engine's builder (no separators,
    no template filling of its own)."""
    js = (ROOT / "static/lab/preview.js").read_text()
    assert "\\n\\n" not in js and "{x}" not in js and ".join(" not in js
    for path in (ROOT / "webapp").rglob("*.py"):
        text = path.read_text()
        assert '"\\n\\n".join' not in text and 'replace("{x}"' not in text, path
    assert not (ROOT / "webapp/lab/services/prompts.py").exists()


@pytest.mark.slow
@pytest.mark.django_db
def test_preview_is_byte_for_byte_what_the_engine_feeds_the_model(client_in, user, monkeypatch):
    """Run the engine's ICL work on the embedded model, record the prompts it hands to the
    model, rebuild one of them as a task in the app and preview it."""
    from workers.engine import icl_work, runner, tasks
    from workers.engine.plan import RunKey

    built, fed = [], []
    real_prompt, real_pass = icl_work.icl_prompt, icl_work.answer_pass

    def spy_prompt(demo_task, demos, query_task, x):
        out = real_prompt(demo_task, demos, query_task, x)
        built.append((demo_task, list(demos), x, out))
        return out

    def spy_pass(lm, prompts, *a, **k):
        fed.extend(prompts)
        return real_pass(lm, prompts, *a, **k)

    monkeypatch.setattr(icl_work, "icl_prompt", spy_prompt)
    monkeypatch.setattr(icl_work, "answer_pass", spy_pass)
    pack = tasks.builtin_tasks()[0]
    config = {"task": pack, "methods": ["icl"], "n": [4], "seeds": [0], "eval_size": 6, "similarity_size": 0}
    runner.execute_run(config, RunKey("icl", 4, 0), cache_dir=None)
    assert built and fed
    demo_task, demos, x, prompt = built[-1]  # an evaluation query with its seeded demonstrations
    assert prompt in fed, "the recorded prompt is what the model was given"
    query = next(e for e in demo_task.examples + demo_task.eval_examples if e.input == x)
    task = Task.objects.create(owner=user, name="replay", kind=pack["kind"], labels=pack.get("labels", []),
                               input_template=demo_task.input_template)
    Example.objects.bulk_create(Example(task=task, position=i, input=e.input, output=e.output)
                                for i, e in enumerate([*demos, query]))
    body = _preview(client_in, task, index=len(demos) + 1, k=len(demos)).json()
    assert body["icl"].encode() == prompt.encode()
