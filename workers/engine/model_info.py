"""Torch-free access to a model's tokenizer and configuration, for validating a
config in the web process: reads config.json and tokenizer.json from a local
directory or the Hugging Face hub cache with `tokenizers` and `huggingface_hub`
(neither imports torch). Models without a tokenizer.json fall back to
transformers. A hub id that is not in the local cache costs one quick look at the hub
(`_hub_file`): offline (HF_HUB_OFFLINE, or no answer within HUB_CHECK_TIMEOUT) it fails at
once with the offline message instead of retrying."""
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from .errors import ModelLoadError
from .load_errors import OFFLINE_MESSAGE, explain_load_error
from .model_loading import resolve_model_path


@dataclass
class LightTokenizer:
    """The subset of a tokenizer that validation needs: ids with or without special tokens."""

    core: object
    unk_token_id: int | None

    def __call__(self, texts, add_special_tokens: bool = True) -> dict:
        if isinstance(texts, str):
            return {"input_ids": self.core.encode(texts, add_special_tokens=add_special_tokens).ids}
        return {"input_ids": [e.ids for e in self.core.encode_batch(list(texts), add_special_tokens=add_special_tokens)]}


# One look at the hub per file, one attempt with a short timeout: a hub id that is not in
# the local cache, on a machine without network, is answered in about a second instead of
# after huggingface_hub's retries with back-off (about 25 s). A hub found unreachable is
# not asked again for HUB_DOWN_MEMORY seconds (one form check reads several files).
HUB_CHECK_TIMEOUT = 2.0
HUB_DOWN_MEMORY = 30.0
_hub_down_until: dict[str, float] = {}


def hub_endpoint() -> str:
    """The hub's address: HF_ENDPOINT as the environment says now, else huggingface_hub's."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or "").rstrip("/") or constants.ENDPOINT


def hub_offline() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE), as huggingface_hub read it or as the environment says now."""
    from huggingface_hub import constants

    env = (os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or "").strip().upper()
    return bool(constants.HF_HUB_OFFLINE) or env in {"1", "ON", "YES", "TRUE"}


def _known_down() -> str | None:
    """Why the hub cannot be used, if that is known without asking it: offline mode, or a
    failure remembered from the last HUB_DOWN_MEMORY seconds."""
    if hub_offline():
        return "HF_HUB_OFFLINE is set"
    endpoint = hub_endpoint()
    if time.monotonic() < _hub_down_until.get(endpoint, 0.0):
        return f"{endpoint} did not answer a moment ago"
    return None


def hub_unreachable() -> bool:
    """Whether hub ids other than cached ones cannot work now (`_known_down`). It depends on no
    model name, so a message built on it says nothing about the server's files."""
    return _known_down() is not None


def _unreachable(name: str, why: str) -> ModelLoadError:
    return ModelLoadError(name, f"{OFFLINE_MESSAGE} ({why})")


def hub_down_reason(url: str | None = None) -> str | None:
    """Why the hub cannot be used right now (None: it answered): offline mode, a failure
    remembered from the last HUB_DOWN_MEMORY seconds, or one quick HEAD request to `url` (default:
    the hub's address), one attempt: any answer below 500 means the hub is there. A failure is
    remembered, so one form check or import looks once."""
    from huggingface_hub.utils import get_session

    known = _known_down()
    if known:
        return known
    endpoint = hub_endpoint()
    try:
        status = get_session().head(url or endpoint, timeout=HUB_CHECK_TIMEOUT).status_code
        why = f"{endpoint} answered HTTP {status}" if status >= 500 else None
    except Exception as exc:  # no network, no DNS, a closed port, a timeout
        why = f"{endpoint} did not answer: {type(exc).__name__}"
    if why:
        _hub_down_until[endpoint] = time.monotonic() + HUB_DOWN_MEMORY
    return why


def _hub_file(name: str, repo_id: str, filename: str) -> Path | None:
    """A file of a hub model: from the local cache when it is there, else downloaded after one
    quick look at the hub (None: the cache knows the repository has no such file). The look is
    at the file itself (`hub_down_reason`): once the hub answers, `hf_hub_download` says what it
    says (no such model, gated, ...)."""
    from huggingface_hub import hf_hub_download, hf_hub_url, try_to_load_from_cache

    cached = try_to_load_from_cache(repo_id, filename)
    if isinstance(cached, str):
        return Path(cached)
    if cached is not None:  # the cache remembers that the repository has no such file
        return None
    endpoint = hub_endpoint()
    why = hub_down_reason(hf_hub_url(repo_id, filename, endpoint=endpoint))
    if why:
        raise _unreachable(name, why)
    return Path(hf_hub_download(repo_id, filename, endpoint=endpoint))


def _fetch(name: str, filename: str) -> Path | None:
    path = Path(resolve_model_path(name, convert_here=False))
    if path.is_dir():
        candidate = path / filename
        return candidate if candidate.exists() else None
    try:
        return _hub_file(name, str(path), filename)
    except ModelLoadError:
        raise
    except Exception as exc:  # gated, wrong id, or the file does not exist
        if filename == "config.json" or "EntryNotFound" not in type(exc).__name__:
            raise ModelLoadError(name, explain_load_error(name, exc)) from None
        return None


def load_light(name: str):
    """(tokenizer, config) without importing torch where the model allows it. Files that
    exist but cannot be read or parsed raise ModelLoadError too (never an OSError naming
    the file)."""
    try:
        return _load_light(name)
    except (OSError, ValueError, TypeError) as exc:
        raise ModelLoadError(name, f"its files could not be read ({type(exc).__name__}); it needs a readable "
                                   "config.json, weights and tokenizer files") from None


def _load_light(name: str):
    config_path = _fetch(name, "config.json")
    if config_path is None:
        raise ModelLoadError(name, "no config.json found; is this a Hugging Face model directory?")
    config = SimpleNamespace(**json.loads(config_path.read_text()))
    tok_path = _fetch(name, "tokenizer.json")
    if tok_path is None:
        from .model_loading import load_tokenizer

        return load_tokenizer(name), config
    from tokenizers import Tokenizer

    core = Tokenizer.from_file(str(tok_path))
    unk = None
    settings_path = tok_path.parent / "tokenizer_config.json"
    if settings_path.exists():
        unk_token = json.loads(settings_path.read_text()).get("unk_token")
        if isinstance(unk_token, dict):
            unk_token = unk_token.get("content")
        unk = core.token_to_id(unk_token) if unk_token else None
    return LightTokenizer(core, unk), config


# The linear layers (the last part of their module names) of the architectures whose layout
# is fixed by their `model_type`: what `adapters.linear_module_names` finds in the loaded
# model, known here without loading it (tests/engine/test_light_modules.py checks the
# embedded model against the loaded one). Other architectures: None (checked when loaded).
_LLAMA_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head")
LINEAR_MODULES = {
    "llama": _LLAMA_LINEAR, "mistral": _LLAMA_LINEAR, "qwen2": _LLAMA_LINEAR, "qwen3": _LLAMA_LINEAR,
    "gemma": _LLAMA_LINEAR, "gemma2": _LLAMA_LINEAR,
    "gpt2": ("c_attn", "c_proj", "c_fc", "lm_head"),
}


def linear_module_names(config) -> list[str] | None:
    """The names adapter target_modules may use for a model of this config, or None when its
    architecture is not one whose layout is known without loading the weights."""
    names = LINEAR_MODULES.get(getattr(config, "model_type", None))
    return list(names) if names else None
