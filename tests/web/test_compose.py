"""docker-compose.yml and the Dockerfile (Docker Compose cannot run here): the file is
validated against the Compose specification's JSON schema (the copy check-jsonschema
vendors, licence beside it), then semantic checks compare the deployment with the code it
starts, not literals restated from the file.
Each check fails on a real mistake: a queue the app routes runs to that no worker serves,
a worker serving a queue the app does not declare, no scheduler or two (the periodic reaper
must run exactly once), a service started before a dependency that has no health check, an
undeclared volume, a command naming a module that does not exist."""
import importlib.util
import os
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _celery(cmd):
    """(app, queues, beat) of a `celery -A APP worker -Q a,b [-B]` command, else None."""
    if not cmd or cmd[0] != "celery" or "worker" not in cmd:
        return None
    queues = cmd[cmd.index("-Q") + 1].split(",") if "-Q" in cmd else ["celery"]
    return cmd[cmd.index("-A") + 1], set(queues), "-B" in cmd or "--beat" in cmd


def _compose_schema():
    import json
    from importlib import resources

    return json.loads(resources.files("check_jsonschema.builtin_schemas.vendor")
                      .joinpath("compose-spec.json").read_text())


def _schema_errors(doc):
    import jsonschema

    schema = _compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    return sorted(e.message for e in validator.iter_errors(doc))


def test_file_follows_the_compose_specification():
    assert _schema_errors(_compose()) == []


def test_schema_check_catches_a_wrong_file():
    """The same check on a copy with mistakes Compose itself would reject."""
    bad = _compose()
    bad["services"]["web"]["depends_on"] = {"postgres": {"condition": "service_happy"}}
    bad["services"]["redis"]["healthcheck"]["interval"] = ["5s"]
    assert len(_schema_errors(bad)) >= 2


def _workers():
    return {name: _celery(svc.get("command")) for name, svc in _compose()["services"].items()
            if _celery(svc.get("command"))}


def test_every_queue_the_app_uses_is_served_and_nothing_else():
    from webapp.celery_app import MAINTENANCE_QUEUE, app

    declared = {q.name for q in app.conf.task_queues}
    served = set().union(*(queues for _, queues, _ in _workers().values()))
    assert served == declared, f"served {served}, declared by webapp.celery_app {declared}"
    assert {"cpu", "gpu", MAINTENANCE_QUEUE} <= declared  # dispatch.queue_for / the reaper route here


def test_exactly_one_scheduler_runs_beat_and_it_serves_the_reaper_queue():
    from webapp.celery_app import MAINTENANCE_QUEUE

    beats = [name for name, (_, queues, beat) in _workers().items() if beat]
    assert len(beats) == 1, f"Celery beat must run exactly once, found {beats}"
    assert MAINTENANCE_QUEUE in _workers()[beats[0]][1]
    for name, (_, queues, _) in _workers().items():  # runs never wait behind a reaper pass
        assert not (MAINTENANCE_QUEUE in queues and queues & {"cpu", "gpu"}), name


def test_commands_name_real_modules():
    for name, svc in _compose()["services"].items():
        cmd = svc.get("command") or []
        if _celery(cmd):
            app = _celery(cmd)[0]
            assert importlib.util.find_spec(app) is not None, f"{name}: no module {app}"
        elif cmd[:2] == ["python", "-m"]:
            assert importlib.util.find_spec(cmd[2]) is not None, f"{name}: no module {cmd[2]}"


def test_dependencies_are_healthchecked_and_volumes_declared():
    compose = _compose()
    services = compose["services"]
    for name, svc in services.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            if cond.get("condition") == "service_healthy":
                assert services[dep].get("healthcheck", {}).get("test"), f"{dep} has no health check"
        for vol in svc.get("volumes") or []:
            src = vol.split(":")[0]
            if not src.startswith((".", "/")):
                assert src in (compose.get("volumes") or {}), f"{name}: volume {src} is not declared"


def test_app_services_share_database_redis_and_media():
    """Every service built from the app image sees the same DATABASE_URL, REDIS_URL and
    MEDIA_ROOT (workers write artifacts the web app serves), on a shared volume, and waits
    for the database and the broker it names."""
    services = _compose()["services"]
    app_services = {n: s for n, s in services.items() if s.get("build")}
    assert {"web"} | set(_workers()) <= set(app_services)
    envs = [s["environment"] for s in app_services.values()]
    for key in ("DATABASE_URL", "REDIS_URL", "MEDIA_ROOT"):
        assert len({e[key] for e in envs}) == 1, key
    for name, svc in app_services.items():
        hosts = {re.match(r"\w+://(?:[^@/]*@)?([^:/]+)", svc["environment"][k]).group(1)
                 for k in ("DATABASE_URL", "REDIS_URL")}
        assert hosts <= set(svc["depends_on"]), f"{name} does not wait for {hosts - set(svc['depends_on'])}"
        media = svc["environment"]["MEDIA_ROOT"]
        assert any(media.startswith(v.split(":")[1]) for v in svc["volumes"]), f"{name}: media not on a volume"


def test_gpu_worker_reserves_a_gpu_and_runs_one_job():
    for name, (_, queues, _) in _workers().items():
        svc = _compose()["services"][name]
        devices = (svc.get("deploy") or {}).get("resources", {}).get("reservations", {}).get("devices", [])
        cmd = svc["command"]
        if "gpu" in queues:
            assert any("gpu" in d.get("capabilities", []) for d in devices), name
            assert cmd[cmd.index("--concurrency") + 1] == "1", name
        else:
            assert not devices, f"{name} reserves a GPU it does not use"


def test_dockerfile_installs_the_pinned_requirements():
    text = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM python:(\d+\.\d+)", text, re.M)
    assert base, "the image is not built on a python base"
    assert "requirements.txt" in text and re.search(r"pip install[^\n]*-r requirements.txt", text)


def test_secret_key_has_no_fixed_default():
    """Every app service reads SECRET_KEY from the operator's environment with no fallback
    string: a shared default signs every install's sessions with one public key."""
    for name, svc in _compose()["services"].items():
        if not svc.get("build"):
            continue
        value = str(svc["environment"].get("SECRET_KEY", ""))
        fallback = re.fullmatch(r"\$\{SECRET_KEY(?::?[-?](.*))?\}", value)
        assert value == "" or fallback, f"{name}: SECRET_KEY is fixed to {value!r}"
        default = fallback.group(1) if fallback else ""
        assert not default or value.startswith("${SECRET_KEY:?") or value.startswith("${SECRET_KEY?"), \
            f"{name}: SECRET_KEY falls back to the fixed string {default!r}"


def _settings_secret_key(var_dir, key=""):
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_DEBUG", "DEBUG", "DJANGO_ENV")}
    env.update(SECRET_KEY=key, LAB_VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="webapp.settings", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", "from django.conf import settings; print(settings.SECRET_KEY)"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def test_without_a_secret_key_each_install_generates_its_own(tmp_path):
    """What the compose file's empty SECRET_KEY leads to: a random key kept in LAB_VAR_DIR (the
    shared volume), the same on every start, another on another install."""
    first = _settings_secret_key(tmp_path / "one")
    assert len(first) >= 50 and first == _settings_secret_key(tmp_path / "one")
    assert first != _settings_secret_key(tmp_path / "two")
    assert (tmp_path / "one" / "secret_key").stat().st_mode & 0o077 == 0  # readable by its owner only
    assert _settings_secret_key(tmp_path / "one", key="chosen-by-the-operator") == "chosen-by-the-operator"
