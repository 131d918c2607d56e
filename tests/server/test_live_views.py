"""The ``runs`` topic: the server's folded run views, live, numbered, resumable; and
subscriptions named by the client's ids."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

from aiohttp import ClientWebSocketResponse
from aiohttp.test_utils import TestClient
from sqlalchemy import Engine

from runstream.events import RunSubmitted
from runstream_server.live import Hub, touched_runs
from runstream_server.services import services_key
from tests.server.api import ClientFactory, make_app, post
from tests.server.history import RunWriter, finished_run


async def frame(ws: ClientWebSocketResponse) -> dict[str, Any]:
    async with asyncio.timeout(10):
        got: dict[str, Any] = json.loads((await ws.receive()).data)
    return got


async def until_live(ws: ClientWebSocketResponse) -> tuple[list[dict[str, Any]], int]:
    """The views of a ``runs`` backlog, and the live frame's position."""
    views: list[dict[str, Any]] = []
    while True:
        f = await frame(ws)
        assert f["topic"] == "runs", f
        if f.get("live"):
            assert f["views"] == []
            return views, f["position"]
        assert f["backlog"] is True
        views.extend(f["views"])


def hub_of(client: TestClient[Any, Any]) -> Hub:
    return client.server.app[services_key].hub


async def test_the_backlog_is_every_view_changed_after_the_position_in_order(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    await post(client, finished_run("iris_1"))  # positions 1..5
    await post(client, finished_run("iris_2", accuracy=0.7))  # 6..10
    await post(client, finished_run("iris_3", accuracy=0.8))  # 11..15
    ws = await client.ws_connect("/api/ws")
    await ws.send_json({"subscribe": "runs", "after": 5})
    views, position = await until_live(ws)
    assert [(v["run_id"], v["number"], v["position"]) for v in views] == [
        ("iris_2", 2, 10), ("iris_3", 3, 15)]
    assert views[0]["metrics"] == {"Accuracy": 0.7} and views[0]["status"] == "completed"
    assert position == 15
    # Exactly what GET /api/runs/<id> answers.
    assert views[1] == await (await client.get("/api/runs/iris_3")).json()
    await ws.close()


async def test_a_commit_sends_the_changed_views_numbered_with_their_latest_metrics(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    await post(client, finished_run("iris_1"))
    ws = await client.ws_connect("/api/ws")
    await ws.send_json({"subscribe": "runs", "after": 5})
    assert await until_live(ws) == ([], 5)
    w = RunWriter("iris_2")
    w.submitted()
    w.started()
    await post(client, w.events)
    f = await frame(ws)
    assert f["id"] == "runs" and f["position"] == 7 and "backlog" not in f
    assert [(v["run_id"], v["number"], v["status"]) for v in f["views"]] == [
        ("iris_2", 2, "running")]
    w.events.clear()
    w.metrics({"loss": [0.5, 0.25], "curve": [[1.0, 2.0]]})
    w.completed()
    await post(client, w.events)
    f = await frame(ws)
    [view] = f["views"]
    assert f["position"] == 9
    assert (view["status"], view["metrics"], view["number"], view["position"]) == (
        "completed", {"loss": 0.25}, 2, 9)
    await ws.close()


async def test_batches_that_touch_no_run_send_no_views_and_events_topics_still_work(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    ws = await client.ws_connect("/api/ws")
    await ws.send_json({"subscribe": "runs", "after": 0})
    await ws.send_json({"subscribe": "jobs", "after": 0})
    assert await until_live(ws) == ([], 0)
    assert (await frame(ws))["live"] is True  # jobs
    await post(client, finished_run("iris_1"))
    kinds: dict[str, int] = {}
    while sum(kinds.values()) < 4:  # 3 life-cycle events on jobs, then the run's view
        f = await frame(ws)
        kinds[f["id"]] = kinds.get(f["id"], 0) + len(f.get("events", f.get("views", [])))
        if f["id"] == "runs" and f["views"][0]["status"] == "completed":
            kinds["runs"] = 1
    assert kinds == {"jobs": 3, "runs": 1}
    await ws.close()


async def test_resuming_from_frame_positions_misses_no_change_whatever_the_interleaving(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    """Runs written in interleaved batches while a client follows ``runs``, drops its
    connection at random moments and resumes from the greatest frame position it got:
    keeping the view with the greatest position per run, it ends with exactly what
    the server's list holds."""
    rng = random.Random(7)
    client = await aiohttp_client(make_app(engine, tmp_path))
    writers = [RunWriter(f"iris_{i}") for i in range(5)]
    for w in writers:
        w.submitted()
    batches = [[e] for e in (w.events[0] for w in writers)]
    for step in range(60):
        w = rng.choice(writers)
        before = len(w.events)
        if step % 3 == 0:
            w.lines(f"line {step}")
        w.metrics({"loss": [1.0 / (step + 1)]}, first_step=step)
        batches.append(w.events[before:])
    for w in writers:
        before = len(w.events)
        w.completed()
        batches.append(w.events[before:])
    # Some runs' events come together in one batch, like a shipper's.
    merged = []
    while batches:
        k = rng.randint(1, 3)
        merged.append([e for b in batches[:k] for e in b])
        batches = batches[k:]

    async def produce() -> None:
        for batch in merged:
            await post(client, batch)
            await asyncio.sleep(rng.random() * 0.004)

    held: dict[str, dict[str, Any]] = {}
    resume = 0
    producer = asyncio.create_task(produce())
    reconnects = 0

    def expected_done() -> bool:
        return producer.done() and all(
            held.get(w.run_id, {}).get("status") == "completed" for w in writers)

    while not expected_done():
        ws = await client.ws_connect("/api/ws")
        await ws.send_json({"subscribe": "runs", "after": resume})
        for _ in range(rng.randint(1, 12)):
            try:
                f = await frame(ws)
            except TimeoutError:
                break
            for v in f["views"]:
                old = held.get(v["run_id"])
                if old is None or old["position"] <= v["position"]:  # the later at a tie
                    held[v["run_id"]] = v
            resume = max(resume, f["position"])
            if expected_done():
                break
        await ws.close()
        reconnects += 1
    await producer
    listed = (await (await client.get("/api/runs", params={"archived": "include"})).json())
    assert reconnects > 3
    assert sorted(held.values(), key=lambda v: v["run_id"]) == sorted(
        listed["runs"], key=lambda v: v["run_id"])


async def test_a_view_read_late_never_hides_another_runs_change_in_the_next_batch() -> None:
    """Views are snapshots read after their batch: a late read may carry a position past
    the next batch's. The feed sends every batch's views anyway."""
    from runstream_server.live import ViewBacklog, ViewBatch
    from runstream_server.projections.runs import RunView

    hub = Hub()
    got: list[dict[str, Any]] = []

    async def records(text: bytes) -> None:
        got.append(json.loads(text))

    async def no_views(_after: int) -> list[RunView]:
        return []

    async def no_events(_flt: Any, _after: int) -> list[Any]:
        return []

    async def none_renumbered(_after: int, _since: int) -> list[RunView]:
        return []

    sub = hub.new_subscriber(records, lambda: None)
    task = asyncio.create_task(sub.run(no_events, ViewBacklog(no_views, none_renumbered)))
    sub.subscribe("runs", 0)
    await asyncio.sleep(0.01)
    # Batch 1 (up to 10) changed run a; its view was read after batch 2 committed (20).
    hub.publish([], ViewBatch([RunView(run_id="a", project="p", position=20)], 10))
    hub.publish([], ViewBatch([RunView(run_id="b", project="p", position=15)], 20))
    await asyncio.sleep(0.01)
    task.cancel()
    assert [(f.get("live"), [v["run_id"] for v in f["views"]], f["position"]) for f in got] == [
        (True, [], 0), (None, ["a"], 10), (None, ["b"], 20)]


async def test_views_are_read_once_per_batch_whatever_the_number_of_followers(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    hub = hub_of(client)
    reads: list[set[str]] = []
    assert hub.views is not None
    read = hub.views

    def counting(events: Any) -> Any:
        reads.append(touched_runs(events))
        return read(events)

    hub.views = counting
    published: list[int] = []
    publish = hub.publish

    def counting_publish(events: Any, views: Any = None) -> None:
        published.append(len(events))
        publish(events, views)

    hub.publish = counting_publish  # type: ignore[method-assign]
    await post(client, finished_run("iris_0"))
    assert reads == []  # nobody follows runs: nothing read
    sockets = [await client.ws_connect("/api/ws") for _ in range(3)]
    for ws in sockets:
        await ws.send_json({"subscribe": "runs", "after": 5})
        assert await until_live(ws) == ([], 5)
    published.clear()
    for i in range(1, 4):
        await post(client, finished_run(f"iris_{i}"))
    for ws in sockets:
        last: dict[str, Any] = {}
        while last.get("run_id") != "iris_3" or last.get("status") != "completed":
            last = (await frame(ws))["views"][-1]
    assert len(reads) == len(published) >= 3
    assert set().union(*reads) == {"iris_1", "iris_2", "iris_3"}
    for ws in sockets:
        await ws.close()


async def test_subscription_ids_let_one_connection_follow_one_topic_twice(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    w = RunWriter("iris_1")
    w.submitted()
    for i in range(6):
        w.lines(f"line {i}")
    await post(client, w.events)  # lines at positions 2..7
    ws = await client.ws_connect("/api/ws")
    await ws.send_json({"subscribe": "log/iris_1", "after": 0, "id": "drawer"})
    await ws.send_json({"subscribe": "log/iris_1", "after": 5, "id": "page"})
    got: dict[str, list[int]] = {"drawer": [], "page": []}
    live: dict[str, int] = {}
    while len(live) < 2:
        f = await frame(ws)
        assert f["topic"] == "log/iris_1"
        got[f["id"]] += [e["position"] for e in f["events"]]
        if f.get("live"):
            live[f["id"]] = f["position"]
    assert got == {"drawer": [2, 3, 4, 5, 6, 7], "page": [6, 7]}
    assert live == {"drawer": 7, "page": 7}
    await ws.send_json({"unsubscribe": "drawer"})
    await ws.send_json({"subscribe": "jobs", "after": 7})  # id: the topic, as before
    assert (await frame(ws)) == {"topic": "jobs", "id": "jobs", "events": [], "live": True,
                                 "position": 7}
    w.events.clear()
    w.lines("line 6")
    await post(client, w.events)
    f = await frame(ws)
    assert (f["id"], [e["position"] for e in f["events"]]) == ("page", [8])
    await ws.send_json({"unsubscribe": "page", "id": "x"})
    reply = await frame(ws)
    assert reply["field"] == "id" and "unsubscribe names" in reply["error"]
    await ws.close()


def submitted_at(run_id: str, ts: float) -> RunWriter:
    w = RunWriter(run_id)
    w.emit(RunSubmitted(project="iris", script="train.py"), ts=ts)
    return w


async def test_a_run_submitted_late_sends_the_runs_it_renumbered(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    """Numbers follow submission time: a run that arrives late (a spool synced, another
    Kafka partition) moves the runs after it, whose own views did not change."""
    client = await aiohttp_client(make_app(engine, tmp_path))
    await post(client, submitted_at("late_b", 2_000.0).events)  # position 1
    await post(client, submitted_at("late_c", 3_000.0).events)  # 2
    ws = await client.ws_connect("/api/ws")
    await ws.send_json({"subscribe": "runs", "after": 2})
    assert await until_live(ws) == ([], 2)
    await post(client, submitted_at("late_a", 1_000.0).events)  # 3: before both
    f = await frame(ws)
    assert f["position"] == 3
    assert sorted((v["run_id"], v["number"], v["position"]) for v in f["views"]) == [
        ("late_a", 1, 3), ("late_b", 2, 1), ("late_c", 3, 2)]
    await ws.close()


async def test_a_resume_brings_the_runs_renumbered_while_away(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    await post(client, submitted_at("late_b", 2_000.0).events)  # 1
    await post(client, submitted_at("late_c", 3_000.0).events)  # 2
    await post(client, submitted_at("late_a", 1_000.0).events)  # 3, while away
    ws = await client.ws_connect("/api/ws")
    await ws.send_json({"subscribe": "runs", "after": 2})
    views, position = await until_live(ws)
    assert position == 3
    assert sorted((v["run_id"], v["number"]) for v in views) == [
        ("late_a", 1), ("late_b", 2), ("late_c", 3)]
    # From the start, every view once, numbered as the list numbers them.
    await ws.send_json({"subscribe": "runs", "after": 0, "id": "all"})
    views = []
    while True:
        f = await frame(ws)
        if f.get("live"):
            break
        views += f["views"]
    listed = (await (await client.get("/api/runs")).json())["runs"]
    assert sorted(views, key=lambda v: v["run_id"]) == sorted(listed, key=lambda v: v["run_id"])
    await ws.close()


async def test_many_runs_are_numbered_as_few_are_and_as_the_list_numbers_them(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    from runstream_server.queries import run_views

    client = await aiohttp_client(make_app(engine, tmp_path))
    rng = random.Random(3)
    events = []
    for i in range(70):
        w = RunWriter(f"r{i:02d}", project="iris" if i % 3 else "wine")
        w.emit(RunSubmitted(project=w.project, script="train.py"),
               ts=float(rng.randint(0, 40)))  # ties too: numbered by run id then
        events += w.events
    await post(client, events)
    ids = [f"r{i:02d}" for i in range(70)]
    with engine.connect() as conn:
        together = {v.run_id: v.number for v in run_views(conn, ids)}  # all at once
        alone = {i: run_views(conn, [i])[0].number for i in ids}  # counted one by one
    listed = (await (await client.get("/api/runs", params={"limit": 100})).json())["runs"]
    assert together == alone == {v["run_id"]: v["number"] for v in listed}
    assert sorted(together.values()) == sorted([*range(1, 25), *range(1, 47)])  # wine, iris
