"""workers/engine/CONTRACT.md lists exactly the progress stages the engine emits (read from
the engine's source: every literal stage handed to the reporter, and the training stages of
the methods), so the web app's stage handling and the doc cannot drift apart silently."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def emitted_stages():
    from workers.engine.config import METHOD_STAGES

    found = set()
    for path in (ROOT / "workers/engine").glob("*.py"):
        text = path.read_text()
        found |= set(re.findall(r"""\btick\(\s*["']([\w+-]+)["']""", text))
        # stage names passed by callers (defaults of `stage: str = ...` parameters are not emissions)
        found |= set(re.findall(r"""(?<!: str )\bstage=["']([\w+-]+)["']""", text))
    return found | {s for stages in METHOD_STAGES.values() for s in stages}


def documented_stages():
    text = (ROOT / "workers/engine/CONTRACT.md").read_text()
    para = text.split("stages, in the order a run emits them:", 1)[1].split("\n- ", 1)[0]
    return set(re.findall(r'"([\w+-]+)"', para))


def test_contract_lists_the_stages_the_engine_emits():
    emitted = emitted_stages()
    assert {"load", "done", "sft", "eval"} <= emitted  # the scan works
    assert documented_stages() == emitted
