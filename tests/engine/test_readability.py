"""The unreadable-text measure: it fires for the embedded model on an English task
and not for SmolLM2 (tokenizers only, loaded without torch)."""
import subprocess
import sys

import pytest

from workers.engine.model_info import load_light
from workers.engine.readability import readability
from workers.engine.tasks import get_task, task_from_dict

REVIEWS = [("the film was a delight", "positive"), ("a tedious and clumsy plot", "negative"),
           ("wonderful acting and a moving score", "positive"), ("i walked out after an hour", "negative"),
           ("the cast is charming throughout", "positive"), ("dull, predictable and far too long", "negative")]
SENTIMENT = {"name": "reviews", "kind": "classification", "input_template": "Text:{x}\nLabel:",
             "labels": ["positive", "negative"], "examples": [{"input": x, "output": y} for x, y in REVIEWS]}


@pytest.fixture(scope="module")
def tokenizers():
    return {name: load_light(name)[0] for name in ("embedded", "smollm2-135m")}


def test_fires_on_the_embedded_model_with_english_text(tokenizers):
    r = readability(tokenizers["embedded"], task_from_dict(SENTIMENT))
    assert r.fires and r.unknown_share > 0.3, r.to_dict()
    assert "film" in r.unknown_examples and "the" not in r.unknown_examples
    assert "unknown to this model's tokenizer" in r.message()


def test_silent_on_smollm2_with_the_same_text(tokenizers):
    r = readability(tokenizers["smollm2-135m"], task_from_dict(SENTIMENT))
    assert not r.fires and r.unknown == 0 and r.words == sum(len(x.split()) for x, _ in REVIEWS)


def test_silent_on_the_embedded_model_with_its_own_world(tokenizers):
    r = readability(tokenizers["embedded"], get_task("animal-or-fruit"))
    assert not r.fires and r.unknown_share == 0.0


def test_wordnet_text_is_unreadable_for_the_embedded_model_only(tokenizers):
    task = get_task("wordnet-animal-or-plant")
    assert readability(tokenizers["embedded"], task).unknown_share > 0.5
    assert readability(tokenizers["smollm2-135m"], task).unknown_share == 0.0


def test_labels_the_model_cannot_tell_apart_are_reported(tokenizers):
    task = task_from_dict({**SENTIMENT, "labels": ["zebra", "giraffe"],
                           "examples": [{"input": "a cat", "output": "zebra"}, {"input": "a dog", "output": "giraffe"}]})
    r = readability(tokenizers["embedded"], task)
    assert r.fires and any("zebra" in p and "giraffe" in p for p in r.label_problems), r.label_problems


def test_is_torch_free():
    code = ("import sys; from workers.engine.readability import model_readability; from workers.engine.tasks import get_task; "
            "r = model_readability('embedded', get_task('wordnet-animal-or-plant')); "
            "assert r.fires and 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)[:3]")
    subprocess.run([sys.executable, "-c", code], check=True)
