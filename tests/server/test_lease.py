"""Lease expiry: a run whose writer stopped giving signs of life is ended as lost."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import Engine

from runstream.events import RunCompleted, RunHeartbeat, RunStarted
from tests.server.api import ClientFactory, make_app, post
from tests.server.history import RunWriter

FAST = {"lease_check": 0.05, "lease_grace": 2.0}  # a run is lost after 2 leases of silence


def started(run_id: str, lease: float) -> RunWriter:
    w = RunWriter(run_id)
    w.submitted()
    w.emit(RunStarted(pid=1, host="h", lease=lease))
    return w


async def run_view(client: TestClient[Any, Any], run_id: str) -> dict[str, Any]:
    resp = await client.get(f"/api/runs/{run_id}")
    assert resp.status == 200
    body: dict[str, Any] = await resp.json()
    return body


async def wait_for_status(client: TestClient[Any, Any], run_id: str, status: str,
                          within: float, began: float | None = None
                          ) -> tuple[dict[str, Any], float]:
    """Polls until ``status``; answers the view and the seconds since ``began``
    (a ``time.monotonic()``; default now)."""
    began = time.monotonic() if began is None else began
    while True:
        view = await run_view(client, run_id)
        if view["status"] == status or time.monotonic() - began > within:
            return view, time.monotonic() - began
        await asyncio.sleep(0.02)


async def test_a_silent_run_is_failed_as_lost_once_its_lease_expired(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path, **FAST))
    w = started("iris_1", lease=0.5)
    # Silence is counted from when the server recorded the last event, which is after
    # this instant however slow the post (PostgreSQL in CI took over 0.4 s).
    before_post = time.monotonic()
    await post(client, w.events)
    assert (await run_view(client, "iris_1"))["status"] == "running"
    view, took = await wait_for_status(client, "iris_1", "failed", within=5,
                                       began=before_post)
    assert view["status"] == "failed", view
    assert view["reason"].startswith("agent lost: no sign of life for ")
    assert "(lease 0.5 s)" in view["reason"]
    assert view["ended"] is not None and view["duration"] is not None
    assert 0.95 <= took < 4  # 2 leases of grace, then the next look
    audit = await (await client.get("/api/runs/iris_1/events")).json()
    lost = [a for a in audit if a["type"] == "run.lost"]
    assert [a["stream"] for a in lost] == ["review/iris_1"]  # never the writer's stream
    await asyncio.sleep(0.5)  # expired once, not at every look
    audit = await (await client.get("/api/runs/iris_1/events")).json()
    assert len([a for a in audit if a["type"] == "run.lost"]) == 1


async def test_a_run_that_gives_signs_of_life_is_not_expired(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path, **FAST))
    w = started("iris_1", lease=0.3)
    await post(client, w.events)
    sent = len(w.events)
    for _ in range(15):  # 1.5 s, five leases: a heartbeat every third of one
        await asyncio.sleep(0.1)
        w.emit(RunHeartbeat(lease=0.3))
        await post(client, w.events[sent:])
        sent = len(w.events)
    assert (await run_view(client, "iris_1"))["status"] == "running"
    w.emit(RunCompleted(status="completed", exit_code=0))
    await post(client, w.events[sent:])
    await asyncio.sleep(0.8)
    view = await run_view(client, "iris_1")
    assert (view["status"], view["reason"]) == ("completed", "")


async def test_a_run_without_a_lease_is_never_expired(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path, **FAST))
    await post(client, started("iris_1", lease=0.0).events)  # an agent of before leases
    await asyncio.sleep(1.0)
    assert (await run_view(client, "iris_1"))["status"] == "running"


async def test_the_writers_own_late_end_wins_over_lost(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path, **FAST))
    w = started("iris_1", lease=0.2)
    await post(client, w.events)
    view, _ = await wait_for_status(client, "iris_1", "failed", within=5)
    assert view["reason"].startswith("agent lost")
    end = w.emit(RunCompleted(status="completed", exit_code=0))  # it was only cut off
    await post(client, [end])
    view = await run_view(client, "iris_1")
    assert (view["status"], view["reason"], view["exit_code"]) == ("completed", "", 0)


async def test_a_restarted_server_gives_every_run_a_full_grace_first(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    first = await aiohttp_client(make_app(engine, tmp_path, **{**FAST, "lease_check": 0}))
    w = started("iris_1", lease=0.5)
    await post(first, w.events)
    await first.close()  # the server is down …
    await asyncio.sleep(1.5)  # … for longer than the grace (2 leases = 1 s)
    restarted = time.monotonic()  # before the app starts, so before its grace does
    again = await aiohttp_client(make_app(engine, tmp_path, **FAST))
    await asyncio.sleep(0.5)  # looked ten times since its start
    assert (await run_view(again, "iris_1"))["status"] == "running"
    view, _ = await wait_for_status(again, "iris_1", "failed", within=5)
    # A full grace (1 s) after the restart, not at once: measured from before the start,
    # however long the start itself took.
    assert view["status"] == "failed" and time.monotonic() - restarted >= 1.0


@pytest.mark.kafka
def test_in_kafka_mode_the_lost_run_is_written_through_the_topic(
        tmp_path: Path, kafka_bootstrap: str) -> None:
    from tests.server.kafka.test_kafka_server import eventually, kafka_server, produce

    topic = f"test.{uuid.uuid4().hex[:10]}"
    server = kafka_server(tmp_path, kafka_bootstrap, topic)
    server.env.update({"RUNSTREAM_LEASE_CHECK": "0.1", "RUNSTREAM_LEASE_GRACE": "2"})
    server.start()
    try:
        client = server.client()
        produce(kafka_bootstrap, topic, started("iris_1", lease=0.3).events)  # as an agent
        view = eventually(lambda: (v := client.get_json("/api/runs/iris_1"))["status"] ==
                          "failed" and v)
        assert view["reason"].startswith("agent lost: no sign of life")
        audit = client.get_json("/api/runs/iris_1/events")
        assert [(a["stream"], a["type"]) for a in audit][-1] == ("review/iris_1", "run.lost")
    finally:
        server.stop()
