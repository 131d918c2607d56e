"""POST /api/events under random and mutated batches: never a 5xx, and the event store
changes only when the answer is 2xx (and then by exactly what the answer says was stored).

Mutations start from a valid batch (a new run's first events) and flip, truncate,
duplicate or insert bytes, or replace one field — of the envelope or of its payload — by an
extreme value, a wrong type, a deep nesting or a huge string.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from runstream.codec import encode_batch
from runstream.events import run_stream
from runstream_server.eventstore import events_table, head_position
from tests.server.api import ClientFactory, make_app
from tests.server.history import RunWriter

FUZZ = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])

# The strategies draw from one fixed batch (hypothesis replays draws, so the bytes must not
# change between runs); each example is then sent for a new run: MARK, in the run id and in
# every event id, is replaced by a fresh name of the same length.
MARK = b"fuzzrun_XXXXXX"
_runs = itertools.count()


def valid_batch() -> bytes:
    """A new run's submitted, started, lines and metrics: accepted as it is."""
    w = RunWriter(MARK.decode())
    w.submitted("train.py", ("--lr", "0.1"))
    w.started()
    w.lines("epoch 1", "epoch 2")
    w.metrics({"loss": [0.5, 0.25], "cm": [[1.0, 2.0]]})
    return encode_batch([msgspec.structs.replace(e, id=f"{MARK.decode()}-{e.seq}", ts=1e9 + i)
                         for i, e in enumerate(w.events)])


def fresh(body: bytes) -> bytes:
    return body.replace(MARK, b"fuzzrun_%06d" % next(_runs))


extreme = st.one_of(
    st.none(), st.booleans(),
    st.sampled_from([0, -1, 2**31, 2**63 - 1, -(2**63), 2**64 - 1]),
    st.integers(-(2**63), 2**64 - 1),  # all that MessagePack holds
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "\x00", "a\x00b", "../../etc/passwd", "run/", "model/x", "\r\n",
                     "\ud7ff\ufffe"]),
    st.sampled_from([301, 70_000, 1 << 20]).map("x".__mul__),  # over every text limit
    st.text(max_size=50), st.binary(max_size=50),
    st.lists(st.integers(-(2**63), 2**63), max_size=5),
    st.dictionaries(st.text(max_size=5), st.integers(-1, 2**63), max_size=3),
)
plain = st.recursive(extreme, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20)


def deep(depth: int, map_: bool) -> bytes:
    """MessagePack nested ``depth`` levels deep, written as bytes (encoding it would recurse)."""
    return (b"\x81\xa1k" if map_ else b"\x91") * depth + b"\xc0"


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    body = valid_batch()
    how = draw(st.sampled_from(["flip", "truncate", "duplicate", "insert", "field", "deep"]))
    if how == "flip":
        at = draw(st.integers(0, len(body) - 1))
        return body[:at] + bytes([body[at] ^ draw(st.integers(1, 255))]) + body[at + 1:]
    if how == "truncate":
        return body[:draw(st.integers(0, len(body) - 1))]
    if how == "duplicate":
        a = draw(st.integers(0, len(body) - 1))
        b = draw(st.integers(a, len(body)))
        return body[:b] + body[a:b] + body[b:]
    if how == "insert":
        at = draw(st.integers(0, len(body)))
        return body[:at] + draw(st.binary(min_size=1, max_size=16)) + body[at:]
    events: list[dict[str, Any]] = msgspec.msgpack.decode(body)
    event = events[draw(st.integers(0, len(events) - 1))]
    if how == "deep":  # spliced as raw bytes into the envelope or into its payload
        nested = msgspec.Raw(deep(draw(st.sampled_from([100, 1_000, 100_000])),
                                  draw(st.booleans())))
        target = event if draw(st.booleans()) else event["data"]
        target[draw(st.sampled_from([*target, "extra"]))] = nested
        return msgspec.msgpack.encode(events)
    target = draw(st.sampled_from([event, event["data"]]))
    key = draw(st.sampled_from([*target, "extra"]))
    if draw(st.booleans()):
        target[key] = draw(plain)
    else:
        target.pop(key, None)
    if draw(st.booleans()):  # some mutations keep the batch's own run, some aim elsewhere
        event["stream"] = draw(st.sampled_from(
            [run_stream("other"), "model/x", "review/x", "nope", "run/../x"]))
    return msgspec.msgpack.encode(events)


bodies = st.one_of(
    st.binary(max_size=300),
    plain.map(msgspec.msgpack.encode),
    st.lists(plain, max_size=3).map(msgspec.msgpack.encode),
    mutated(),
)


@pytest.fixture
async def fuzz_client(engine: Engine, tmp_path: Path,
                      aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    # One server for all of a test's examples (each example's run id is new).
    return await aiohttp_client(make_app(engine, tmp_path))


def store_state(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(events_table)).scalar_one()
        return head_position(conn), int(count)


async def send(client: TestClient[Any, Any], body: bytes) -> tuple[int, Any]:
    resp = await client.post("/api/events", data=fresh(body),
                             headers={"Content-Type": "application/msgpack"})
    return resp.status, await resp.json(content_type=None)


async def check(client: TestClient[Any, Any], engine: Engine, body: bytes) -> None:
    before = store_state(engine)
    status, reply = await send(client, body)
    after = store_state(engine)
    event(f"answered {status}")  # --hypothesis-show-statistics: how many got through
    assert status < 500, (status, reply)
    if 200 <= status < 300:
        assert after[1] == before[1] + reply["stored"], (before, after, reply)
    else:
        assert after == before, f"a {status} answer changed the store: {reply}"
        assert isinstance(reply.get("error"), str) and reply["error"], reply


@FUZZ
@given(body=bodies)
async def test_random_and_mutated_batches_never_get_a_5xx_nor_change_the_store_unless_accepted(
        body: bytes, engine: Engine, fuzz_client: TestClient[Any, Any]) -> None:
    await check(fuzz_client, engine, body)


async def test_the_unmutated_batch_is_accepted(engine: Engine,
                                               fuzz_client: TestClient[Any, Any]) -> None:
    # Guards the fuzzing above: mutations start from a batch the server takes whole.
    status, reply = await send(fuzz_client, valid_batch())
    assert status == 200 and reply["stored"] == 4, reply
