"""docker-compose.yml and the Dockerfile (Docker cannot run here): the file parses, and
has the services, health checks, start order, commands, shared media volume and the GPU
reservation the deployment relies on."""
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_and_healthchecks():
    services = _compose()["services"]
    assert set(services) == {"postgres", "redis", "web", "worker-cpu", "worker-gpu"}
    assert services["postgres"]["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["redis"]["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]
    assert any("/var/lib/postgresql/data" in v for v in services["postgres"]["volumes"])


def test_app_services_wait_for_healthy_dependencies_and_share_media():
    services = _compose()
    for name in ("web", "worker-cpu", "worker-gpu"):
        svc = services["services"][name]
        assert svc["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                     "redis": {"condition": "service_healthy"}}, name
        env = svc["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
        assert env["REDIS_URL"].startswith("redis://redis:6379")
        assert env["MEDIA_ROOT"].startswith("/data") and "media:/data" in svc["volumes"], name
    assert "media" in services["volumes"] and "pgdata" in services["volumes"]


def test_commands_queues_and_gpu_reservation():
    services = _compose()["services"]
    assert services["web"]["command"] == ["python", "-m", "webapp.serve"]
    assert services["web"]["environment"]["HOST"] == "0.0.0.0" and "8000:8000" in services["web"]["ports"]
    cpu, gpu = services["worker-cpu"]["command"], services["worker-gpu"]["command"]
    assert cpu[:4] == ["celery", "-A", "webapp.celery_app", "worker"] and cpu[cpu.index("-Q") + 1] == "cpu"
    assert gpu[gpu.index("-Q") + 1] == "gpu" and gpu[gpu.index("--concurrency") + 1] == "1"
    devices = services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert "deploy" not in services["worker-cpu"]


def test_dockerfile():
    text = (ROOT / "Dockerfile").read_text()
    assert "\nFROM python:3.11-slim\n" in text
    assert "pip install -r requirements.txt" in text
