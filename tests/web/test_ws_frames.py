"""Malformed websocket frames (issue 22 item 12): non-JSON text, JSON that is not an object,
100k-deep nesting and binary frames each close the connection with 4400 and log no
traceback; a resume with out-of-range ids replays from the start instead of failing.
Real consumer, real channel layer, real database; 200 frames from a seeded generator."""
import json
import logging
import random

import pytest
from asgiref.sync import sync_to_async


from webapp.lab.models import Experiment

from .conftest import make_task
from .test_live_access import _closed_with, _open

pytestmark = pytest.mark.django_db(transaction=True)
DEEP = 100_000
BAD_FRAME = 4400  # consumers.BAD_FRAME


def malformed_frames(count, seed=22):
    """[(kind, text or None, bytes or None)]: `count` frames that are not JSON objects."""
    rng = random.Random(seed)

    def text():
        return "".join(chr(rng.randrange(1, 0x2FFF)) for _ in range(rng.randrange(1, 40)))

    makers = [
        ("non-json text", lambda: ("{" + text(), None)),
        ("truncated object", lambda: ('{"type": "resume", "last_event": ' + str(rng.randrange(9)), None)),
        ("array", lambda: (json.dumps([rng.random() for _ in range(rng.randrange(0, 5))]), None)),
        ("array of objects", lambda: (json.dumps([{"type": "resume"}]), None)),
        ("scalar", lambda: (rng.choice(["1", "null", "true", '"resume"', "-0.5e9"]), None)),
        ("deep array", lambda: ("[" * DEEP + "]" * DEEP, None)),
        ("deep object", lambda: ('{"a":' * DEEP + "1" + "}" * DEEP, None)),
        ("binary", lambda: (None, rng.randbytes(rng.randrange(1, 64)))),
        ("binary json", lambda: (None, b'{"type": "ping"}')),
        ("empty text", lambda: ("", None)),
    ]
    return [(kind, *make()) for kind, make in (rng.choice(makers) for _ in range(count))]


@sync_to_async
def _world():
    from django.contrib.auth import get_user_model

    owner = get_user_model().objects.create_user("owner", password="pw-owner-123")
    task = make_task(owner)
    exp = Experiment.objects.create(owner=owner, train_task=task, methods=["sft"], n_values=[4])
    return owner, exp


def test_the_generator_makes_every_kind():
    kinds = {kind for kind, _, _ in malformed_frames(200)}
    assert {"non-json text", "array", "deep array", "deep object", "binary"} <= kinds


@pytest.mark.asyncio
async def test_200_malformed_frames_each_close_with_a_code_and_no_traceback(caplog):
    owner, exp = await _world()
    caplog.set_level(logging.DEBUG)
    codes = {}
    for kind, text, data in malformed_frames(200):
        comm = await _open(exp, owner)
        await comm.send_input({"type": "websocket.receive", **({"text": text} if data is None else {"bytes": data})})
        codes.setdefault(kind, set()).add(await _closed_with(comm))
        await comm.disconnect()
    assert all(found == {BAD_FRAME} for found in codes.values()), codes
    tracebacks = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert not tracebacks, [r.getMessage() for r in tracebacks]


@pytest.mark.parametrize("ids", [{"last_event": 10**30, "last_point": -5}, {"last_event": "x", "last_point": 1e400},
                                 {"last_event": [1], "last_point": {"a": 1}}])
@pytest.mark.asyncio
async def test_a_resume_with_ids_out_of_range_replays_from_the_start(ids):
    owner, exp = await _world()
    comm = await _open(exp, owner)
    await comm.send_json_to({"type": "resume", **ids})
    reply = await comm.receive_json_from(timeout=5)
    assert reply["type"] == "replay"
    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from(timeout=5) == {"type": "pong"}
    await comm.disconnect()
