"""Bad input at the ingest endpoint: every case is a 4xx naming the event, the field and
the limit; nothing of its batch is stored; the server stays healthy."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import Engine

from runstream.codec import encode_batch
from runstream.events import Envelope, MetricsLogged, RunSubmitted, new_event, run_stream
from runstream_server.eventstore import read_events
from tests.server.api import ClientFactory, make_app, post
from tests.server.history import RunWriter, finished_run

BIG = 1 << 63  # one past int64


def _raw(type_: str, data: Any, *, seq: int = 1, stream: str = "run/bad_1", id: str = "bad-id",
         ts: float = 1.0, v: int = 1) -> Envelope:
    body = data if isinstance(data, bytes) else msgspec.msgpack.encode(data)
    return Envelope(id, stream, seq, type_, v, ts, msgspec.Raw(body))


def _metrics(**over: Any) -> dict[str, Any]:
    return {"names": ["loss"], "index": [0], "steps": [0], "times": [1.0], "values": [0.5],
            **over}


def _deep(depth: int) -> bytes:
    # [[[ … ]]] 'depth' levels deep, inside the `values` of a metrics batch.
    nested = b"\x91" * depth + b"\x90"
    head = msgspec.msgpack.encode({"names": ["loss"], "index": [0], "steps": [0],
                                   "times": [1.0]})
    return b"\x85" + head[1:] + msgspec.msgpack.encode("values") + b"\x91" + nested


def _submitted(**over: Any) -> dict[str, Any]:
    return {"project": "iris", "script": "train.py", **over}


# name -> (events after the good `run.submitted` at seq 0 of run/bad_1, status, words the
# error must contain: the field and the limit).
Case = tuple[Callable[[], list[Envelope]], int, tuple[str, ...]]
CASES: dict[str, Case] = {
    "step of 2**63": (lambda: [_raw("metrics.logged", _metrics(steps=[BIG]))],
                      400, ("steps", "2**63-1")),
    "log line `first` of 2**63": (
        lambda: [_raw("log.lines", {"first": BIG, "lines": ["x"], "times": [1.0], "fds": [1]})],
        400, ("first", "2**63-1")),
    "last log line past int64": (
        lambda: [_raw("log.lines", {"first": BIG - 1, "lines": ["x", "y"], "times": [1.0, 1.0],
                                    "fds": [1, 1]})],
        400, ("first", "2**63-1")),
    "exit_code over int64": (
        lambda: [_raw("run.completed", {"status": "failed", "exit_code": BIG})],
        400, ("exit_code", "2**63-1")),
    "exit_code over int32 (a BIGINT column)": (
        lambda: [_raw("run.completed", {"status": "failed", "exit_code": 1 << 40})], 200, ()),
    "artifact size over int64": (
        lambda: [_raw("artifact.added", {"path": "a", "sha256": "a" * 64, "size": BIG})],
        400, ("size", "2**63-1")),
    "envelope seq of 2**63": (lambda: [_raw("metrics.logged", _metrics(), seq=BIG)],
                              400, ("seq", "2**63-1")),
    "envelope v over int32": (lambda: [_raw("future.kind", {}, v=1 << 40)],
                              400, ("`v`", "2**31-1")),
    "ts NaN": (lambda: [_raw("metrics.logged", _metrics(), ts=math.nan)], 400, ("ts", "finite")),
    "ts infinite": (lambda: [_raw("metrics.logged", _metrics(), ts=math.inf)],
                    400, ("ts", "finite")),
    "id twice in a batch": (
        lambda: [_raw("metrics.logged", _metrics(), seq=1, id="twice"),
                 _raw("metrics.logged", _metrics(), seq=2, id="twice")],
        400, ("id", "twice", "event #1")),
    "id already stored in another stream": (
        lambda: [_raw("metrics.logged", _metrics(), seq=1, id="stored-elsewhere")],
        409, ("id", "stored-elsewhere", "other_1")),
    "200k-deep nesting in data": (lambda: [_raw("metrics.logged", _deep(200_000))],
                                  400, ("data", "nest")),
    "200k-deep nesting in an unknown type's data": (
        lambda: [_raw("future.kind", _deep(200_000))], 400, ("data", "nest")),
    "stream over 300 characters": (
        lambda: [_raw("metrics.logged", _metrics(), seq=0, stream="run/" + "x" * 400)],
        400, ("stream", "300")),
    "run id over 200 characters": (
        lambda: [_raw("run.submitted", _submitted(), seq=0, stream="run/" + "r" * 250)],
        400, ("stream", "200")),
    "id over 64 characters": (lambda: [_raw("metrics.logged", _metrics(), id="i" * 65)],
                              400, ("id", "64")),
    "type over 100 characters": (lambda: [_raw("t" * 101, {})], 400, ("type", "100")),
    "NUL in a stream name": (
        lambda: [_raw("run.submitted", _submitted(), seq=0, stream="run/nul\x00x")],
        400, ("stream", "NUL")),
    "NUL in an id": (lambda: [_raw("metrics.logged", _metrics(), id="nul\x00id")],
                     400, ("id", "NUL")),
    "NUL in a project name": (
        lambda: [_raw("run.submitted", _submitted(project="ir\x00is"), seq=0,
                      stream="run/nul_2")], 400, ("project", "NUL")),
    "NUL in a metric name": (lambda: [_raw("metrics.logged", _metrics(names=["lo\x00ss"]))],
                             400, ("names", "NUL")),
    "NUL in a run's end reason": (
        lambda: [_raw("run.completed", {"status": "failed", "reason": "bad\x00"})],
        400, ("reason", "NUL")),
    "NUL in a string metric value (kept: it is stored as bytes)": (
        lambda: [_raw("metrics.logged", _metrics(values=["a\x00b"]))], 200, ()),
    "NUL in a log line (kept: it is stored as bytes)": (
        lambda: [_raw("log.lines", {"first": 0, "lines": ["a\x00b"], "times": [1.0],
                                    "fds": [1]})], 200, ()),
    "quotes and backslashes in an id and a stream (kept)": (
        lambda: [_raw("run.submitted", _submitted(), seq=0, id="it's\\a'); --",
                      stream="run/o'brien\\x")], 200, ()),
    "project name over 500 characters": (
        lambda: [_raw("run.submitted", _submitted(project="p" * 501), seq=0,
                      stream="run/long_1")], 400, ("project", "500")),
    "metric name over 300 characters": (
        lambda: [_raw("metrics.logged", _metrics(names=["m" * 301]))], 400, ("names", "300")),
    "artifact path over 1000 characters": (
        lambda: [_raw("artifact.added", {"path": "p" * 1001, "sha256": "a" * 64, "size": 1})],
        400, ("path", "1000")),
    "invalid UTF-8 in a metric name": (
        lambda: [_raw("metrics.logged", _raw_utf8())], 400, ("data", "UTF-8", "surrogate")),
    "event over 16 MiB": (
        lambda: [_raw("metrics.logged", _metrics(values=["x" * (16 << 20)]))],
        413, ("data", "16,777,216")),
    "an event in a stream only the server writes": (
        lambda: [_raw("model.version_created", {"name": "m", "version": 1, "run_id": "bad_1",
                                                "path": "p", "sha256": "a" * 64, "size": 1},
                      seq=0, stream="model/m")], 400, ("stream", "server only")),
    "seq that leaves a gap": (lambda: [_raw("metrics.logged", _metrics(), seq=5)],
                              409, ("seq", "expected seq 1")),
}


def _raw_utf8() -> bytes:
    good = msgspec.msgpack.encode(_metrics(names=["MAXNAME"]))
    return good.replace(b"\xa7MAXNAME", b"\xa7MA\xed\xa0\x80NA")  # a lone surrogate


@pytest.mark.parametrize("case", list(CASES))
async def test_bad_input_is_a_4xx_naming_the_field_and_nothing_is_stored(
        case: str, engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    other = RunWriter("other_1")
    other.submitted()
    other.emit(MetricsLogged(names=["loss"], index=[0], steps=[0], times=[1.0], values=[0.1]))
    other.events[1] = msgspec.structs.replace(other.events[1], id="stored-elsewhere")
    await post(client, other.events)
    with engine.connect() as conn:
        before = len(read_events(conn))

    make, status, words = CASES[case]
    submitted = new_event(run_stream("bad_1"), 0, RunSubmitted(project="iris", script="t.py"))
    events = make()
    batch = events if events[0].seq == 0 else [submitted, *events]
    resp = await client.post("/api/events", data=encode_batch(batch))
    body = await resp.json()
    assert resp.status == status, body
    if status != 200:
        for word in words:
            assert word in body["error"], (word, body)
        bad = next(i for i, e in enumerate(batch) if e is not submitted)
        if status in (400, 413) and "event" in body:
            assert body["event"] >= bad and body["id"] == batch[body["event"]].id, body
        else:  # a batch too deeply nested to decode has no event to name
            assert status == 409 or "batch" in body["error"], body
        with engine.connect() as conn:
            assert len(read_events(conn)) == before, "part of a refused batch was stored"

    # The server is healthy: a good batch after it is stored and queryable.
    await post(client, finished_run("healthy_1"))
    run = await (await client.get("/api/runs/healthy_1")).json()
    assert run["status"] == "completed"


async def test_bodies_that_are_not_batches_are_refused(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    for body in (b"", b"\xc1", b"garbage", msgspec.msgpack.encode({"not": "a list"}),
                 msgspec.msgpack.encode([{"id": 1}]), b"\x91" * 300_000 + b"\x90"):
        resp = await client.post("/api/events", data=body)
        assert resp.status == 400, (body[:20], await resp.text())
        assert "batch" in (await resp.json())["error"]
    empty = await client.post("/api/events", data=encode_batch([]))
    assert empty.status == 200 and (await empty.json())["stored"] == 0
    await post(client, finished_run("healthy_1"))

