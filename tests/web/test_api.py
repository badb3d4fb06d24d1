"""The REST API through the test client: each route family, the same validation and
messages as the pages' forms, pagination, permission rules beyond the access matrix,
all-or-nothing writes, and the served OpenAPI schema checked with a real validator."""
import io
import json
import re
import zipfile

import pytest
from django.test import Client

from webapp.api.services import create_token
from webapp.lab.models import Example, Experiment, Run, Task
from webapp.teams.services import personal_team

from .conftest import experiment_post, make_task
from .teams_world import build_world, finished_run


class Api:
    """A client that sends a personal token (a new one of `user`'s, named `name`, or the
    `token` given) and JSON bodies."""

    def __init__(self, user=None, name="tests", token=None):
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {token or create_token(user, name)[1]}"}

    def __call__(self, method, path, body=None, **kwargs):
        if body is None:
            return self.client.generic(method, "/api" + path, headers=self.headers, **kwargs)
        return self.client.generic(method, "/api" + path, json.dumps(body), content_type="application/json",
                                   headers=self.headers)

    def send(self, method, path, raw_json):
        """A body sent as given: JSON the test wrote by hand (lone surrogates, odd shapes)."""
        return self.client.generic(method, "/api" + path, raw_json, content_type="application/json",
                                   headers=self.headers)

    def get(self, path, **params):
        return self.client.get("/api" + path, params, headers=self.headers)

    def upload(self, path, name, content, **fields):
        from django.core.files.uploadedfile import SimpleUploadedFile

        return self.client.post("/api" + path, {"file": SimpleUploadedFile(name, content), **fields},
                                headers=self.headers)


@pytest.fixture
def api(user):
    return Api(user)


@pytest.fixture
def own_task(user):
    return make_task(user, name="own", team=personal_team(user))


EXAMPLES = [{"input": f"example {i}", "output": ["positive", "negative"][i % 2]} for i in range(12)]


# --- tasks and examples --------------------------------------------------------------

@pytest.mark.django_db
def test_task_create_with_examples_retrieve_update_delete(api, user):
    r = api("POST", "/tasks/", {"name": "sentiment", "labels": ["positive", "negative"],
                                "examples": EXAMPLES + [{"input": "held", "output": "positive", "split": "eval"}]})
    assert r.status_code == 201, r.content
    task = r.json()
    assert (task["n_pool"], task["n_eval"], task["team"]) == (12, 1, personal_team(user).pk)
    assert task["input_template"] == "Text:{x}\nLabel:"  # the page's empty form starts from it
    assert api.get(f"/tasks/{task['id']}/").json()["labels"] == ["positive", "negative"]
    r = api("PATCH", f"/tasks/{task['id']}/", {"description": "movie reviews", "input_template": "{x} "})
    assert r.status_code == 200 and r.json()["description"] == "movie reviews"
    assert Task.objects.get(pk=task["id"]).input_template == "{x} "  # kept as written (the embedded format)
    assert api("DELETE", f"/tasks/{task['id']}/").status_code == 204
    assert not Task.objects.filter(pk=task["id"]).exists()
    assert api.get(f"/tasks/{task['id']}/").status_code == 404


@pytest.mark.django_db
def test_a_bad_example_stores_nothing(api):
    bad = EXAMPLES[:3] + [{"input": "x", "output": "neutral"}]
    r = api("POST", "/tasks/", {"name": "sentiment", "labels": ["positive", "negative"], "examples": bad})
    assert r.status_code == 422
    assert r.json()["errors"] == {"examples[3].output": ["The output must be one of the task's labels: positive, "
                                                         "negative."]}
    assert not Task.objects.filter(name="sentiment").exists() and not Example.objects.exists()


@pytest.mark.django_db
def test_task_errors_are_the_task_forms(api, client_in):
    """The same bad task through the page and the API: the same messages on the same fields
    (the page's label box is `labels_text`; the API's field is `labels`)."""
    cases = [
        {"name": "a", "labels": ["only"], "input_template": "no placeholder"},
        {"name": "b", "labels": ["x", "x"], "input_template": "{x}"},
        {"name": "", "kind": "generation", "input_template": "{x}"},
    ]
    for body in cases:
        page = client_in.post("/tasks/new/", {"name": body["name"], "kind": body.get("kind", "classification"),
                                              "input_template": body["input_template"],
                                              "labels_text": "\n".join(body.get("labels", [])),
                                              "answer_parser": "plain"})
        expected = {("labels" if k == "labels_text" else k): list(v) for k, v in page.context["form"].errors.items()}
        r = api("POST", "/tasks/", body)
        assert r.status_code == 422 and r.json()["errors"] == expected, body
    page = client_in.post("/tasks/new/", {"name": "spaced", "kind": "classification", "input_template": "{x} ",
                                          "labels_text": "yes\nno", "answer_parser": "plain"})
    assert page.status_code == 302 and Task.objects.get(name="spaced").input_template == "{x} "
    api("POST", "/tasks/", {"name": "taken", "labels": ["a", "b"]})
    r = api("POST", "/tasks/", {"name": "taken", "labels": ["a", "b"]})
    assert r.json()["errors"] == {"name": ["This team already has a task with this name; pick another."]}


@pytest.mark.django_db
def test_examples_one_by_one_and_in_bulk(api, own_task):
    base = f"/tasks/{own_task.pk}/examples/"
    r = api("POST", base, {"input": "great film", "output": "positive", "split": "eval"})
    assert r.status_code == 201 and r.json()["split"] == "eval"
    ex = r.json()["id"]
    assert api("POST", base, {"input": "x", "output": "meh"}).json()["errors"] == {
        "output": ["The output must be one of the task's labels: positive, negative."]}
    r = api("POST", base + "bulk/", {"examples": [{"input": "a", "output": "positive"}, {"input": "b", "output": "negative"}]})
    assert r.status_code == 201 and len(r.json()) == 2
    before = own_task.examples.count()
    r = api("POST", base + "bulk/", {"examples": [{"input": "a", "output": "positive"}, {"input": "", "output": "negative"}]})
    assert r.status_code == 422 and "examples[1].input" in r.json()["errors"]
    assert own_task.examples.count() == before  # all or nothing
    assert api("PATCH", f"{base}{ex}/", {"output": "negative"}).json()["output"] == "negative"
    assert api("DELETE", f"{base}{ex}/").status_code == 204
    assert api("DELETE", f"{base}{ex}/").status_code == 404
    page = api.get(base, q="example 1", limit=2).json()  # "example 1", "example 10", "example 11"
    assert page["count"] == 3 and len(page["items"]) == 2 and page["next"] == 2


@pytest.mark.django_db
def test_import_csv_and_jsonl_with_the_pages_importer_and_limits(api, own_task, settings):
    path = f"/tasks/{own_task.pk}/import/"
    r = api.upload(path, "more.csv", b"input,output\nnice,positive\nbad,negative\n")
    assert r.status_code == 200 and r.json()["imported"] == 2 and r.json()["n_pool"] == 14
    r = api.upload(path, "held.jsonl", b'{"input": "ok", "output": "positive"}\n', split="eval", replace="true")
    assert r.json() == {"imported": 1, "split": "eval", "replaced": True, "n_pool": 14, "n_eval": 1}
    count = own_task.examples.count()
    for name, content, message in [
        ("x.csv", b"text,label\na,b\n", "The CSV header must have the columns input,output"),
        ("x.csv", b"input,output\nfine,positive\nodd,neutral\n", 'Example 2: output "neutral" is not one of'),
        ("x.jsonl", b'{"input": "a"}\n', 'Line 1: each line must be an object with "input" and "output".'),
        ("x.txt", b"a", "Upload a .csv file"),
    ]:
        r = api.upload(path, name, content)
        assert r.status_code == 422 and message in r.json()["errors"]["file"][0], (name, r.json())
    r = api.client.post("/api" + path, {"split": "pool"}, headers=api.headers)
    assert r.status_code == 422 and 'in the field "file"' in r.json()["errors"]["file"][0]
    settings.LAB_MAX_EXAMPLES_PER_TASK = count + 1
    r = api.upload(path, "x.csv", b"input,output\na,positive\nb,negative\n")
    assert r.status_code == 422 and "A task holds at most 16 examples" in r.json()["errors"]["file"][0]
    settings.LAB_MAX_UPLOAD_BYTES = 10
    r = api.upload(path, "x.csv", b"input,output\na,positive\n" * 10)
    assert r.status_code == 413 and "larger than" in r.json()["detail"]
    assert own_task.examples.count() == count  # nothing half stored


@pytest.mark.django_db
def test_a_task_used_by_an_experiment_is_not_deleted(api, user, own_task):
    exp = Experiment.objects.create(owner=user, team=own_task.team, train_task=own_task, methods=["sft"], n_values=[4])
    r = api("DELETE", f"/tasks/{own_task.pk}/")
    assert r.status_code == 409 and f"#{exp.pk}" in r.json()["detail"]
    assert Task.objects.filter(pk=own_task.pk).exists()


@pytest.mark.django_db
def test_task_list_pagination(api, user):
    for i in range(5):
        make_task(user, name=f"t{i}", n=1, team=personal_team(user))
    make_task(None, name="builtin-pack", builtin=True)
    first = api.get("/tasks/", limit=2).json()
    assert first["count"] == 6 and [t["name"] for t in first["items"]] == ["t0", "t1"] and first["next"] == 2
    last = api.get("/tasks/", limit=2, offset=4).json()
    assert [t["name"] for t in last["items"]] == ["t4", "builtin-pack"] and last["next"] is None
    assert api.get("/tasks/", builtin="true").json()["count"] == 1
    for params, field in (({"limit": 501}, "limit"), ({"limit": 0}, "limit"), ({"offset": -1}, "offset")):
        r = api.get("/tasks/", **params)
        assert r.status_code == 422 and field in r.json()["errors"], params


# --- experiments ----------------------------------------------------------------------

BAD_EXPERIMENTS = [  # (page form fields, API body fields)
    ({"n_values": "four"}, {"n_values": "four"}),
    ({"n_values": "4,0"}, {"n_values": [4, 0]}),
    ({"seeds": 0, "lora_r": 0}, {"seeds": 0, "lora_r": 0}),
    ({"eval_size": 10, "similarity_size": 20}, {"eval_size": 10, "similarity_size": 20}),
    ({"n_values": "64"}, {"n_values": [64]}),  # the pool is too small for N (the engine's rule)
    ({"methods": ["bogus"]}, {"methods": ["bogus"]}),
    ({"target_modules": "q proj"}, {"target_modules": "q proj"}),
    ({"adapter_type": "prefix"}, {"adapter_type": "prefix"}),
    ({"confirm_unreadable": ""}, {"confirm_unreadable": False}),  # the unreadable-text guard
    ({"submit_key": "xyz"}, {"submit_key": "xyz"}),
]


def _api_body(task, **over):
    body = {"name": "exp", "model_name": "embedded", "train_task": task.pk, "methods": ["icl", "sft"],
            "n_values": [4], "seeds": 1, "adapter_type": "lora", "lora_r": 8, "lora_alpha": 8,
            "target_modules": ["q_proj", "k_proj", "o_proj"], "eval_size": 20, "confirm_unreadable": True}
    body.update(over)
    return body


@pytest.mark.django_db
def test_experiment_errors_are_the_experiment_forms(api, client_in, own_task):
    """The same bad experiment through the page and the API: the form's errors, field for
    field and word for word, and nothing created."""
    for form_fields, body_fields in BAD_EXPERIMENTS:
        page = client_in.post("/experiments/new/", experiment_post(own_task, **form_fields))
        assert page.status_code == 200, form_fields
        expected = {k: list(v) for k, v in page.context["form"].errors.items()}
        assert expected, form_fields
        r = api("POST", "/experiments/", _api_body(own_task, **body_fields))
        assert r.status_code == 422, (body_fields, r.content)
        assert r.json()["errors"] == expected, body_fields
    assert not Experiment.objects.exists() and not Run.objects.exists()
    r = api("POST", "/experiments/", {"train_task": own_task.pk, "n_value": [4]})
    assert r.json()["errors"] == {"n_value": ["Unknown field: remove it (the API documentation at /api/docs lists "
                                              "the fields)."]}
    r = api("POST", "/experiments/", {"methods": ["icl"]})
    assert r.json()["errors"] == {"train_task": ["This field is required."]}
    r = api("POST", "/experiments/", [1, 2])
    assert r.status_code == 422 and r.json()["detail"]


@pytest.mark.django_db
def test_launch_idempotency_cancel_delete(api, user, own_task):
    key = "0123456789abcdef0123456789abcdef"
    r = api("POST", "/experiments/", _api_body(own_task, submit_key=key))
    assert r.status_code == 201, r.content
    exp = r.json()
    assert exp["runs"] == {"queued": 2, "running": 0, "done": 0, "failed": 0, "cancelled": 0, "total": 2}
    assert exp["team"] == own_task.team_id and exp["eval_tasks"] == [own_task.pk] and not exp["finished"]
    assert exp["n_values"] == [4] and exp["target_modules"] == ["q_proj", "k_proj", "o_proj"]
    again = api("POST", "/experiments/", _api_body(own_task, submit_key=key, name="other"))
    assert again.status_code == 200 and again.json()["id"] == exp["id"] and Experiment.objects.count() == 1
    listed = api.get("/experiments/").json()
    assert listed["count"] == 1 and listed["items"][0]["runs"]["total"] == 2
    assert api.get(f"/experiments/{exp['id']}/").json()["name"] == "exp"

    r = api("POST", f"/experiments/{exp['id']}/cancel/")
    assert r.json()["cancelling"] == 2 and r.json()["broker_reachable"] is True
    detail = api.get(f"/experiments/{exp['id']}/").json()
    assert detail["runs"]["cancelled"] == 2 and detail["finished"]
    assert api("DELETE", f"/experiments/{exp['id']}/").status_code == 204
    assert api.get(f"/experiments/{exp['id']}/").status_code == 404


@pytest.mark.django_db
def test_a_running_run_blocks_delete_until_it_stops(api, user, own_task):
    exp = api("POST", "/experiments/", _api_body(own_task)).json()
    Run.objects.filter(experiment_id=exp["id"], method="sft").update(state=Run.RUNNING)
    r = api("DELETE", f"/experiments/{exp['id']}/")
    assert r.status_code == 409 and "Cancelling 1 running run(s)" in r.json()["detail"]
    assert Experiment.objects.filter(pk=exp["id"]).exists()
    assert Run.objects.get(experiment_id=exp["id"], method="sft").cancel_requested


@pytest.mark.django_db
def test_validate_estimates_and_launches_nothing(api, own_task):
    r = api("POST", "/experiments/validate/", _api_body(own_task))
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["valid"] and body["runs"] == 2 and body["estimate"]
    assert not Experiment.objects.exists()
    assert api("POST", "/experiments/validate/", _api_body(own_task, seeds=0)).status_code == 422


# --- runs, predictions, adapters, results -----------------------------------------------

@pytest.fixture
def finished(user):
    task = make_task(user, name="t", team=personal_team(user))
    exp = Experiment.objects.create(owner=user, team=task.team, train_task=task, methods=["icl", "sft"], n_values=[4])
    exp.eval_tasks.set([task])
    sft = finished_run(exp, task, "sft", accuracy=0.75)
    icl = finished_run(exp, task, "icl", accuracy=0.5)
    queued = Run.objects.create(experiment=exp, method="sft", n=4, seed=1)
    return exp, sft, icl, queued


@pytest.mark.django_db
def test_runs_metrics_similarity_predictions_adapter(api, finished, client_in):
    exp, sft, icl, queued = finished
    runs = api.get(f"/experiments/{exp.pk}/runs/").json()
    assert runs["count"] == 3 and [r["state"] for r in runs["items"]] == ["done", "done", "queued"]
    assert api.get(f"/experiments/{exp.pk}/runs/", state="queued").json()["count"] == 1
    run = api.get(f"/experiments/{exp.pk}/runs/{sft.pk}/").json()
    assert run["progress"] == 1.0 and run["attempts"] == 0 and run["error"] == ""
    (m,) = run["metrics"]
    assert (m["eval_task"], m["accuracy"], m["ece"], m["mean_similarity"]) == ("t", 0.75, 0.1, 0.9)
    assert m["layers"] == [{"layer": 0, "cosine": 0.9, "cka": 0.8}, {"layer": 1, "cosine": 0.9, "cka": 0.8}]
    assert run["adapter"] == f"/api/experiments/{exp.pk}/runs/{sft.pk}/adapter.zip"
    assert run["artifacts"] == [{"kind": "adapter", "size": 7, "sha256": "0" * 64}]
    assert api.get(f"/experiments/{exp.pk}/runs/{icl.pk}/").json()["adapter"] is None

    preds = api.get(f"/experiments/{exp.pk}/runs/{sft.pk}/predictions/", limit=3).json()
    assert preds["count"] == 4 and preds["next"] == 3 and [p["index"] for p in preds["items"]] == [0, 1, 2]
    assert preds["items"][0] == {"eval_task": "t", "index": 0, "input": "example 0", "gold": "positive",
                                 "predicted": "positive", "confidence": 0.7, "correct": True, "label_probs": None}
    assert api.get(f"/experiments/{exp.pk}/runs/{sft.pk}/predictions/", correct="false").json()["count"] == 0
    assert api.get(f"/experiments/{exp.pk}/runs/{sft.pk}/predictions/", eval_task="other").json()["count"] == 0

    zipped = api.get(f"/experiments/{exp.pk}/runs/{sft.pk}/adapter.zip")
    assert zipped.status_code == 200 and zipped["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(b"".join(zipped.streaming_content))) as zf:
        assert zf.read("adapter_model.safetensors") == b"weights"
    for run_id, reason in ((icl.pk, "trained no adapter"), (queued.pk, "is queued")):
        r = api.get(f"/experiments/{exp.pk}/runs/{run_id}/adapter.zip")
        assert r.status_code == 404 and reason in r.json()["detail"]

    # the results are the page's results.json, byte for byte
    results = api.get(f"/experiments/{exp.pk}/results/")
    assert results.status_code == 200
    assert results.json() == client_in.get(f"/experiments/{exp.pk}/results.json").json()
    assert {row["method"] for row in results.json()["summary"]} == {"icl", "sft"}


@pytest.mark.django_db
def test_run_cancel_and_retry(api, finished):
    exp, sft, _, queued = finished
    path = f"/experiments/{exp.pk}/runs/{queued.pk}/"
    r = api("POST", path + "cancel/")
    assert r.json() == {"changed": True, "state": "cancelled", "detail": "Cancelling sft N=4 seed=1."}
    assert api("POST", path + "cancel/").json()["changed"] is False
    assert api("POST", path + "retry/").json()["state"] == "queued"
    r = api("POST", f"/experiments/{exp.pk}/runs/{sft.pk}/retry/")
    assert r.status_code == 409 and "only a failed or cancelled run can be retried" in r.json()["detail"]


# --- permission rules -------------------------------------------------------------------

@pytest.mark.django_db
def test_lists_hold_only_the_users_teams_and_roles_are_enforced():
    w = build_world()
    outsider, viewer, editor = (Api(w.users[r]) for r in ("outsider", "viewer", "editor"))
    exp, task, team = w.objects["exp"], w.objects["task"], w.objects["team"]
    assert [e["id"] for e in outsider.get("/experiments/").json()["items"]] == [w.objects["u_exp"].pk]
    assert task.pk not in [t["id"] for t in outsider.get("/tasks/").json()["items"]]
    assert exp.pk in [e["id"] for e in viewer.get("/experiments/").json()["items"]]
    # a foreign team or task in the body is "no such object", whoever sends it
    assert outsider("POST", "/tasks/", {"team": team.pk, "name": "x", "labels": ["a", "b"]}).status_code == 404
    count = Experiment.objects.count()
    r = outsider("POST", "/experiments/", _api_body(task))
    assert r.status_code == 404 and Experiment.objects.count() == count
    r = editor("POST", "/experiments/", _api_body(w.objects["u_task"], team=team.pk))
    assert r.status_code == 404
    # a viewer reads but cannot change: 403 with the reason
    r = viewer("POST", "/experiments/", _api_body(task, team=team.pk))
    assert r.status_code == 403 and r.json()["detail"] == "Your role in this team cannot launch this."
    assert viewer("PATCH", f"/tasks/{task.pk}/", {"name": "renamed"}).status_code == 403
    assert Task.objects.get(pk=task.pk).name == "t-task"
    # built-in tasks: readable, never writable
    builtin = w.objects["builtin"]
    assert editor.get(f"/tasks/{builtin.pk}/").status_code == 200
    r = editor("PATCH", f"/tasks/{builtin.pk}/", {"name": "mine"})
    assert r.status_code == 404 and "read-only" in r.json()["detail"]


# --- bad input, schema, docs ------------------------------------------------------------

@pytest.mark.django_db
def test_bad_input_is_a_4xx_json_answer(api, own_task):
    cases = [
        ("POST", "/tasks/", "{not json", 400), ("POST", "/tasks/", "[]", 422), ("POST", "/tasks/", "null", 422),
        ("POST", "/tasks/", '{"name": 5, "labels": "ab"}', 422), ("POST", "/experiments/", '{"seeds": [1]}', 422),
        ("PATCH", f"/tasks/{own_task.pk}/", '{"kind": "regression"}', 422),
        ("POST", f"/tasks/{own_task.pk}/examples/bulk/", '{"examples": []}', 422),
        ("GET", "/tasks/abc/", None, 404), ("GET", "/experiments/999999/", None, 404),
        ("GET", "/tasks/?limit=ten", None, 422), ("DELETE", "/experiments/", None, 405),
    ]
    for method, path, body, status in cases:
        kwargs = {"data": body, "content_type": "application/json"} if body is not None else {}
        r = api.client.generic(method, "/api" + path, headers=api.headers, **kwargs)
        assert r.status_code == status, (method, path, body, r.status_code, r.content[:300])
        if status != 405:
            assert r["Content-Type"].startswith("application/json") and r.json()["detail"], (path, body)
    r = api.client.post("/api/tasks/", '{"name": 5}', content_type="application/json", headers=api.headers)
    assert r.json()["errors"]["name"] == ["Input should be a valid string."]


def _no_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicate keys in the schema: {keys}"
    return dict(pairs)


@pytest.mark.django_db
def test_served_openapi_schema_is_valid(client):
    from openapi_spec_validator import validate

    from .test_access_matrix import all_routes

    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    spec = json.loads(response.content, object_pairs_hook=_no_duplicate_keys)  # Swagger UI refuses duplicates
    validate(spec)  # raises with the first violation of the OpenAPI 3.1 specification
    assert spec["components"]["securitySchemes"]["TokenAuth"] == {"type": "http", "scheme": "bearer"}
    documented = set(spec["paths"])
    served = {"/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", r) for r in all_routes()
              if r.startswith("api/") and r not in ("api/", "api/docs", "api/openapi.json")}
    assert served == documented
    create = spec["paths"]["/api/experiments/"]["post"]
    assert create["security"] == [{"TokenAuth": []}]  # writes: the token only
    assert {"TokenAuth", "SessionReadAuth"} <= {k for s in spec["paths"]["/api/tasks/"]["get"]["security"] for k in s}


@pytest.mark.django_db
def test_docs_page_runs_only_static_scripts(client):
    response = client.get("/api/docs")
    html = response.content.decode()
    assert response.status_code == 200 and "script-src 'self'" in response["Content-Security-Policy"]
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
    for attrs, body in scripts:  # a script either comes from /static/ or is JSON data, never run
        assert ('src="/static/' in attrs and not body.strip()) or 'type="application/json"' in attrs, attrs
    assert json.loads(re.search(r'id="swagger-settings">(.*?)</script>', html, flags=re.S).group(1))["validatorUrl"] is None
    assert not re.search(r'(src|href)="(https?:)?//', html)  # no external host
    for src in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        assert client.get(src).status_code == 200, src
