"""Loading a causal LM and its tokenizer by hub id, local directory, GGUF file or "embedded".

Chooses the device (CUDA when present, else CPU) and dtype (bf16 on GPU, fp32 on
CPU) unless told, and turns every way loading can fail into one ModelLoadError
whose message says what to do.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .errors import ModelLoadError
from .load_errors import explain_load_error

EMBEDDED_NAME = "embedded"
EMBEDDED_DIR = Path(__file__).parent / "embedded" / "model"


def resolve_model_path(name: str, convert_here: bool = True) -> str:
    """The path or hub id that from_pretrained should receive.

    A GGUF spec (a registered GGUF model such as 'smollm2-135m', a `.gguf` path, or
    'org/repo:file.gguf') resolves to its converted directory, converting it first
    if needed: in this process, or in a child process when `convert_here` is False
    (torch-free callers such as the web process).
    """
    if not name or not str(name).strip():
        raise ModelLoadError(str(name), "no model given; use 'embedded', 'smollm2-135m', a Hugging Face id "
                                        "such as 'Qwen/Qwen3-4B-Base', a local directory or a .gguf file")
    name = str(name).strip()
    if name == EMBEDDED_NAME:
        if not (EMBEDDED_DIR / "config.json").exists():
            raise ModelLoadError(name, f"the embedded model is missing from {EMBEDDED_DIR}; "
                                       "retrain it with `python -m workers.engine.embedded.train`")
        return str(EMBEDDED_DIR)
    from . import gguf_convert

    if gguf_convert.is_gguf_spec(name):
        path = gguf_convert.gguf_source(name)
        if convert_here:
            return str(gguf_convert.ensure_converted(path, name))
        return str(gguf_convert.ensure_converted_elsewhere(path, name))
    return name


def load_tokenizer(name: str):
    """The tokenizer of a model, with a pad token and left padding for batched prompts."""
    from transformers import AutoTokenizer

    path = resolve_model_path(name)
    try:
        tok = AutoTokenizer.from_pretrained(path)
    except Exception as exc:  # every failure becomes one clear message
        raise ModelLoadError(name, explain_load_error(name, exc)) from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
    tok.padding_side = "left"
    return tok


def context_length(config, tokenizer=None) -> int:
    """The longest sequence the model accepts."""
    for attr in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    if tokenizer is not None and 0 < getattr(tokenizer, "model_max_length", 0) < 10**7:
        return int(tokenizer.model_max_length)
    return 2048


def pick_device(requested: Optional[str] = None) -> str:
    import torch

    if requested and requested != "auto":
        if requested.startswith("cuda") and not torch.cuda.is_available():
            raise ModelLoadError("-", f"device '{requested}' was asked for but CUDA is not available "
                                      "here; use device: auto or cpu")
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(device: str, requested: Optional[str] = None):
    import torch

    names = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16,
             "float16": torch.float16, "fp32": torch.float32, "float32": torch.float32}
    if requested and requested != "auto":
        if requested not in names:
            raise ModelLoadError("-", f"dtype '{requested}' is unknown; use auto, bf16, fp16 or fp32")
        return names[requested]
    return torch.bfloat16 if device.startswith("cuda") else torch.float32


@dataclass
class LoadedModel:
    """A model ready for the engine: weights, tokenizer, where it runs, its limits."""

    name: str
    model: object
    tokenizer: object
    device: str
    dtype: object
    max_length: int

    @property
    def n_layers(self) -> int:
        from .architecture import attention_modules

        return len(attention_modules(self.model))


def load_model(name: str, device: Optional[str] = None, dtype: Optional[str] = None) -> LoadedModel:
    """Load weights and tokenizer; frozen, eval mode, on the chosen device."""
    from transformers import AutoModelForCausalLM

    tok = load_tokenizer(name)
    dev = pick_device(device)
    torch_dtype = pick_dtype(dev, dtype)
    path = resolve_model_path(name)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
    except Exception as exc:
        raise ModelLoadError(name, explain_load_error(name, exc)) from None
    model.to(dev).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tok.pad_token_id
    return LoadedModel(name, model, tok, dev, torch_dtype, context_length(model.config, tok))
