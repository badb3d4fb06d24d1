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
    """(tokenizer, config) without importing torch where the model allows it."""
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
