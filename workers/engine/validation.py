"""Checks a config before anything runs, loading only the tokenizer and the model
config (no weights, no torch): unknown keys, N larger than the pool, labels that tokenize
ambiguously, a model that cannot be loaded, ICL prompts longer than the context.

`check_config` returns (field, message) pairs for forms; `require_valid` raises
the first problem as a ConfigError for the CLI and the runner.
"""
from .config import METHOD_STAGES, ExperimentConfig, parse_config
from .errors import ConfigError, EngineError
from .model_info import linear_module_names, load_light
from .model_loading import context_length
from .sampling import dev_size, draw_split, eval_set, training_pool
from .tasks import Task, get_task, icl_prompt


def label_problems(task: Task, tokenizer) -> list[str]:
    """Messages for labels the model cannot tell apart (empty, unknown or identical token sequences)."""
    if task.kind != "classification":
        return []
    problems = []
    seqs = tokenizer(list(task.labels), add_special_tokens=False)["input_ids"]
    unk = tokenizer.unk_token_id
    seen: dict[tuple, str] = {}
    for label, ids in zip(task.labels, seqs):
        if not ids:
            problems.append(f"label '{label}' tokenizes to nothing; use a non-empty label")
            continue
        if unk is not None and unk in ids:
            problems.append(f"label '{label}' is not in the model's vocabulary (it becomes the unknown token); "
                            "choose a word the model knows")
        key = tuple(ids)
        if key in seen:
            problems.append(f"labels '{seen[key]}' and '{label}' tokenize to the same tokens {list(ids)}, so the "
                            "model cannot tell them apart; rename one of them")
        seen.setdefault(key, label)
    return problems


def longest_icl_prompt(task: Task, eval_task: Task, n: int, k: int | None, eval_size: int) -> str:
    """The ICL prompt built from the N longest pool examples and the longest query."""
    pool = sorted(training_pool(task, eval_size), key=lambda e: len(e.input) + len(e.output), reverse=True)
    demos = pool[:min(k or n, n)]
    queries = eval_set(eval_task, eval_size) + ([] if eval_task is not task else pool[:1])
    query = max(queries, key=lambda e: len(e.input))
    return icl_prompt(task, demos, eval_task, query.input)


def context_problem(task: Task, eval_task: Task, n: int, k, eval_size: int, tokenizer, limit: int) -> str | None:
    prompt = longest_icl_prompt(task, eval_task, n, k, eval_size)
    count = len(tokenizer(prompt)["input_ids"]) + 8
    if count > limit:
        return (f"task '{task.name}' with N={n}: the longest ICL prompt (evaluated on '{eval_task.name}') has "
                f"about {count} tokens but the model's context is {limit}; lower N or icl_demos, or shorten the inputs")
    return None


def target_modules_problem(cfg: ExperimentConfig, model_config) -> str | None:
    """Adapter target modules that the model does not have (known from its config's
    model_type, without loading it), when a method trains an adapter; None otherwise."""
    if not any(METHOD_STAGES.get(m) for m in cfg.methods) or not cfg.adapter.target_modules:
        return None
    available = linear_module_names(model_config)
    if available is None:
        return None  # an architecture whose layout is only known once loaded (adapters.attach_adapter)
    missing = [m for m in cfg.adapter.target_modules if m not in available]
    if not missing:
        return None
    kind = getattr(model_config, "model_type", "?")
    return (f"{', '.join(missing)} {'is not a module' if len(missing) == 1 else 'are not modules'} of this model "
            f"({kind}); its linear layers are {', '.join(available)}: list some of those, separated by commas")


def check_config(config, loaded=None) -> list[tuple[str, str]]:
    """Every problem found, as (field, message); empty when the config can run.

    `loaded` = (tokenizer, model config) of an already loaded model, so that the
    runner does not load the tokenizer a second time."""
    try:
        cfg = config if isinstance(config, ExperimentConfig) else parse_config(config)
    except ConfigError as exc:
        return [(exc.field, exc.message)]
    problems: list[tuple[str, str]] = []
    try:
        task = get_task(cfg.task)
    except ConfigError as exc:
        return [(exc.field, exc.message)]
    eval_tasks, eval_fields = [task], ["task"]
    for i, spec in enumerate(cfg.eval_tasks):
        try:
            eval_tasks.append(get_task(spec))
            eval_fields.append(f"eval_tasks[{i}]")
        except ConfigError as exc:
            problems.append((f"eval_tasks[{i}]" if exc.field == "task" else exc.field.replace("task", f"eval_tasks[{i}]", 1),
                             exc.message))
    empty = set()
    for t, fld in zip(eval_tasks, eval_fields):
        if not eval_set(t, cfg.eval_size) and id(t) not in empty:
            empty.add(id(t))
            problems.append((fld, f"task '{t.name}' has {len(t.examples)} example(s), so its evaluation set is "
                                  "empty (half of the pool, up to eval_size, is held out for evaluation): give it "
                                  "at least 2 examples, or examples in its eval split"))
    for n in cfg.n:
        try:
            draw_split(task, n, cfg.seeds[0], cfg.eval_size)
        except ConfigError as exc:
            problems.append((exc.field, exc.message))
    try:
        tokenizer, model_config = loaded if loaded is not None else load_light(cfg.model)
    except EngineError as exc:
        problems.append(("model", str(exc)))
        return problems
    for t in eval_tasks:
        fld = "task.labels" if t is task else "eval_tasks"
        problems += [(fld, f"task '{t.name}': {m}") for m in label_problems(t, tokenizer)]
    problem = target_modules_problem(cfg, model_config)
    if problem:
        problems.append(("adapter.target_modules", problem))
    limit = context_length(model_config, tokenizer)
    for n in cfg.n:
        if n + dev_size(n) > len(training_pool(task, cfg.eval_size)):
            continue
        for et in eval_tasks:
            if id(et) in empty:
                continue
            msg = context_problem(task, et, n, cfg.icl_demos, cfg.eval_size, tokenizer, limit)
            if msg:
                problems.append(("n", msg))
    return problems


def require_valid(config, loaded=None) -> ExperimentConfig:
    """The parsed config, or the first problem raised as a ConfigError."""
    problems = check_config(config, loaded)
    if problems:
        field, message = problems[0]
        raise ConfigError(field, message)
    return config if isinstance(config, ExperimentConfig) else parse_config(config)
