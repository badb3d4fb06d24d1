"""Fixtures for the web tests: users, tasks, a fake engine runner that follows
CONTRACT.md, MEDIA_ROOT in a temporary folder and an empty cache per test."""
import pytest



@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.LAB_EXECUTOR = "manual"


@pytest.fixture(autouse=True)
def _empty_cache():
    """Cached payloads never leak from one test into the next."""
    from django.core.cache import cache

    cache.clear()
    yield
    try:
        cache.clear()
    except Exception:  # a test pointed the cache at an unreachable server
        pass


@pytest.fixture
def user(db, django_user_model):
    return django_user_model.objects.create_user("alice", password="pw-alice")


@pytest.fixture
def other_user(db, django_user_model):
    return django_user_model.objects.create_user("bob", password="pw-bob")


@pytest.fixture
def client_in(client, user):
    client.force_login(user)
    return client


def make_task(owner, name="sentiment", n=12, labels=("positive", "negative"), kind="classification", **kw):
    from webapp.lab.models import Example, Task

    task = Task.objects.create(owner=owner, name=name, kind=kind, labels=list(labels) if kind == "classification" else [],
                               input_template="Text:{x}\nLabel:", **kw)
    Example.objects.bulk_create(
        Example(task=task, position=i, input=f"example {i}", output=labels[i % len(labels)]) for i in range(n)
    )
    return task


def make_sft_experiment(owner):
    """An experiment of one SFT run (N=4, one seed) on a fresh task, evaluated on that task."""
    from webapp.lab.models import Experiment
    from webapp.lab.services.config import build_config

    task = make_task(owner)
    cfg = build_config(model_name="embedded", train_task=task, eval_tasks=[], methods=["sft"], n_values=[4],
                       seeds=1, icl_demos=None, eval_size=10, adapter_type="lora", lora_r=8, lora_alpha=8,
                       target_modules=["q_proj"])
    exp = Experiment.objects.create(owner=owner, train_task=task, methods=["sft"], n_values=[4], config=cfg)
    exp.eval_tasks.set([task])
    return exp


def make_run(experiment, method="sft", n=4, seed=0, **fields):
    """A saved run with its engine key, as a launch creates it (lifecycle.run_job needs the key)."""
    from webapp.lab.models import Run
    from workers.engine.plan import RunKey

    run = Run.for_key(experiment, RunKey(method, n, seed), **fields)
    run.save()
    return run


@pytest.fixture
def task(user):
    return make_task(user)


class FakeRunner:
    """Follows the contract: execute_run with progress, cancel and results."""

    def __init__(self, steps=20, fail=False):
        self.steps, self.fail = steps, fail
        self.calls = []
        self.configs = []

    def execute_run(self, config, key, on_progress=None, should_cancel=None, cache_dir=None):
        from workers.engine.progress import Cancelled, ProgressEvent

        self.calls.append((key, cache_dir))
        self.configs.append(config)
        on_progress(ProgressEvent("load", 0, 1, {}, "loading"))
        if key.method not in ("icl", "base"):
            for step in range(1, self.steps + 1):
                if should_cancel():
                    raise Cancelled("run cancelled")
                on_progress(ProgressEvent("sft", step, self.steps, {"loss": 2.0 / step}))
        if self.fail:
            raise RuntimeError("boom: out of memory")
        on_progress(ProgressEvent("eval", 1, 1, {}))
        return [fake_result(key, t["name"]) for t in config["eval_tasks"]]


def fake_result(key, task_name, acc=0.75):
    preds = [
        {"index": i, "input": f"example {i}", "gold": "positive", "predicted": "positive" if i % 4 else "negative",
         "confidence": 0.8, "label_probs": {"positive": 0.8, "negative": 0.2}}
        for i in range(4)
    ]
    return {
        "method": key.method, "n": key.n, "seed": key.seed, "eval_task": task_name, "accuracy": acc,
        "ece": 0.1, "ece_equal_mass": 0.12, "brier": 0.2, "nll": 0.5,
        "reliability": [{"bin_lower": 0.0, "bin_upper": 0.5, "confidence": 0.4, "accuracy": 0.5, "count": 2},
                        {"bin_lower": 0.5, "bin_upper": 1.0, "confidence": 0.8, "accuracy": 0.75, "count": 2}],
        "layer_similarity": None if key.method == "icl" else [0.9, 0.6, 0.8],
        "layer_cka": None if key.method == "icl" else [0.8, 0.5, 0.7],
        "mean_similarity": None if key.method == "icl" else 0.77,
        "predictions": preds, "loss_history": [{"stage": "sft", "step": 1, "loss": 1.0}],
        "timings": {"eval": 0.1}, "n_layers": 3,
    }


@pytest.fixture
def fake_runner(monkeypatch):
    runner = FakeRunner()
    monkeypatch.setattr("webapp.lab.services.lifecycle.load_runner", lambda: runner)
    return runner


def experiment_post(task, **over):
    data = {
        "name": "exp", "model_name": "embedded", "train_task": task.pk, "methods": ["icl", "sft"],
        "n_values": "4", "seeds": 1, "icl_demos": "", "adapter_type": "lora", "lora_r": 8, "lora_alpha": 8,
        "target_modules": "q_proj,k_proj,o_proj", "eval_size": 20,
        # make_task's "example i" inputs are unreadable for the embedded model: these tests are
        # about other checks, so they confirm the unreadable-text guard (test_unreadable.py tests it)
        "confirm_unreadable": "on",
    }
    data.update(over)
    return data


@pytest.fixture
def no_engine_check(monkeypatch):
    monkeypatch.setattr("webapp.lab.services.planning.engine_check", lambda config: [])
