"""Can the chosen model read a task? The web side of the unreadable-text guard.

The measure itself is the engine's (`workers.engine.readability`: the share of the
task's input words that the model's tokenizer turns into the unknown token, and the
labels it cannot tell apart), computed with the torch-free tokenizer loader
(`workers.engine.model_info`: `tokenizers` + `huggingface_hub`, never torch or
transformers for models that ship a tokenizer.json). The prompt preview, the
experiment form and the launched experiment's results page all read it from here;
the threshold is one setting, `LAB_UNREADABLE_THRESHOLD` (5% by default)."""
from django.conf import settings


def threshold() -> float:
    return float(getattr(settings, "LAB_UNREADABLE_THRESHOLD", 0.05))


def task_readability(model_name: str, task) -> dict:
    """The engine's readability of `task` (a DB Task) for `model_name`, as a dict with
    `unreadable` (the unknown share is above the threshold) and `warning` (the sentence
    to show); {"model", "task", "error"} when the model's tokenizer cannot be loaded."""
    from workers.engine.errors import EngineError

    from .model_errors import public_model_error
    from workers.engine.readability import model_readability

    try:
        r = model_readability(model_name, task.to_engine_task(), threshold())
    except EngineError as exc:
        return {"model": model_name, "task": task.name, "error": public_model_error(model_name, exc)}
    d = r.to_dict()
    d.update(model=model_name, task=task.name, unreadable=r.unknown_share > r.threshold,
             unknown_percent=round(100 * r.unknown_share, 1))
    d["warning"] = warning(d) if d["unreadable"] else ""
    return d


def warning(d: dict) -> str:
    """One sentence naming the model, the task and the share of unreadable words."""
    examples = ", ".join(repr(w) for w in d["unknown_examples"][:5])  # quoted: a word may end in ","
    return (f'{d["unknown_share"]:.0%} of the input words of "{d["task"]}" ({d["distinct_unknown"]} of '
            f'{d["distinct_words"]} distinct words, e.g. {examples}) become the unknown token for model '
            f'"{d["model"]}" (threshold {d["threshold"]:.0%}): it cannot read this text, so its results say '
            "little about the methods; choose a model that reads it (smollm2-135m reads English).")
