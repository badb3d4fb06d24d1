"""Every method runs end to end from the CLI and RESULTS.json has the documented shape."""
import json
import subprocess
import sys

import yaml

from workers.engine.config import METHODS

REQUIRED = {"method", "n", "seed", "eval_task", "accuracy", "ece", "ece_equal_mass", "brier", "nll", "predictions",
            "timings", "reliability", "loss_history"}


def test_compare_runs_every_method_and_writes_results(tmp_path):
    config = {"model": "embedded", "task": "animal-or-fruit", "eval_tasks": ["bird-or-vegetable"],
              "methods": list(METHODS), "n": 4, "seeds": 1, "eval_size": 24, "similarity_size": 8,
              "training": {"max_epochs": 6, "patience": 2}}
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, "-m", "workers.engine", "compare", str(cfg), "--out", str(out),
                           "--cache-dir", str(tmp_path / "cache")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Accuracy" in proc.stdout and "IA2->SFT" in proc.stdout   # the summary table, labelled by the metric table
    results = json.loads(out.read_text())
    runs = results["runs"]
    assert {(r["method"], r["eval_task"]) for r in runs} == {(m, t) for m in METHODS
                                                          for t in ("animal-or-fruit", "bird-or-vegetable")}
    for r in runs:
        assert REQUIRED <= set(r), REQUIRED - set(r)
        assert len(r["predictions"]) == 24
        assert {"gold", "predicted", "confidence"} <= set(r["predictions"][0])
        assert 0 <= r["accuracy"] <= 1 and 0 <= r["ece"] <= 1
        if r["method"] == "icl":
            assert "layer_similarity" not in r
        else:
            assert len(r["layer_similarity"]) == r["n_layers"] and len(r["layer_cka"]) == r["n_layers"]
    # shared ICL work: computed by the first run, reused by every later one
    assert [r["icl_work_reused"] for r in runs if r["eval_task"] == "animal-or-fruit"].count(False) == 1
    trained = [r for r in runs if r["method"] not in ("base", "icl")]
    assert all(r["loss_history"] and r["artifacts"] for r in trained)
    assert {a["method"] for a in results["aggregate"]} == set(METHODS)
    overlaps = results["adapter_overlap"]
    assert overlaps and all(0.0 <= o["mean"] <= 1.0 + 1e-6 for o in overlaps)
