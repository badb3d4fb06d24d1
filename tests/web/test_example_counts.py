"""A task's stored example counts (Task.n_pool / n_eval, read by the task list, the task page
and the API instead of counting 100,000 rows per request) stay exact through every way
examples are written: the pages' add / edit / delete / file import / preset import / copy,
the API's create / bulk / update / delete / import, the built-in tasks' loader, and bulk
queryset writes; and each write bumps the version that cached renderings key on."""
import io

import pytest
from django.core.management import call_command

from webapp.lab.models import Example, Task
from webapp.teams.services import personal_team

from .conftest import make_task
from .test_api import Api
from .test_presets_web import _finsen_shards


def exact(task):
    """The stored counts equal the rows' real counts (and the version is returned)."""
    task = Task.objects.get(pk=task.pk)
    real = (Example.objects.filter(task=task, split=Example.POOL).count(),
            Example.objects.filter(task=task, split=Example.EVAL).count())
    assert (task.n_pool, task.n_eval) == real, (task.name, (task.n_pool, task.n_eval), real)
    return task.examples_version


@pytest.fixture
def task(user):
    return make_task(user, n=6, team=personal_team(user))


def test_pages_keep_the_counts(client_in, task, user):
    v = exact(task)
    assert (Task.objects.get(pk=task.pk).n_pool, v > 0) == (6, True)
    client_in.post(f"/tasks/{task.pk}/examples/add/", {"input": "a held-out one", "output": "positive",
                                                        "split": "eval"})
    v2 = exact(task)
    assert v2 > v and Task.objects.get(pk=task.pk).n_eval == 1
    ex = task.examples.filter(split=Example.POOL).first()
    client_in.post(f"/tasks/{task.pk}/examples/{ex.pk}/edit/", {"input": ex.input, "output": "negative",
                                                                "split": "eval"})
    assert exact(task) > v2 and Task.objects.get(pk=task.pk).n_eval == 2
    client_in.post(f"/tasks/{task.pk}/examples/{ex.pk}/delete/")
    exact(task)
    upload = io.BytesIO(b"input,output\nfirst,positive\nsecond,negative\nthird,positive\n")
    upload.name = "rows.csv"
    client_in.post(f"/tasks/{task.pk}/import/", {"file": upload, "split": "pool", "replace": "on"})
    exact(task)
    assert Task.objects.get(pk=task.pk).n_pool == 3
    client_in.post(f"/tasks/{task.pk}/copy/")
    copy = Task.objects.exclude(pk=task.pk).get(team=task.team, name__startswith=task.name)
    exact(copy)
    assert (copy.n_pool, copy.n_eval) == (3, 1)
    page = client_in.get("/tasks/").content.decode()
    assert f'href="/tasks/{copy.pk}/"' in page
    detail = client_in.get(f"/tasks/{task.pk}/").content.decode()
    assert "3 in the pool" in detail


def test_api_keeps_the_counts(user, task):
    api = Api(user)
    created = api("POST", "/tasks/", {"name": "via api", "labels": ["positive", "negative"],
                                      "examples": [{"input": "x", "output": "positive"},
                                                   {"input": "y", "output": "negative", "split": "eval"}]})
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["n_pool"], body["n_eval"]) == (1, 1)
    new = Task.objects.get(pk=body["id"])
    exact(new)
    base = f"/tasks/{task.pk}/examples/"
    assert api("POST", base, {"input": "one more", "output": "positive"}).status_code == 201
    bulk = api("POST", base + "bulk/", {"examples": [{"input": f"b{i}", "output": "negative", "split": "eval"}
                                                     for i in range(5)]})
    assert bulk.status_code == 201, bulk.content
    exact(task)
    assert Task.objects.get(pk=task.pk).n_eval == 5
    first = bulk.json()[0]["id"]
    assert api("PATCH", f"{base}{first}/", {"split": "pool"}).status_code == 200
    assert api("DELETE", f"{base}{bulk.json()[1]['id']}/").status_code == 204
    exact(task)
    assert (Task.objects.get(pk=task.pk).n_pool, Task.objects.get(pk=task.pk).n_eval) == (8, 3)
    imported = api.upload(f"/tasks/{task.pk}/import/", "more.jsonl",
                          b'{"input": "j1", "output": "positive"}\n{"input": "j2", "output": "negative"}\n',
                          split="eval", replace="true")
    assert imported.status_code == 200, imported.content
    assert (imported.json()["n_pool"], imported.json()["n_eval"]) == (8, 2)
    exact(task)
    listed = {t["id"]: t for t in api.get("/tasks/").json()["items"]}
    assert (listed[task.pk]["n_pool"], listed[task.pk]["n_eval"]) == (8, 2)


def test_builtin_loader_and_preset_import_keep_the_counts(client_in, user, tmp_path, settings):
    from webapp.teams.services import copy_task

    call_command("load_builtin_tasks", verbosity=0)
    for t in Task.objects.filter(team__isnull=True):
        exact(t)
    assert Task.objects.filter(team__isnull=True, needs_hub=False, n_pool__gt=0).exists()
    shared = Task.objects.get(owner__isnull=True, name="finsen")
    task = copy_task(user, shared, personal_team(user))
    settings.LAB_DATASETS_DIR = str(tmp_path)
    _finsen_shards(tmp_path)
    response = client_in.post(f"/tasks/{task.pk}/import-hub/", {"preset": "finsen"}, follow=True)
    assert "Loaded preset finsen" in response.content.decode()
    exact(task)
    assert Task.objects.get(pk=task.pk).n_pool > 0 and Task.objects.get(pk=task.pk).n_eval > 0


def test_bulk_queryset_writes_keep_the_counts(user, task):
    other = make_task(user, name="other", n=2, team=personal_team(user))
    Example.objects.filter(task=task, position__lt=2).update(split=Example.EVAL)
    exact(task)
    assert Task.objects.get(pk=task.pk).n_eval == 2
    Example.objects.filter(task=task, position=5).update(task=other)
    Example.objects.filter(task=other, position=0).update(task=task.pk)  # and back, by id
    exact(task)
    exact(other)
    assert (Task.objects.get(pk=task.pk).n_pool, Task.objects.get(pk=other.pk).n_pool) == (4, 2)
    Example.objects.filter(task__in=[task, other]).delete()
    exact(task)
    exact(other)
    assert Task.objects.get(pk=task.pk).n_eval == 0
    single = Example(task=task, input="saved alone", output="positive")
    single.save()
    exact(task)
    single.split = Example.EVAL
    single.save()
    exact(task)
    assert Task.objects.get(pk=task.pk).n_eval == 1
    single.delete()
    exact(task)


def test_the_migration_fills_counts_of_examples_stored_before_it(transactional_db):
    """Migrating an old database fills the counts of the examples it already holds."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("lab", "0013_example_page_indexes")])
    old = executor.loader.project_state([("lab", "0013_example_page_indexes")]).apps
    t = old.get_model("lab", "Task").objects.create(name="from before", labels=["a", "b"])
    old.get_model("lab", "Example").objects.bulk_create(
        [old.get_model("lab", "Example")(task=t, input=f"x{i}", output="a", split="eval" if i < 3 else "pool")
         for i in range(10)])
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    migrated = Task.objects.get(pk=t.pk)
    assert (migrated.n_pool, migrated.n_eval) == (7, 3)
