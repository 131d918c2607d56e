"""The writer never stalls: a large batch is applied in bounded parts, so another
client's small batch waits for one part, not for the whole batch."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import msgspec
from sqlalchemy import Engine

from runstream.client import Client
from runstream.codec import encode_batch
from runstream.events import RunStarted, RunSubmitted, new_event, run_stream
from runstream_server.eventstore import read_events
from tests.conftest import ServerProcess
from tests.server.api import ClientFactory, make_app, post
from tests.server.history import finished_run
from tests.sideclient import SideClient

RUNS = 16_000
STARTED = 4_000  # 20,000 envelopes in the one batch


def test_16000_new_runs_in_one_post_leave_other_clients_waiting_tens_of_ms(
        server: ServerProcess) -> None:
    t0 = time.time()
    big = [new_event(run_stream(f"sweep_{i:05d}"), 0,
                     RunSubmitted(project="sweep", script="s.py", args=[str(i)]),
                     ts=t0 + i / 1000) for i in range(RUNS)]
    big += [new_event(run_stream(f"sweep_{i:05d}"), 1, RunStarted(pid=i, host="h"),
                      ts=t0 + 100 + i / 1000) for i in range(STARTED)]
    body = encode_batch(big)
    with SideClient(server.url, "probe", timeout=120) as side:
        started = time.perf_counter()
        reply = Client(server.url, timeout=120).post_events(body)
        took = time.perf_counter() - started
    latencies = side.latencies
    assert reply.stored == RUNS + STARTED
    assert took < 60, f"20,000 envelopes took {took:.1f} s"
    assert len(latencies) >= 5, latencies
    median = statistics.median(latencies)
    assert median <= 0.100, (f"another client's single-event POST waited {median * 1000:.0f} ms "
                             f"(median of {len(latencies)}) during the big POST")

    client = server.client()
    listed = client.get_json("/api/runs?project=sweep&sort=number&limit=3")
    assert listed["total"] == RUNS
    assert [r["number"] for r in listed["runs"]] == [1, 2, 3]
    assert [r["run_id"] for r in listed["runs"]] == ["sweep_00000", "sweep_00001", "sweep_00002"]
    last = client.get_json(f"/api/runs/sweep_{RUNS - 1:05d}")
    assert last["number"] == RUNS and last["status"] == "submitted"
    assert client.get_json("/api/runs/sweep_00007")["status"] == "running"


async def test_a_batch_applied_in_parts_is_still_refused_whole(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path, write_part_events=2))
    await post(client, finished_run("stored_1"))
    with engine.connect() as conn:
        stored_id = read_events(conn)[0].id
    runs = [e for i in range(5) for e in finished_run(f"iris_{i}")]  # 13 parts of 2
    gap = msgspec.structs.replace(runs[-1], seq=9)
    reused = msgspec.structs.replace(runs[-1], id=stored_id)
    for last, words in ((gap, "expected seq 4"), (reused, stored_id)):
        resp = await client.post("/api/events", data=encode_batch([*runs[:-1], last]))
        body = await resp.json()
        assert resp.status == 409 and words in body["error"], body
        with engine.connect() as conn:
            assert len(read_events(conn)) == 5, "a part of a refused batch was stored"
    reply = await post(client, runs)
    assert reply["stored"] == len(runs) and reply["position"] == 5 + len(runs)
    listed = await (await client.get("/api/runs", params={"sort": "number"})).json()
    assert [r["run_id"] for r in listed["runs"]] == ["stored_1", *(f"iris_{i}" for i in range(5))]
