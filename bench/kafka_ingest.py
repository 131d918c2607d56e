"""Metric points from agent to queryable projection through Kafka, beside the embedded
HTTP path, on the same machine in the same run. Prints figures; decides nothing.

    scripts/services/kafka start
    python bench/kafka_ingest.py [--points 1000000] [--per-event 10000] [--runs 2]
                                 [--compression gzip] [--lines 200] [--sdk-points 0]

1. ingest, the agent's own path: for each run, a spool, a stream writer and a shipper
   with the sink under test (``KafkaSink``; ``HttpSink`` to an embedded server; and
   ``HttpSink`` to a Kafka-mode server, whose ingest answers once the consumer group
   applied the batch), as ``runstream submit`` wires them, one run per thread.
   Pre-encoded ``metrics.logged`` payloads of ``--per-event`` points are appended to
   the spool (one fsync'd append each, as the agent appends what the SDK sends); the
   shipper sends what accumulated. The clock
   runs from the first append until the server has applied every event (queryable);
   "on the topic" is when every shipper had its last batch confirmed.
   Then the round trip of one small POST (one ``log.lines`` event; median, p99), to
   the embedded server and to the Kafka-mode one: what a batch waits for its answer.
2. print-to-server latency: a script under ``runstream submit`` prints its clock
   every 50 ms; the time until each line is readable over the API (median, p99;
   includes ~2 ms of polling), through Kafka and over HTTP.
3. with ``--sdk-points N``: a script logging N points one call at a time under
   ``runstream submit``, until all are queryable, through Kafka and over HTTP.

The broker started by ``scripts/services/kafka`` runs with C1 only (fast start,
little CPU); ``RUNSTREAM_KAFKA_JVM_OPTS= scripts/services/kafka start`` gives it the
full JIT. On a 2-core machine the broker, the server and the bench share the cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest import start_server  # noqa: E402
from bench.sdk_agent import THROUGHPUT, latency  # noqa: E402
from runstream.client import ApiError, Client  # noqa: E402
from runstream.codec import encode_batch, encode_payload  # noqa: E402
from runstream.events import (  # noqa: E402
    LogLines,
    MetricsLogged,
    RunSubmitted,
    new_event,
    run_stream,
)
from runstream.httpsink import HttpSink  # noqa: E402
from runstream.kafkasink import KafkaSink  # noqa: E402
from runstream.shipper import Shipper  # noqa: E402
from runstream.sink import Sink  # noqa: E402
from runstream.spool import Spool  # noqa: E402
from runstream.writer import StreamWriter  # noqa: E402

Item = tuple[str, int, bytes, float]


def payloads(run: str, points: int, per_event: int) -> list[Item]:
    """The run's events as the agent's writer gets them: encoded payloads."""
    import random

    rng = random.Random(0)
    now = time.time()
    items: list[Item] = [(RunSubmitted.TYPE, RunSubmitted.VERSION,
                          encode_payload(RunSubmitted(project="bench", script="b.py")), now)]
    for step in range(0, points, per_event):
        n = min(per_event, points - step)
        batch = MetricsLogged(names=["loss"], index=[0] * n, steps=list(range(step, step + n)),
                              times=[now + i * 1e-3 for i in range(n)],
                              values=[rng.random() for _ in range(n)])
        items.append((batch.TYPE, batch.VERSION, encode_payload(batch), now))
    return items


def wait_applied(client: Client, events: int, timeout: float = 600) -> float:
    """Until the server has applied ``events`` events (a cheap status call, so that
    waiting does not load the server being measured); returns when."""
    deadline = time.monotonic() + timeout
    while client.get_json("/api")["position"] < events:
        if time.monotonic() > deadline:
            raise SystemExit(f"not all {events} events applied after {timeout} s")
        time.sleep(0.005)
    return time.perf_counter()


def ship(spool_root: Path, run: str, items: list[Item], sink: Sink,
         done: list[float]) -> None:
    """What ``runstream submit`` does with a run's events: spool, then ship."""
    spool = Spool.create(spool_root, run_stream(run))
    shipper = Shipper(spool, sink).start()
    writer = StreamWriter(spool, shipper.notify)
    for item in items:
        writer.append_encoded([item])
    spool.mark_finished()
    assert shipper.drain(timeout=600), shipper.error or "not delivered"
    done.append(time.perf_counter())
    shipper.close()
    spool.close()
    sink.close()


def round_trips(client: Client, n: int = 200) -> tuple[float, float]:
    """Median and p99 seconds of POSTing one small event, ``n`` times in a row, as a
    shipper sends a quiet run's lines."""
    stream = run_stream(f"rt_{uuid.uuid4().hex[:6]}")
    client.post_events(encode_batch([new_event(stream, 0, RunSubmitted(project="b",
                                                                       script="b.py"))]))
    took = []
    for seq in range(1, n + 1):
        body = encode_batch([new_event(stream, seq, LogLines(first=seq - 1, lines=["x"],
                                                             times=[1.0], fds=[1]))])
        start = time.perf_counter()
        client.post_events(body)
        took.append(time.perf_counter() - start)
    took.sort()
    return took[len(took) // 2], took[int(len(took) * 0.99) - 1]


def ingest(mode: str, args: argparse.Namespace, make_sink: Callable[[str], Sink],
           server_env: dict[str, str]) -> tuple[float, float, tuple[float, float]]:
    runs = [f"bench_{uuid.uuid4().hex[:6]}_{i}" for i in range(args.runs)]
    items = {r: payloads(r, args.points, args.per_event) for r in runs}
    with tempfile.TemporaryDirectory() as tmp:
        server, _url = start_server(Path(tmp) / "server", server_env, args.port)
        try:
            url = f"http://127.0.0.1:{args.port}"
            client = Client(url)
            done: list[float] = []
            threads = [threading.Thread(target=ship, args=(Path(tmp) / "spool", r, items[r],
                                                           make_sink(url), done))
                       for r in runs]
            started = time.perf_counter()
            for t in threads:
                t.start()
            applied = wait_applied(client, sum(len(v) for v in items.values()))
            for t in threads:
                t.join()
            for run in runs:  # and the series really are complete
                got = client.get_json(f"/api/runs/{run}/metrics/loss", format="json")
                assert len(got["steps"]) == args.points, (mode, len(got["steps"]))
            trips = round_trips(client)
        finally:
            server.terminate()
            server.wait()
    total = args.points * args.runs
    return total / (max(done) - started), total / (applied - started), trips


def sdk_throughput(folder: Path, env: dict[str, str], points: int) -> float:
    """A script logging ``points`` one call at a time under ``runstream submit``:
    points/s until all are queryable on the server."""
    import json

    (folder / "throughput.py").write_text(textwrap.dedent(THROUGHPUT))
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "runstream_agent.cli", "submit",
                          "throughput.py", str(points)], cwd=folder, env=env,
                         capture_output=True, text=True, check=True).stdout
    run_id = json.loads(next(line for line in out.splitlines() if line.startswith("{")))["run_id"]
    client = Client(env["RUNSTREAM_URL"])
    while True:
        try:
            got = client.get_json(f"/api/runs/{run_id}/metrics/loss")
            if len(got["steps"]) == points:
                break
        except ApiError:
            pass
        time.sleep(0.01)
    return points / (time.perf_counter() - started)


def end_to_end(args: argparse.Namespace, mode: str) -> dict[str, object]:
    """Latency (and optionally SDK throughput) through real ``runstream submit`` runs."""
    figures: dict[str, object] = {}
    topic = f"bench.{uuid.uuid4().hex[:8]}"
    kafka_env = {"RUNSTREAM_KAFKA": args.kafka, "RUNSTREAM_KAFKA_TOPIC": topic} \
        if mode == "kafka" else {}
    with tempfile.TemporaryDirectory() as tmp:
        base = {k: v for k, v in os.environ.items()
                if k not in ("RUNSTREAM_AGENT_SOCKET", "RUNSTREAM_KAFKA")}
        server, _url = start_server(Path(tmp) / "server", {**base, **kafka_env}, args.port)
        folder = Path(tmp) / "bench"
        folder.mkdir()
        env = {**base, **kafka_env, "RUNSTREAM_URL": f"http://127.0.0.1:{args.port}",
               "RUNSTREAM_SPOOL_DIR": str(Path(tmp) / "spool")}
        try:
            if args.lines:
                figures["latency"] = latency(folder, env, args.lines)
            if args.sdk_points:
                figures["sdk"] = sdk_throughput(folder, env, args.sdk_points)
        finally:
            server.terminate()
            server.wait()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=1_000_000, help="per run")
    parser.add_argument("--per-event", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--kafka", default=os.environ.get("RUNSTREAM_KAFKA", "127.0.0.1:59092"))
    parser.add_argument("--compression", default=None,
                        help="Kafka producer compression (gzip, or lz4/zstd if installed)")
    parser.add_argument("--lines", type=int, default=200,
                        help="lines of the latency run (0: skip it)")
    parser.add_argument("--sdk-points", type=int, default=0,
                        help="points of the SDK end-to-end run (0: skip it)")
    parser.add_argument("--port", type=int, default=8896)
    args = parser.parse_args()
    base = {k: v for k, v in os.environ.items() if k != "RUNSTREAM_KAFKA"}

    topic = f"bench.{uuid.uuid4().hex[:8]}"
    figures = {
        "kafka": ingest("kafka", args, lambda url: KafkaSink(
            args.kafka, topic, blobs=HttpSink(Client(url)), compression=args.compression),
            {**base, "RUNSTREAM_KAFKA": args.kafka, "RUNSTREAM_KAFKA_TOPIC": topic}),
        "http": ingest("http", args, lambda url: HttpSink(Client(url)), base),
        "http-kafka": ingest("http-kafka", args, lambda url: HttpSink(Client(url)), {
            **base, "RUNSTREAM_KAFKA": args.kafka,
            "RUNSTREAM_KAFKA_TOPIC": f"bench.{uuid.uuid4().hex[:8]}"}),
    }
    print(f"{args.runs} runs x {args.points:,} points, {args.per_event:,} points per event, "
          f"through spool + shipper (compression: {args.compression or 'none'})")
    kafka_sent, kafka, _trips = figures["kafka"]
    _sent, http, http_trips = figures["http"]
    _sent, http_kafka, http_kafka_trips = figures["http-kafka"]
    print(f"Kafka: agent spool -> KafkaSink -> topic:                     "
          f"{kafka_sent:12,.0f} points/s")
    print(f"Kafka: agent spool -> topic -> consumer group -> queryable:   "
          f"{kafka:12,.0f} points/s")
    print(f"HTTP:  agent spool -> POST -> ingest endpoint -> queryable:   "
          f"{http:12,.0f} points/s")
    print(f"HTTP to a Kafka-mode server -> topic -> applied -> answered:  "
          f"{http_kafka:12,.0f} points/s")
    print(f"Kafka / HTTP (queryable): {kafka / http:.2f}")
    for name, (median, p99) in (("embedded", http_trips), ("Kafka-mode", http_kafka_trips)):
        print(f"one small POST to the {name} server, round trip: median "
              f"{median * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    if args.lines or args.sdk_points:
        for mode in ("kafka", "http"):
            got = end_to_end(args, mode)
            name = "Kafka" if mode == "kafka" else "HTTP "
            if "latency" in got:
                median, p99, worst = got["latency"]  # type: ignore[misc]
                print(f"{name} print-to-server latency over {args.lines} lines: median "
                      f"{median * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
                      f"max {worst * 1000:.1f} ms")
            if "sdk" in got:
                print(f"{name} SDK log() calls under submit -> queryable: "
                      f"{got['sdk']:12,.0f} points/s")


if __name__ == "__main__":
    main()
