"""The web process never imports torch: a fresh interpreter loads every URL's view,
validates and launches an experiment through the form (the engine's real
check_config and plan_runs), renders the pages, and torch/transformers stay unloaded."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, sys
import django
django.setup()
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0)
call_command("load_builtin_tasks", verbosity=0)
import webapp.urls, webapp.asgi  # every view module and the websocket routing
from django.contrib.auth import get_user_model
from django.test import Client
from webapp.lab.experiment_form import ExperimentForm
from webapp.lab.models import Experiment, Task

user = get_user_model().objects.create_user("torchless", password="x")
task = Task.objects.get(name="animal-or-fruit")
data = {"name": "t", "model_name": "embedded", "train_task": task.pk, "methods": ["icl", "sft", "ia2-sft"],
        "n_values": "4", "seeds": 1, "adapter_type": "lora", "lora_r": 8, "lora_alpha": 8,
        "target_modules": "q_proj,k_proj,o_proj", "eval_size": 40, "similarity_size": 10}
form = ExperimentForm(data, user=user)
valid = form.is_valid()
bad = ExperimentForm({**data, "n_values": "100000"}, user=user)
bad_valid = bad.is_valid()
client = Client()
client.force_login(user)
created = client.post("/experiments/new/", data).status_code
exp = Experiment.objects.get()
estimated = client.post("/experiments/new/", {**data, "estimate": "1"})  # the wall-time estimate, no launch
readability = client.get(f"/tasks/{task.pk}/preview.json?model=embedded").json()["readability"]
pages = [client.get(u).status_code for u in ("/tasks/", f"/tasks/{task.pk}/", "/experiments/", "/experiments/new/",
                                             f"/experiments/{exp.pk}/", f"/experiments/{exp.pk}/results.json",
                                             f"/experiments/{exp.pk}/history.json", "/compare/?a=icl&b=sft",
                                             f"/experiments/{exp.pk}/export/table.tex")]
print(json.dumps({"valid": valid, "errors": form.errors.get_json_data(), "plan": [k.label() for k in form.plan.runs],
                  "bad_valid": bad_valid, "created": created, "runs": exp.runs.count(), "pages": pages,
                  "similarity_size": exp.config["similarity_size"],
                  "estimated": b"tokens/s forward" in estimated.content, "readability": readability["unknown"] == 0,
                  "torch": "torch" in sys.modules, "transformers": "transformers" in sys.modules}))
"""


def test_web_process_never_imports_torch(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(DJANGO_SETTINGS_MODULE="webapp.settings", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
               LAB_VAR_DIR=str(tmp_path), MEDIA_ROOT=str(tmp_path / "media"), LAB_EXECUTOR="manual",
               ALLOWED_HOSTS="testserver", SECRET_KEY="test", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["valid"], out["errors"]
    assert out["plan"] == ["icl N=4 seed=0", "sft N=4 seed=0", "ia2-sft N=4 seed=0"]
    assert not out["bad_valid"]
    assert out["created"] == 302 and out["runs"] == 3 and out["similarity_size"] == 10
    assert out["estimated"] and out["readability"]  # the estimate and the readability check ran here
    assert out["pages"] == [200] * 9
    assert not out["torch"], "the web process imported torch"
    assert not out["transformers"], "the web process imported transformers"
