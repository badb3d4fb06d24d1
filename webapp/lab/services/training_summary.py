"""What training chose, read from the engine's loss history (CONTRACT.md: one entry per
step with stage, step, epoch, loss, lr, and dev_loss at the end of each epoch).

The rules mirror workers/engine/training.py: within a trial the best epoch is the first
whose dev loss beats the best so far by more than 1e-7 (epoch 0: before training); the
chosen trial is the one with the lowest best dev loss, the first on ties.
"""
import math

IMPROVEMENT = 1e-7


def _finite(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _trial_index(history):
    """{(stage, lr): trial number}, in the order the engine ran them."""
    index, counts = {}, {}
    for h in history:
        key = (h.get("stage"), h.get("lr"))
        if key not in index:
            index[key] = counts.get(key[0], 0)
            counts[key[0]] = index[key] + 1
    return index


def summarize(history):
    """Per stage: every trial (lr, best dev loss, best epoch, epochs trained) and the chosen one."""
    history = [h for h in history or [] if isinstance(h, dict)]
    trials_of = _trial_index(history)
    stages = {}
    for h in history:
        key = (h.get("stage"), h.get("lr"))
        t = stages.setdefault(key[0], {}).setdefault(key, {
            "trial": trials_of[key], "lr": _finite(key[1]), "best_dev_loss": None, "best_epoch": 0, "epochs": 0})
        epoch = int(h.get("epoch") or 0)
        t["epochs"] = max(t["epochs"], epoch)
        dev = _finite(h.get("dev_loss"))
        if dev is not None and (t["best_dev_loss"] is None or dev < t["best_dev_loss"] - IMPROVEMENT):
            t["best_dev_loss"], t["best_epoch"] = dev, epoch
    out = []
    for stage, trials in stages.items():
        ts = list(trials.values())
        scored = [t for t in ts if t["best_dev_loss"] is not None]
        chosen = min(scored, key=lambda t: t["best_dev_loss"]) if scored else ts[-1]  # min keeps the first of ties
        out.append({"stage": stage, "chosen_trial": chosen["trial"], "lr": chosen["lr"], "epochs": chosen["epochs"],
                    "best_epoch": chosen["best_epoch"], "best_dev_loss": chosen["best_dev_loss"], "trials": ts})
    return out


def history_points(run, history):
    """Loss points of a run whose progress was not streamed live: one series per stage,
    loss kind and learning-rate trial (the names the live recorder uses)."""
    from ..models import MetricPoint

    trials_of = _trial_index(history or [])
    points = []
    for h in history or []:
        if not isinstance(h, dict):
            continue
        key = (h.get("stage"), h.get("lr"))
        suffix = f"@{trials_of[key]}" if h.get("lr") is not None else ""
        for kind in ("loss", "dev_loss"):
            value = _finite(h.get(kind))
            if value is not None:
                points.append(MetricPoint(run=run, series=f"{h.get('stage', 'train')}/{kind}{suffix}"[:32],
                                          step=int(h.get("step", 0)), value=value))
    return points
