"""``runstream submit`` shipping through a real Kafka broker to a real Kafka-mode server:
agent → spool → Kafka sink → topic → consumer group → projections."""

from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runstream.client import ApiError, Client
from tests.agent.cli.test_run import all_lines, env_for, project, run_id_in, wait_for_status
from tests.conftest import ServerProcess, free_port
from tests.kafka_broker import Broker, server_group, wait_consumed
from tests.server.kafka.test_kafka_server import kafka_server

pytestmark = pytest.mark.kafka

TRAIN = """
    import os, sys, runstream
    logger = runstream.get_logger()
    print("hello", sys.argv[1:])
    for epoch in range(500):
        print(f"epoch {epoch}")
        logger.log("loss", 1.0 / (epoch + 1))
        if epoch % 100 == 0:
            logger.log("curve", [epoch, epoch + 0.5])
            print(f"warning {epoch}", file=sys.stderr)
    logger.log("note", "done")
    os.makedirs("outputs", exist_ok=True)
    open("outputs/model.pkl", "wb").write(b"weights")
"""


@pytest.fixture
def topic() -> str:
    return f"agent.{uuid.uuid4().hex[:10]}"


@pytest.fixture
def server_on_kafka(tmp_path: Path, kafka_bootstrap: str, topic: str) -> Iterator[ServerProcess]:
    server = kafka_server(tmp_path, kafka_bootstrap, topic).start()
    yield server
    server.stop()


def submit(tmp_path: Path, url: str, *args: str, env: dict[str, str] | None = None,
           timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runstream_agent.cli", *args],
                          cwd=tmp_path / "iris", env={**env_for(tmp_path, url), **(env or {})},
                          capture_output=True, text=True, timeout=timeout)


def kafka_env(bootstrap: str, topic: str) -> dict[str, str]:
    return {"RUNSTREAM_KAFKA": bootstrap, "RUNSTREAM_KAFKA_TOPIC": topic}


def assert_complete_train_run(client: Client, run_id: str) -> None:
    run = client.get_json(f"/api/runs/{run_id}")
    assert (run["status"], run["number"], run["args"]) == ("completed", 1, ["--alpha", "0.5"])
    assert client.has_blob(run["snapshot"])
    lines = all_lines(client, run_id)
    assert [n for n, *_rest in lines] == list(range(len(lines)))
    stdout = [text for _n, _t, fd, text in lines if fd == 1]
    assert stdout == ["hello ['--alpha', '0.5']"] + [f"epoch {i}" for i in range(500)]
    assert [text for _n, _t, fd, text in lines if fd == 2] == [
        f"warning {i}" for i in range(0, 500, 100)]
    loss = client.get_json(f"/api/runs/{run_id}/metrics/loss")
    assert loss["steps"] == list(range(500))
    assert loss["values"] == [1.0 / (i + 1) for i in range(500)]
    curve = client.get_json(f"/api/runs/{run_id}/metrics/curve")
    assert [p["value"] for p in curve["points"]] == [[i, i + 0.5] for i in range(0, 500, 100)]
    [artifact] = client.get_json(f"/api/runs/{run_id}/artifacts")
    assert artifact["path"] == "outputs/model.pkl" and client.has_blob(artifact["sha256"])
    seqs = [e["seq"] for e in client.get_json(f"/api/runs/{run_id}/events")]
    assert seqs == list(range(len(seqs)))
    assert client.get_json("/api/dead-letters") == []


def test_a_target_with_a_kafka_broker_ships_everything_in_order(
        tmp_path: Path, server_on_kafka: ServerProcess, kafka_bootstrap: str,
        topic: str) -> None:
    root = project(tmp_path, TRAIN)
    (root / "runstream.toml").write_text(
        f'[targets.cluster]\nkafka = "{kafka_bootstrap}"\ntopic = "{topic}"\n')
    done = submit(tmp_path, server_on_kafka.url, "submit", "-c", "cluster", "train.py",
                  "--alpha", "0.5")
    assert done.returncode == 0, done.stderr
    run_id = run_id_in(done.stdout)
    footer = done.stdout.split("Execution Details", 1)[1]
    assert "Status: Completed" in footer and "Number: 1" in footer
    assert "Undelivered" not in footer
    wait_consumed(kafka_bootstrap, topic, server_group(topic))
    assert_complete_train_run(server_on_kafka.client(), run_id)
    assert list((tmp_path / "spool").glob("run*")) == []


def test_a_standalone_script_ships_through_kafka_when_the_environment_says_so(
        tmp_path: Path, server_on_kafka: ServerProcess, kafka_bootstrap: str,
        topic: str) -> None:
    root = project(tmp_path, """
        import runstream
        logger = runstream.get_logger()
        for i in range(1000):
            logger.log("loss", i / 1000)
        print(logger.run_id)
    """)
    done = subprocess.run([sys.executable, "train.py"], cwd=root, capture_output=True,
                          text=True, timeout=60,
                          env={**env_for(tmp_path, server_on_kafka.url),
                               **kafka_env(kafka_bootstrap, topic)})
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    client = server_on_kafka.client()
    run = wait_for_status(client, run_id)
    assert (run["status"], run["target"]) == ("completed", "standalone")
    loss = client.get_json(f"/api/runs/{run_id}/metrics/loss")
    assert loss["steps"] == list(range(1000))
    assert list((tmp_path / "spool").glob("run*")) == []


def test_a_run_submitted_while_kafka_is_down_is_delivered_by_sync(
        tmp_path: Path, server_on_kafka: ServerProcess, kafka_bootstrap: str,
        topic: str) -> None:
    project(tmp_path, TRAIN)
    dead = kafka_env(f"127.0.0.1:{free_port()}", topic)
    done = submit(tmp_path, server_on_kafka.url, "submit", "train.py", "--alpha", "0.5",
                  env=dead)
    assert done.returncode == 0, done.stderr
    assert "Undelivered" in done.stdout and "cannot reach Kafka" in done.stderr
    run_id = run_id_in(done.stdout)
    synced = submit(tmp_path, server_on_kafka.url, "sync", "--kafka", kafka_bootstrap,
                    env=dead)
    assert synced.returncode == 0, synced.stderr
    assert f"run/{run_id}:" in synced.stdout and f"to Kafka at {kafka_bootstrap}" in synced.stdout
    wait_consumed(kafka_bootstrap, topic, server_group(topic))
    assert_complete_train_run(server_on_kafka.client(), run_id)
    assert list((tmp_path / "spool").glob("run*")) == []


def test_a_printed_line_is_on_the_server_within_100_ms_through_kafka(
        tmp_path: Path, server_on_kafka: ServerProcess, kafka_bootstrap: str,
        topic: str) -> None:
    """Lines printed slowly, each with its print time; the test polls the logs API."""
    project(tmp_path, """
        import time
        for i in range(40):
            print(repr(time.time()))
            time.sleep(0.05)
    """)
    proc = subprocess.Popen(
        [sys.executable, "-m", "runstream_agent.cli", "submit", "train.py"],
        cwd=tmp_path / "iris", stdout=subprocess.PIPE, text=True,
        env={**env_for(tmp_path, server_on_kafka.url), **kafka_env(kafka_bootstrap, topic)})
    assert proc.stdout is not None
    run_id = run_id_in(proc.stdout.readline())
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    client = server_on_kafka.client()
    latencies: list[float] = []
    deadline = time.monotonic() + 30
    while len(latencies) < 40 and time.monotonic() < deadline:
        try:
            page: dict[str, Any] = client.get_json(f"/api/runs/{run_id}/logs",
                                                   start=len(latencies))
        except ApiError:
            page = {"lines": []}
        now = time.time()
        latencies += [now - float(text) for *_r, text in page["lines"]]
        time.sleep(0.002)
    proc.wait(60)
    assert len(latencies) == 40
    print(f"print-to-server latency through Kafka: median "
          f"{statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms")
    assert statistics.median(latencies) < 0.1, sorted(latencies)


OUTAGE_SCRIPT = """
    import sys, time, runstream
    logger = runstream.get_logger()
    n, pause = int(sys.argv[1]), float(sys.argv[2])
    for i in range(n):
        print(f"line {i}")
        logger.log("step", i)
        time.sleep(pause)
"""


@pytest.fixture
def own_broker(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Broker]:
    """A broker this test may stop (the shared one stays up for the others)."""
    broker = Broker(tmp_path / "broker")
    broker.start()
    yield broker
    broker.stop()


def test_a_broker_stopped_for_10_s_while_runs_print_loses_and_duplicates_nothing(
        tmp_path: Path, own_broker: Broker, topic: str) -> None:
    project(tmp_path, OUTAGE_SCRIPT)
    server = kafka_server(tmp_path, own_broker.bootstrap, topic).start()
    client = server.client()
    env = {**env_for(tmp_path, server.url), **kafka_env(own_broker.bootstrap, topic),
           "RUNSTREAM_EXIT_PATIENCE": "120"}
    # Two runs print through the whole outage; the third ends while the broker is down.
    plans = [(2_000, 0.01), (1_500, 0.013), (400, 0.015)]
    procs = [subprocess.Popen(
        [sys.executable, "-m", "runstream_agent.cli", "submit", "train.py", str(n), str(p)],
        cwd=tmp_path / "iris", env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True) for n, p in plans]
    try:
        deadline = time.monotonic() + 60
        while client.get_json("/api/runs")["total"] < len(plans):
            assert time.monotonic() < deadline, "the runs did not reach the server"
            time.sleep(0.1)
        own_broker.stop()
        time.sleep(10)
        own_broker.start()
        outputs = [p.communicate(timeout=240) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for (out, err), p in zip(outputs, procs, strict=True):
        assert p.returncode == 0, err[-3000:]
        assert "Undelivered" not in out
    assert any("cannot reach Kafka" in err or "did not confirm" in err for _out, err in outputs)
    ids = [run_id_in(out) for out, _err in outputs]
    for run_id, (n, _pause) in zip(ids, plans, strict=True):
        run = wait_for_status(client, run_id, timeout=120)
        assert run["status"] == "completed"
        lines = all_lines(client, run_id)
        assert [text for *_r, text in lines] == [f"line {i}" for i in range(n)]
        assert [k for k, *_r in lines] == list(range(n))
        steps = client.get_json(f"/api/runs/{run_id}/metrics/step")
        assert steps["steps"] == list(range(n)) and steps["values"] == list(range(n))
        seqs = [e["seq"] for e in client.get_json(f"/api/runs/{run_id}/events")]
        assert seqs == list(range(len(seqs)))
    assert sorted(client.get_json(f"/api/runs/{r}")["number"] for r in ids) == [1, 2, 3]
    assert client.get_json("/api/dead-letters") == []
    # Every event is in the store once: the position counts stored events.
    total = sum(len(client.get_json(f"/api/runs/{r}/events")) for r in ids)
    assert client.get_json("/api")["position"] == total
    server.stop()
