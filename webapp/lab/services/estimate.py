"""How long an experiment will take, before it is launched: a rough count of the tokens
each planned run pushes through the model, divided by a measured tokens-per-second
figure for that model on the workers' device, and, once runs of the same model have
finished here, their recorded wall times (`EvalResult.timings`) instead.

The count follows the engine's work (icl_work.py, training.py, runner.py):
  per (N, seed), shared by the methods: ICL prompts (k demonstrations + the query) for the
  evaluation set and for the N training and N/2 dev examples;
  per trained run: each stage runs between patience+1 and max_epochs epochs (early stopping)
  over the N training examples (forward and backward) and the dev examples, then the
  evaluation and similarity queries without demonstrations.
It is an estimate with a range, and the page says what it rests on."""
import statistics

from django.db.models import Q

MEASURED = {
    # (model, device): forward and training (forward+backward) tokens per second, batch 8 x 64 tokens,
    # fp32, measured with `python -m bench.throughput` on the 2-core development machine (AMD EPYC,
    # 2 torch threads) on 2026-11-30 while other jobs shared its cores: a conservative figure. The same
    # script on the quiet machine gave embedded 49,304 / 11,881 and smollm2-135m 298 / 156; the token
    # count leaves out per-step overheads (lr grid, padding, optimiser), and the loaded figures come
    # closer to the wall times measured for real runs (issue 9: one SmolLM2 training stage at N=4 took
    # about 5 minutes on 2 cores), so they are the ones used until finished runs give better ones
    ("embedded", "cpu"): {"forward": 2963, "train": 903, "where": "2-core AMD EPYC development machine "
                                                                  "(bench/throughput.py, 2026-11-30, shared cores)"},
    ("smollm2-135m", "cpu"): {"forward": 60, "train": 12, "where": "2-core AMD EPYC development machine "
                                                                   "(bench/throughput.py, 2026-11-30, shared cores)"},
}
LOAD_SECONDS = {"embedded": 1.0, "smollm2-135m": 5.0}  # loading the weights once per run


def _mean_tokens(model_name, tasks):
    """Mean tokens of one rendered example (template + answer), with the model's torch-free tokenizer."""
    from workers.engine.model_info import load_light

    tokenizer, _ = load_light(model_name)
    texts = []
    for task in tasks:
        engine = task.to_engine_task()
        texts += [engine.demo(e.input, e.output) for e in (engine.examples + engine.eval_examples)[:200]]
    if not texts:
        return 0.0
    return statistics.fmean(len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"])


def token_counts(config, plan, tokens_per_example):
    """(forward tokens, training tokens at the fewest epochs, training tokens at the most epochs)."""
    from workers.engine.config import METHOD_STAGES, load_config

    cfg = load_config(config)
    t = tokens_per_example
    n_eval_tasks = max(1, len(cfg.eval_tasks or []) or 1)
    low_epochs, high_epochs = min(cfg.training.patience + 1, cfg.training.max_epochs), cfg.training.max_epochs
    forward = train_low = train_high = 0.0
    for n, seed in {(k.n, k.seed) for k in plan}:
        k = cfg.icl_demos or n
        icl_prompt = (min(k, n) + 1) * t
        forward += (cfg.eval_size * n_eval_tasks + n + max(1, n // 2)) * icl_prompt
    for key in plan:
        stages = len(METHOD_STAGES.get(key.method) or ())
        if not stages:
            continue
        per_epoch_train, per_epoch_dev = key.n * t, max(1, key.n // 2) * t
        train_low += stages * low_epochs * per_epoch_train
        train_high += stages * high_epochs * per_epoch_train
        forward += stages * low_epochs * per_epoch_dev  # the dev passes, at the fewest epochs
        sim = cfg.similarity_size if cfg.similarity_size is not None else min(cfg.eval_size, 50)
        forward += (cfg.eval_size + 2 * sim) * n_eval_tasks * t
    return forward, train_low, train_high


def _finished_seconds(model_name, device):
    """Median recorded wall time of finished runs of this model on this device, per method."""
    from ..models import Run, EvalResult

    per_method = {}
    rows = (EvalResult.objects.filter(run__state=Run.DONE, run__experiment__model_name=model_name)
            .filter(Q(run__queue=device) | Q(run__queue="")).values_list("run_id", "run__method", "timings")[:2000])
    seen = set()
    for run_id, method, timings in rows:
        if run_id in seen or not timings:
            continue
        seen.add(run_id)
        per_method.setdefault(method, []).append(sum(v for v in timings.values() if isinstance(v, (int, float))))
    return {m: statistics.median(v) for m, v in per_method.items()}


def estimate(model_name, config, plan, tasks, device="cpu"):
    """{"low_s", "high_s", "basis", "runs"}, or {"basis"} alone when there is nothing to go on."""
    finished = _finished_seconds(model_name, device)
    runs = len(plan)
    if finished and all(k.method in finished for k in plan):
        total = sum(finished[k.method] for k in plan)
        count = len(finished)
        return {"low_s": total, "high_s": total, "runs": runs, "device": device,
                "basis": f"the median wall time of finished runs of {model_name} on {device} workers here, per "
                         f"method ({', '.join(f'{m} {s:.0f} s' for m, s in sorted(finished.items()))}; "
                         f"{count} method{'s' if count != 1 else ''}), summed over the {runs} planned runs "
                         "(one worker at a time; more workers divide it)"}
    measured = MEASURED.get((model_name, device))
    if measured is None:
        return {"runs": runs, "device": device,
                "basis": f"no measured speed for {model_name} on {device} workers yet; the first finished runs "
                         "will give one (the smaller local models are listed above with their costs)"}
    try:
        t = _mean_tokens(model_name, tasks)
    except Exception as exc:  # a tokenizer that cannot be loaded: the engine check names it
        return {"runs": runs, "device": device, "basis": f"the model's tokenizer could not be read ({exc})"}
    forward, train_low, train_high = token_counts(config, plan, t)
    load = LOAD_SECONDS.get(model_name, 0.0) * runs
    low = load + forward / measured["forward"] + train_low / measured["train"]
    high = load + forward / measured["forward"] + train_high / measured["train"]
    return {"low_s": low, "high_s": high, "runs": runs, "device": device, "tokens_per_example": round(t, 1),
            "basis": f"{measured['forward']} tokens/s forward and {measured['train']} tokens/s training for "
                     f"{model_name} on a {device} worker, measured on the {measured['where']}; about "
                     f"{t:.0f} tokens per example; training between early stopping's fewest and the most "
                     f"epochs; one worker at a time (more workers divide it)"}


def human(seconds):
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
