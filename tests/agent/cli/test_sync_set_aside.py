"""``runstream sync`` delivers a spool holding events the server refuses: they are set
aside, an ``event.dropped`` stands in their place, sync lists and then discards them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import msgspec

from runstream.codec import encode_payload
from runstream.events import (
    EventDropped,
    LogLines,
    MetricsLogged,
    RunCompleted,
    RunStarted,
    RunSubmitted,
    run_stream,
)
from runstream.spool import Spool
from runstream.writer import StreamWriter
from tests.conftest import ServerProcess

RUN = "big_1764322000000_ab12"
BIG = 8_000_000  # numbers in one array: a 72 MB event


def points(first: int, n: int) -> MetricsLogged:
    return MetricsLogged(names=["loss"], index=[0] * n, steps=list(range(first, first + n)),
                         times=[1.0] * n, values=[0.5] * n)


def spool_as_todays_code_leaves_it(root: Path) -> Spool:
    """A finished run whose spool holds a 72 MB array and an invalid event between good
    events (as the code before set-aside existed left it: its shipper stopped there)."""
    spool = Spool.create(root, run_stream(RUN))
    writer = StreamWriter(spool)
    writer.append([RunSubmitted(project="big", script="train.py", target="standalone"),
                   RunStarted(pid=1), points(0, 100)])
    huge = MetricsLogged(names=["weights"], index=[0], steps=[0], times=[1.0],
                         values=[[0.25] * BIG])
    writer.append_encoded([(huge.TYPE, huge.VERSION, encode_payload(huge), 1.0)])
    invalid = msgspec.msgpack.encode({"names": ["acc"], "index": [0, 0], "steps": [0],
                                      "times": [1.0], "values": [0.5]})  # lengths differ
    writer.append_encoded([(MetricsLogged.TYPE, 1, invalid, 1.0)])
    writer.append([points(100, 100), LogLines(first=0, lines=["done"], times=[1.0], fds=[1]),
                   RunCompleted(status="completed", exit_code=0)])
    spool.mark_finished()
    return spool


def sync(root: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUNSTREAM_URL": url, "RUNSTREAM_SPOOL_DIR": str(root)}
    return subprocess.run([sys.executable, "-m", "runstream_agent.cli", "sync", *args],
                          env=env, capture_output=True, text=True, timeout=120)


def test_refused_events_are_set_aside_listed_and_discarded(
        tmp_path: Path, server: ServerProcess) -> None:
    root = tmp_path / "spool"
    spool = spool_as_todays_code_leaves_it(root)
    folder = spool.path
    spool.close()

    first = sync(root, server.url)
    assert first.returncode == 0, first.stdout + first.stderr
    listed = [line.strip() for line in first.stdout.splitlines() if line.strip()[:4] == "seq "]
    assert len(listed) == 2, first.stdout
    assert listed[0].startswith("seq 3  metrics.logged v1  72,") and "at most" in listed[0]
    assert listed[1].startswith("seq 4  metrics.logged v1") and "event #" in listed[1]
    assert "--discard-set-aside" in first.stdout and folder.exists()

    client = server.client()
    run = client.get_json(f"/api/runs/{RUN}")
    assert (run["status"], run["dropped"]) == ("completed", 2)
    assert client.get_json(f"/api/runs/{RUN}/metrics/loss")["steps"] == list(range(200))
    events = client.get_json(f"/api/runs/{RUN}/events")
    assert [e["seq"] for e in events] == list(range(8))  # gapless
    assert [e["type"] for e in events][3:5] == [EventDropped.TYPE, EventDropped.TYPE]

    again = sync(root, server.url)  # nothing new is sent, the listing stays
    assert again.returncode == 0 and "seq 3  metrics.logged" in again.stdout

    discard = sync(root, server.url, "--discard-set-aside")
    assert discard.returncode == 0, discard.stdout + discard.stderr
    assert "2 set-aside events discarded" in discard.stdout
    assert not folder.exists()
    assert sync(root, server.url).stdout.startswith("Nothing to send")
    assert client.get_json(f"/api/runs/{RUN}")["dropped"] == 2  # on record for good


def test_sync_help_documents_set_aside_events() -> None:
    done = subprocess.run([sys.executable, "-m", "runstream_agent.cli", "sync", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert "--discard-set-aside" in done.stdout and "set aside" in done.stdout
