"""Management commands: built-in tasks (idempotent) and the demo user."""
import pytest
from django.test import RequestFactory
from django.contrib.auth import authenticate
from django.core.management import call_command

from webapp.lab.models import Task
from webapp.lab.services.builtin import engine_builtin_tasks


@pytest.mark.django_db
def test_load_builtin_tasks_is_idempotent():
    call_command("load_builtin_tasks")
    first = {t.name: (t.pk, t.examples.count()) for t in Task.objects.all()}
    call_command("load_builtin_tasks")
    assert {t.name: (t.pk, t.examples.count()) for t in Task.objects.all()} == first
    assert Task.objects.get(name="gsm8k").needs_hub and Task.objects.get(name="gsm8k").answer_parser == "gsm8k"
    for d in engine_builtin_tasks():
        task = Task.objects.get(name=d["name"], owner__isnull=True)
        assert task.builtin and task.held_out == bool(d.get("held_out")) and task.pool().count() == len(d["examples"])


@pytest.mark.django_db
def test_ensure_demo_user(monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "s3cret")
    call_command("ensure_demo_user")
    call_command("ensure_demo_user")
    assert authenticate(RequestFactory().post("/accounts/login/"), username="demo", password="s3cret") is not None


def test_builtin_tasks_exist_once_engine_is_there():
    tasks = engine_builtin_tasks()
    assert tasks and all("held_out" in t for t in tasks)
