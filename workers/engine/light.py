"""Torch-free access to a model's tokenizer and configuration, for validating a
config in the web process: reads config.json and tokenizer.json from a local
directory or the Hugging Face hub cache with `tokenizers` and `huggingface_hub`
(neither imports torch). Models without a tokenizer.json fall back to
transformers."""
import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from .errors import ModelLoadError
from .models import explain_load_error, resolve_model_path


@dataclass
class LightTokenizer:
    """The subset of a tokenizer that validation needs: ids with or without special tokens."""

    core: object
    unk_token_id: int | None

    def __call__(self, texts, add_special_tokens: bool = True) -> dict:
        if isinstance(texts, str):
            return {"input_ids": self.core.encode(texts, add_special_tokens=add_special_tokens).ids}
        return {"input_ids": [e.ids for e in self.core.encode_batch(list(texts), add_special_tokens=add_special_tokens)]}


def _fetch(name: str, filename: str) -> Path | None:
    path = Path(resolve_model_path(name, convert_here=False))
    if path.is_dir():
        candidate = path / filename
        return candidate if candidate.exists() else None
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(str(path), filename))
    except Exception as exc:  # offline, gated, wrong id, or the file does not exist
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
        from .models import load_tokenizer

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
