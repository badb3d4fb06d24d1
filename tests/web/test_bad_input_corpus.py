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
    ("jsonl lone surrogate", "d.jsonl", b'{"input": "a\\ud800", "output": "positive"}\n', "lone surrogate"),
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
    from webapp.lab.services.results import store_results
    from workers.engine.plan import RunKey

    from .conftest import fake_result, make_run, make_sft_experiment

    exp = make_sft_experiment(user)
    run = make_run(exp, state=Run.DONE)
    store_results(run, [fake_result(RunKey("sft", 4, 0), exp.train_task.name)])
    keys_before = set(cache._cache.keys())
    response = client_in.get(f"/experiments/{exp.pk}/examples.json?{query}")
    assert response.status_code == 404 and "choose one listed in results.json" in response.json()["error"]
    assert set(cache._cache.keys()) == keys_before
    ok = client_in.get(f"/experiments/{exp.pk}/examples.json?eval_task={exp.train_task.name}&n=4&seed=0")
    assert ok.status_code == 200 and len(set(cache._cache.keys())) == len(keys_before) + 1


# --- the corpus over every form, upload, JSON endpoint and URL parameter ---------------
#
# One row per bad input: (id, method, url, data, status, field, says). `url` and `data` may
# name the world's objects in braces ({task}, {exp}, ...). A 200 answer must carry a form
# error on `field` containing every string of `says`; a redirect must carry a message
# containing them all (the message names the field and the fix); a JSON answer must name
# `field` and contain them; a 404 must just be a 404. Every row checks that the database
# is exactly as before (nothing stored, nothing half stored) and that nothing answered 500.

OK_TASK = {"name": "new task", "description": "", "kind": "classification", "input_template": "{x}",
           "answer_parser": "plain", "labels_text": "a, b"}
OK_EDIT = {"name": "sentiment", "description": "", "kind": "classification", "input_template": "Text:{x}\nLabel:",
           "answer_parser": "plain", "labels_text": "positive\nnegative"}
OK_EXAMPLE = {"input": "a new example", "output": "positive", "split": "pool"}
OK_HUB = {"dataset_id": "stanfordnlp/sst2", "config": "", "split": "train", "input_column": "sentence",
          "output_column": "label", "limit": "50"}
OK_SIGNUP = {"username": "carol", "password1": "a long enough pass 42", "password2": "a long enough pass 42"}


def _task(**over):
    return ("post", "/tasks/new/", {**OK_TASK, **over})


def _edit(**over):
    return ("post", "/tasks/{task}/edit/", {**OK_EDIT, **over})


def _example_add(**over):
    return ("post", "/tasks/{task}/examples/add/", {**OK_EXAMPLE, **over})


def _example_edit(**over):
    return ("post", "/tasks/{task}/examples/{example}/edit/", {**OK_EXAMPLE, **over})


def _hub(**over):
    return ("post", "/tasks/{task}/import-hub/", {**OK_HUB, **over})


def _exp(**over):
    return ("post", "/experiments/new/", {"__experiment__": True, **over})


def _upload(name, content, **over):
    return ("post", "/tasks/{task}/import/", {"file": (name, content), "split": "pool", **over})


def _signup(**over):
    return ("post", "/accounts/signup/", {**OK_SIGNUP, **over})


CORPUS = [
    # task form: every field
    ("task name empty", *_task(name=""), 200, "name", ["required"]),
    ("task name blank", *_task(name="   "), 200, "name", ["required"]),
    ("task name too long", *_task(name="n" * 121), 200, "name", ["at most 120"]),
    ("task name with NUL", *_task(name="a\x00b"), 200, "name", ["null characters"]),
    ("task name taken", *_task(name="sentiment"), 200, "name", ["pick another"]),
    ("task kind unknown", *_task(kind="regression"), 200, "kind", ["valid choice"]),
    ("task template without {x}", *_task(input_template="Text: Label:"), 200, "input_template", ["{x}"]),
    ("task template empty, no model", *_task(input_template=""), 200, "input_template", ["{x}", "choose a model"]),
    ("task template too long", *_task(input_template="{x}" + "t" * 2_000), 200, "input_template",
     ["the limit is 2,000"]),
    ("task parser unknown", *_task(answer_parser="regex"), 200, "answer_parser", ["valid choice"]),
    ("task one label", *_task(labels_text="only"), 200, "labels_text", ["at least two"]),
    ("task duplicate labels", *_task(labels_text="a, b, a"), 200, "labels_text", ["once"]),
    ("task no labels", *_task(labels_text=""), 200, "labels_text", ["label set"]),
    ("task label too long", *_task(labels_text="a, " + "b" * 201), 200, "labels_text", ["200 characters"]),
    ("task too many labels", *_task(labels_text="\n".join(f"l{i}" for i in range(501))), 200, "labels_text",
     ["at most 500"]),
    ("task template model unknown", *_task(for_model="gpt-9"), 200, "for_model", ["valid choice"]),
    ("task description too long", *_task(description="d" * 20_001), 200, "description", ["at most 20000"]),
    # editing a task: its examples must still fit
    ("edit: labels drop one in use", *_edit(labels_text="positive\nneutral"), 200, "labels_text",
     ["#2", '"negative"', "edit or delete"]),
    ("edit: generation task becomes classification", "post", "/tasks/{gen}/edit/",
     {**OK_EDIT, "name": "gen", "labels_text": "yes, no"}, 200, "labels_text", ["#1", "edit or delete"]),
    ("edit: name of another task", *_edit(name="gen"), 200, "name", ["pick another"]),
    ("edit: template without {x}", *_edit(input_template="nothing"), 200, "input_template", ["{x}"]),
    ("edit: template too long", *_edit(input_template="{x}" * 1_000), 200, "input_template", ["the limit is 2,000"]),
    # one example
    ("example input empty", *_example_add(input=""), 302, None, ["Example not added", "input", "required"]),
    ("example output empty", *_example_add(output=""), 302, None, ["Example not added", "output", "required"]),
    ("example output not a label", *_example_add(output="maybe"), 302, None, ["output", "one of the task's labels"]),
    ("example split unknown", *_example_add(split="train"), 302, None, ["split", "valid choice"]),
    ("example input with NUL", *_example_add(input="a\x00b"), 302, None, ["input", "null characters"]),
    ("example input too long", *_example_add(input=LONG), 302, None, ["input", "at most 131072"]),
    ("example edit: output not a label", *_example_edit(output="maybe"), 200, "output", ["one of the task's labels"]),
    ("example edit: input empty", *_example_edit(input=""), 200, "input", ["required"]),
    ("example edit: split unknown", *_example_edit(split="x"), 200, "split", ["valid choice"]),
    ("example edit: output too long", *_example_edit(output=LONG), 200, "output", ["at most 131072"]),
    # file imports beyond UPLOADS above
    ("import without a file", "post", "/tasks/{task}/import/", {"split": "pool"}, 302, None,
     ["Nothing was imported", "file", "Choose a .csv"]),
    ("import split unknown", *_upload("d.csv", b"input,output\na,positive\n", split="train"), 302, None,
     ["Nothing was imported", "split", "valid choice"]),
    ("csv without an output column", *_upload("d.csv", b"input,label\na,positive\n"), 302, None,
     ["Nothing was imported", "columns input,output"]),
    ("csv row with extra cells", *_upload("d.csv", b"input,output\na,positive,extra\n"), 302, None,
     ["Line 2", "quote cells"]),
    ("csv output cell empty", *_upload("d.csv", b"input,output\na,\n"), 302, None, ["Line 2", "non-empty"]),
    ("csv unterminated quote", *_upload("d.csv", b'input,output\n"a,positive\n'), 302, None,
     ["Nothing was imported", "Line"]),
    ("jsonl invalid json", *_upload("d.jsonl", b'{"input": "a", "output": \n'), 302, None, ["Line 1", "not valid JSON"]),
    ("jsonl line is a list", *_upload("d.jsonl", b'["a", "positive"]\n'), 302, None,
     ["Line 1", 'object with "input" and "output"']),
    ("jsonl input blank", *_upload("d.jsonl", b'{"input": " ", "output": "positive"}\n'), 302, None,
     ["Line 1", "non-empty"]),
    ("utf-16 csv", *_upload("d.csv", "input,output\na,positive\n".encode("utf-16")), 302, None,
     ["Nothing was imported", "UTF-8"]),
    # hub import
    ("hub dataset id empty", *_hub(dataset_id=""), 302, None, ["Nothing was imported", "dataset id", "required"]),
    ("hub limit zero", *_hub(limit="0"), 302, None, ["Nothing was imported", "limit", "greater than or equal to 1"]),
    ("hub limit too large", *_hub(limit="1000000000"), 302, None, ["limit", "less than or equal to 5000"]),
    ("hub limit not a number", *_hub(limit="lots"), 302, None, ["limit", "whole number"]),
    ("hub dataset id too long", *_hub(dataset_id="d" * 201), 302, None, ["dataset id", "at most 200"]),
    ("hub preset of another task", "post", "/tasks/{task}/import-hub/", {"preset": "sst2"}, 302, None,
     ["is not the preset", "nothing was imported"]),
    ("hub import into a built-in task", "post", "/tasks/{builtin}/import-hub/", OK_HUB, 302, None,
     ["read-only", "make a copy"]),
    # the experiment form: every field
    ("experiment model empty", *_exp(model_name=""), 200, "model_name", ["required"]),
    ("experiment model too long", *_exp(model_name="m" * 301), 200, "model_name", ["at most 300"]),
    ("experiment model missing path", *_exp(model_name="/nonexistent/model-dir"), 200, "model_name",
     ["cannot be loaded on this server", "a Hugging Face id"]),
    ("experiment model a server folder", *_exp(model_name="/etc"), 200, "model_name",
     ["cannot be loaded on this server"]),
    ("experiment model a relative folder", *_exp(model_name="webapp/lab"), 200, "model_name",
     ["cannot be loaded on this server"]),
    ("experiment N not numbers", *_exp(n_values="four"), 200, "n_values", ["whole numbers"]),
    ("experiment N zero", *_exp(n_values="0"), 200, "n_values", ["at least 1"]),
    ("experiment N negative", *_exp(n_values="4,-2"), 200, "n_values", ["at least 1"]),
    ("experiment N empty", *_exp(n_values=""), 200, "n_values", ["required"]),
    ("experiment N larger than the pool", *_exp(n_values="1000"), 200, "n_values", ["lower N or add examples"]),
    ("experiment N astronomically large", *_exp(n_values="9" * 40), 200, "n_values", ["lower N"]),
    ("experiment seeds zero", *_exp(seeds="0"), 200, "seeds", ["greater than or equal to 1"]),
    ("experiment seeds too many", *_exp(seeds="21"), 200, "seeds", ["less than or equal to 20"]),
    ("experiment seeds not a number", *_exp(seeds="x"), 200, "seeds", ["whole number"]),
    ("experiment eval size zero", *_exp(eval_size="0"), 200, "eval_size", ["greater than or equal to 1"]),
    ("experiment eval size too large", *_exp(eval_size="5001"), 200, "eval_size", ["less than or equal to 5000"]),
    ("experiment similarity above eval size", *_exp(eval_size="20", similarity_size="21"), 200, "similarity_size",
     ["at most the eval size"]),
    ("experiment icl demos zero", *_exp(icl_demos="0"), 200, "icl_demos", ["greater than or equal to 1"]),
    ("experiment icl demos too many", *_exp(icl_demos="257"), 200, "icl_demos", ["less than or equal to 256"]),
    ("experiment lora r zero", *_exp(lora_r="0"), 200, "lora_r", ["greater than or equal to 1"]),
    ("experiment lora r too large", *_exp(lora_r="513"), 200, "lora_r", ["less than or equal to 512"]),
    ("experiment lora alpha zero", *_exp(lora_alpha="0"), 200, "lora_alpha", ["greater than or equal to 1"]),
    ("experiment adapter unknown", *_exp(adapter_type="prefix"), 200, "adapter_type", ["valid choice"]),
    ("experiment no method", *_exp(methods=[]), 200, "methods", ["required"]),
    ("experiment method unknown", *_exp(methods=["icl", "rlhf"]), 200, "methods", ["valid choice"]),
    ("experiment target modules empty", *_exp(target_modules=""), 200, "target_modules", ["required"]),
    ("experiment target modules with spaces", *_exp(target_modules="q proj"), 200, "target_modules",
     ["separated by commas"]),
    ("experiment target module not in the model", *_exp(target_modules="q_proj,c_attn"), 200, "target_modules",
     ["c_attn", "q_proj, k_proj, v_proj, o_proj"]),
    ("experiment train task missing", *_exp(train_task=""), 200, "train_task", ["required"]),
    ("experiment train task of another user", *_exp(train_task="{foreign}"), 404, None, []),
    ("experiment train task not an id", *_exp(train_task="abc"), 404, None, []),
    ("experiment eval task not an id", *_exp(eval_tasks=["1; drop table"]), 404, None, []),
    ("experiment eval task with one example", *_exp(eval_tasks=["{one}"]), 200, "eval_tasks",
     ["'one'", "evaluation set", "at least 2 examples"]),
    ("experiment train task without examples", *_exp(train_task="{empty}"), 200, "train_task",
     ["has no examples", "add or import"]),
    ("experiment submit key forged", *_exp(submit_key="not-a-key"), 200, "submit_key", ["reload the page"]),
    ("experiment name too long", *_exp(name="e" * 201), 200, "name", ["at most 200"]),
    # teams: create, invite, roles, membership, share links, switch, copy, move
    ("team name empty", "post", "/teams/", {"name": ""}, 200, "name", ["required"]),
    ("team name too long", "post", "/teams/", {"name": "t" * 121}, 200, "name", ["at most 120"]),
    ("invite unknown user", "post", "/teams/{team}/invite/", {"who": "nobody", "role": "viewer"}, 302, None,
     ['No user "nobody"', "sign up first"]),
    ("invite role unknown", "post", "/teams/{team}/invite/", {"who": "bob", "role": "admin"}, 302, None,
     ["username or e-mail", "role"]),
    ("invite nobody", "post", "/teams/{team}/invite/", {"who": "", "role": "viewer"}, 302, None,
     ["username or e-mail"]),
    ("invite a member again", "post", "/teams/{team}/invite/", {"who": "bob", "role": "editor"}, 302, None,
     ["already a member"]),
    ("invite into the personal space", "post", "/teams/{personal}/invite/", {"who": "bob", "role": "viewer"}, 403,
     None, []),
    ("role unknown", "post", "/teams/{team}/members/{bob_membership}/role/", {"role": "admin"}, 302, None,
     ["Choose a role", "owner, editor or viewer"]),
    ("demote the last owner", "post", "/teams/{team}/members/{my_membership}/role/", {"role": "viewer"}, 302, None,
     ["last owner", "make another member owner first"]),
    ("remove the last owner", "post", "/teams/{team}/members/{my_membership}/remove/", {}, 302, None,
     ["last owner", "make another member owner first"]),
    ("leave the personal space", "post", "/teams/{personal}/leave/", {}, 302, None, ["personal space"]),
    ("share expiry zero", "post", "/experiments/{exp}/share/", {"label": "x", "expires_in_days": "0"}, 302, None,
     ["Share link not created", "expiry", "from 1 to 3650"]),
    ("share expiry too long", "post", "/experiments/{exp}/share/", {"expires_in_days": "3651"}, 302, None,
     ["expiry", "from 1 to 3650"]),
    ("share expiry not a number", "post", "/experiments/{exp}/share/", {"expires_in_days": "soon"}, 302, None,
     ["expiry", "whole number"]),
    ("share label too long", "post", "/experiments/{exp}/share/", {"label": "l" * 121}, 302, None,
     ["Share link not created", "label", "at most 120"]),
    ("switch to a team that is not a number", "post", "/teams/switch/", {"team": "abc"}, 404, None, []),
    ("switch to no team", "post", "/teams/switch/", {}, 404, None, []),
    ("copy a task into a team that is not a number", "post", "/tasks/{task}/copy/", {"team": "x"}, 404, None, []),
    ("copy an experiment without a team", "post", "/experiments/{exp}/copy/", {}, 404, None, []),
    ("move a task into a foreign team", "post", "/tasks/{task}/move/", {"team": "{foreign_team}"}, 404, None, []),
    ("delete a task in use", "post", "/tasks/{task}/delete/", {}, 302, None, ["delete the experiment first"]),
    ("retry a finished run", "post", "/experiments/{exp}/runs/{done_run}/retry/", {}, 302, None,
     ["only a failed or cancelled run"]),
    ("cancel a finished run", "post", "/experiments/{exp}/runs/{done_run}/cancel/", {}, 302, None,
     ["already finished"]),
    # personal API tokens
    ("token name with NUL", "post", "/account/tokens/", {"name": "laptop\x00"}, 400, None, ["NUL", "plain text"]),
    # preview.json parameters
    ("preview index not a number", "get", "/tasks/{task}/preview.json", {"index": "first"}, 400, "index",
     ["whole number"]),
    ("preview k not a number", "get", "/tasks/{task}/preview.json", {"k": "many"}, 400, "k", ["whole number"]),
    ("preview index zero", "get", "/tasks/{task}/preview.json", {"index": "0"}, 400, "index", ["between 1 and 12"]),
    ("preview index past the pool", "get", "/tasks/{task}/preview.json", {"index": "13"}, 400, "index",
     ["between 1 and 12"]),
    ("preview index huge", "get", "/tasks/{task}/preview.json", {"index": "9" * 40}, 400, "index",
     ["between 1 and 12"]),
    ("preview k negative", "get", "/tasks/{task}/preview.json", {"k": "-1"}, 400, "k", ["negative"]),
    ("preview template without {x}", "get", "/tasks/{task}/preview.json", {"template": "no slot"}, 400, "template",
     ["{x}"]),
    ("preview of a task without examples", "get", "/tasks/{empty}/preview.json", {}, 400, "index",
     ["no pool examples", "add some"]),
    ("preview model missing path", "get", "/tasks/{task}/preview.json", {"model": "/nonexistent/x"}, 200, "model",
     ["cannot be loaded on this server"]),
    ("preview model a server folder", "get", "/tasks/{task}/preview.json", {"model": "/etc"}, 200, "model",
     ["cannot be loaded on this server"]),
    # examples.json parameters (page and share link)
    ("examples.json without parameters", "get", "/experiments/{exp}/examples.json", {}, 400, "eval_task",
     ["give eval_task, n and seed"]),
    ("examples.json n not a number", "get", "/experiments/{exp}/examples.json",
     {"eval_task": "sentiment", "n": "four", "seed": "0"}, 400, "n", ["whole number"]),
    ("examples.json seed not a number", "get", "/experiments/{exp}/examples.json",
     {"eval_task": "sentiment", "n": "4", "seed": "x"}, 400, "seed", ["whole number"]),
    ("examples.json n huge", "get", "/experiments/{exp}/examples.json",
     {"eval_task": "sentiment", "n": "9" * 30, "seed": "0"}, 404, "eval_task,n,seed", ["choose one listed in results.json"]),
    ("examples.json seed negative huge", "get", "/experiments/{exp}/examples.json",
     {"eval_task": "sentiment", "n": "4", "seed": "-" + "9" * 30}, 404, "eval_task,n,seed", ["choose one listed in results.json"]),
    ("share examples.json n not a number", "get", "/s/{token}/examples.json",
     {"eval_task": "sentiment", "n": "x", "seed": "0"}, 400, "n", ["whole number"]),
    ("share examples.json no such result", "get", "/s/{token}/examples.json",
     {"eval_task": "sentiment", "n": "8", "seed": "0"}, 404, "eval_task,n,seed", ["choose one listed in results.json"]),
    # sign-up
    ("sign-up username empty", *_signup(username=""), 200, "username", ["required"]),
    ("sign-up username taken", *_signup(username="alice"), 200, "username", ["already exists"]),
    ("sign-up username with spaces", *_signup(username="c arol!"), 200, "username", ["valid username"]),
    ("sign-up username too long", *_signup(username="u" * 151), 200, "username", ["at most 150"]),
    ("sign-up username a look-alike", *_signup(username="\u0430lice"), 200, "username",
     ["looks like an existing account"]),
    ("sign-up passwords differ", *_signup(password2="another long pass 42"), 200, "password2", ["didn"]),
    ("sign-up password too short", *_signup(password1="short1", password2="short1"), 200, "password2",
     ["too short", "at least 10"]),
    ("sign-up password too common", *_signup(password1="password123", password2="password123"), 200, "password2",
     ["too common"]),
    ("sign-up password all digits", *_signup(password1="1234509876", password2="1234509876"), 200, "password2",
     ["entirely numeric"]),
]

# URL parameters a page tolerates (a bad value falls back to a default): 200, nothing stored
TOLERATED = [
    ("task page: page not a number", "/tasks/{task}/", {"page": "last-ish"}),
    ("task page: negative page", "/tasks/{task}/", {"page": "-3"}),
    ("task page: search with NUL and 10 kB", "/tasks/{task}/", {"q": "a\x00" + "b" * 10_000}),
    ("new task: unknown model", "/tasks/new/", {"model": "<script>"}),
    ("new experiment: task not an id", "/experiments/new/", {"task": "abc"}),
    ("new experiment: clone of nothing", "/experiments/new/", {"clone": "999999"}),
    ("audit log: page not a number", "/teams/{team}/audit/", {"page": "x"}),
]


def _snapshot():
    """Every row of the project's tables (timestamps that move on their own, such as a share link's
    last opening, left out)."""
    from django.apps import apps
    from django.contrib.auth import get_user_model

    models = [*apps.get_app_config("lab").get_models(), *apps.get_app_config("teams").get_models(),
              get_user_model()]
    return {m.__name__: [{k: v for k, v in row.items() if k not in ("updated_at", "last_login", "last_opened_at")}
                         for row in m.objects.order_by("pk").values()] for m in models}


@pytest.fixture
def world(user, other_user, tmp_path):
    from webapp.lab.models import Run, Task
    from webapp.lab.services.results import store_results
    from webapp.teams import services
    from webapp.teams.models import Membership
    from workers.engine.plan import RunKey

    from .conftest import fake_result, make_run, make_sft_experiment, make_task

    exp = make_sft_experiment(user)
    run = make_run(exp, state=Run.DONE)
    store_results(run, [fake_result(RunKey("sft", 4, 0), exp.train_task.name)])
    task = exp.train_task
    team = services.create_team(user, "T")
    services.invite(user, team, "bob", Membership.VIEWER)
    link, token = services.create_share_link(user, exp, "reviewers")
    return {
        "task": task.pk, "exp": exp.pk, "done_run": run.pk, "example": task.examples.order_by("pk").first().pk,
        "gen": make_task(user, name="gen", kind="generation", labels=("alpha", "beta")).pk,
        "one": make_task(user, name="one", n=1).pk,
        "empty": make_task(user, name="empty", n=0).pk,
        "foreign": make_task(other_user, name="theirs").pk,
        "foreign_team": services.personal_team(other_user).pk,
        "builtin": Task.objects.create(name="builtin-sst2", builtin=True, kind="classification",
                                       labels=["positive", "negative"], hf_dataset="stanfordnlp/sst2").pk,
        "team": team.pk, "personal": services.personal_team(user).pk,
        "my_membership": Membership.objects.get(team=team, user=user).pk,
        "bob_membership": Membership.objects.get(team=team, user=other_user).pk,
        "token": token,
    }


def _fill(value, world):
    if isinstance(value, str):
        return value.format(**world) if "{" in value and "}" in value and "{x}" not in value else value
    if isinstance(value, list):
        return [_fill(v, world) for v in value]
    return value


def _request_data(data, world):
    from .conftest import experiment_post

    from webapp.lab.models import Task

    data = dict(data)
    if data.pop("__experiment__", False):
        data = {**experiment_post(Task.objects.get(pk=world["task"])), **data}
    out = {}
    for key, value in data.items():
        if key == "file":
            out[key] = SimpleUploadedFile(*value)
        else:
            out[key] = _fill(value, world)
    return out


def _feedback(client, response):
    """[(field or None, text)] of what the answer tells the user."""
    import html

    if response.status_code == 302:
        page = client.get(response["Location"])
        return [(None, str(m)) for m in page.context["messages"]] if page.context else []
    if "json" in response.get("Content-Type", ""):
        body = response.json()
        items = [(body.get("field"), body.get("error", ""))]
        readability = body.get("readability") or {}
        if readability.get("error"):
            items.append(("model", readability["error"]))
        return items
    items = []
    context = response.context
    if context is not None:
        try:
            form = context["form"]
        except KeyError:
            form = None
        if form is not None:
            items += [(field, str(e)) for field, errors in form.errors.items() for e in errors]
    items.append((None, html.unescape(response.content.decode(errors="replace"))))
    return items


@pytest.mark.django_db
@pytest.mark.parametrize("case", CORPUS, ids=[c[0] for c in CORPUS])
def test_bad_input_corpus(client_in, world, settings, case):
    name, method, url, data, status, field, says = case
    settings.LAB_ALLOW_SIGNUP = True
    client = client_in
    if url.startswith("/accounts/signup/"):
        client.logout()
    before = _snapshot()
    url = _fill(url, world)
    if method == "get":
        response = client.get(url, {k: _fill(v, world) for k, v in data.items()})
    else:
        response = client.post(url, _request_data(data, world))
    assert response.status_code == status, (response.status_code, response.content[:2000])
    if says:
        items = _feedback(client, response)
        matching = [text for f, text in items if (field is None or f == field)
                    and all(s.lower() in text.lower() for s in says)]
        assert matching, items
    assert _snapshot() == before, "the database changed"


@pytest.mark.django_db
@pytest.mark.parametrize("name,url,params", TOLERATED, ids=[t[0] for t in TOLERATED])
def test_tolerated_url_parameters(client_in, world, name, url, params):
    before = _snapshot()
    response = client_in.get(_fill(url, world), params)
    assert response.status_code == 200
    assert _snapshot() == before


def test_the_corpus_covers_at_least_sixty_cases():
    assert len(UPLOADS) + len(CORPUS) + len(TOLERATED) >= 60
