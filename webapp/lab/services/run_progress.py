"""How far a whole run is, from one engine progress event.

The engine reports each stage's own step/total, and every learning-rate trial of a
training stage starts again at step 0: a bar or ETA read from those restarts for every
trial and stage. A run is laid out here as preparation (load, ICL work), its training
stages (each split evenly between its learning-rate trials) and evaluation, and the
event is placed on that line. Training trials stop early, so the fraction jumps ahead
when a trial ends; it never goes back.
"""
PREP_WEIGHT, EVAL_WEIGHT = 0.1, 0.1  # of a run that trains; a run without training: half and half
EVAL_STAGES = ("eval", "similarity")


def method_stages(method):
    from workers.engine.config import METHOD_STAGES  # torch-free

    return list(METHOD_STAGES.get(method, []))


def fraction(method, stage, step, total, trial=None, trials=None):
    """Fraction of the whole run done at this event, in [0, 1]."""
    within = min(max(step / total, 0.0), 1.0) if total else 0.0
    stages = method_stages(method)
    prep, evaluation = (PREP_WEIGHT, EVAL_WEIGHT) if stages else (0.5, 0.5)
    train = 1.0 - prep - evaluation
    if stage == "done":
        return 1.0
    if stage in stages:
        trials = max(int(trials or 1), 1)
        trial = min(max(int(trial or 0), 0), trials - 1)
        return prep + train * (stages.index(stage) + (trial + within) / trials) / len(stages)
    if stage in EVAL_STAGES:
        part = EVAL_STAGES.index(stage)
        return prep + train + evaluation * (part + within) / len(EVAL_STAGES)
    # load and the ICL work (demonstration targets, ICL evaluation) come first
    return prep * (0.1 * within if stage == "load" else 0.1 + 0.9 * within)


def eta_seconds(elapsed, start_fraction, now_fraction):
    """Seconds left at the average rate since the recorder started (None until it moved)."""
    moved = now_fraction - start_fraction
    if elapsed <= 0 or moved < 0.01 or now_fraction >= 1.0:
        return None
    return round(elapsed / moved * (1.0 - now_fraction), 1)
