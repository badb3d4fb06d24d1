"""Why a model could not be loaded, in one sentence that says what to do.

Its own module so that both loaders, `model_loading` (hub ids, directories) and
`gguf_convert` (GGUF downloads), explain failures the same way without importing each
other: model_loading imports gguf_convert to resolve GGUF specs.
"""
import os
from pathlib import Path


def _hub_errors():
    from huggingface_hub import errors

    return errors


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


OFFLINE_MESSAGE = ("it is not in the local cache and the Hugging Face hub cannot be reached from this machine; "
                   "download it elsewhere and pass its local directory (or .gguf file), or check the id")


def _typed_explanation(exc: Exception) -> str | None:
    """The message for huggingface_hub's typed errors anywhere in the exception chain."""
    errors = _hub_errors()
    chain = list(_chain(exc))
    for kind, message in (
        (errors.GatedRepoError, "this model is gated on the Hugging Face hub: accept its licence on the model "
                                "page and set HF_TOKEN, or download it and pass the local directory"),
        (errors.RepositoryNotFoundError, "no such model on the Hugging Face hub (or it is private); check the "
                                         "id (e.g. 'Qwen/Qwen3-4B-Base') or set HF_TOKEN"),
        (errors.RevisionNotFoundError, "that revision does not exist in the repository; check the branch or tag"),
        (errors.RemoteEntryNotFoundError, "the repository exists but has no such file; check the file name"),
        (errors.HFValidationError, "this is not a valid Hugging Face id ('org/name'), an existing local "
                                   "directory or a .gguf file"),
        (errors.LocalEntryNotFoundError, OFFLINE_MESSAGE),
        (errors.OfflineModeIsEnabled, OFFLINE_MESSAGE),
    ):
        if any(isinstance(e, kind) for e in chain):
            return message
    if any(type(e).__name__ in ("ConnectError", "ConnectTimeout", "gaierror") for e in chain):
        return OFFLINE_MESSAGE
    return None


def explain_load_error(name: str, exc: Exception) -> str:
    """One sentence saying why a model could not be loaded and what to do."""
    text = f"{type(exc).__name__}: {exc}"
    low = text.lower()
    looks_local = name.startswith((".", "/", "~")) or os.sep in name and Path(name).exists()
    if looks_local or Path(name).exists():
        return (f"the directory '{name}' is not a loadable Hugging Face model "
                "(it needs config.json, weights and tokenizer files)")
    typed = _typed_explanation(exc)
    if typed:
        return typed
    # transformers raises plain OSErrors for some hub failures; fall back to their wording
    if "gated" in low or "401" in low or "403" in low or "restricted" in low:
        return ("this model is gated on the Hugging Face hub: accept its licence on the model page "
                "and set HF_TOKEN, or download it and pass the local directory")
    if "404" in low or "not a valid model identifier" in low or "repository not found" in low:
        return "no such model on the Hugging Face hub; check the id (e.g. 'Qwen/Qwen3-4B-Base')"
    if os.environ.get("HF_HUB_OFFLINE") == "1" or "couldn't connect" in low or "offline" in low:
        return OFFLINE_MESSAGE
    return f"could not be loaded ({text.splitlines()[0][:200]})"
