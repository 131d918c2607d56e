"""Metric points from agent to queryable projection through Kafka, beside the embedded
HTTP path, on the same machine in the same run. Prints figures; decides nothing.

    scripts/services/kafka start
    python bench/kafka_ingest.py [--points 1000000] [--per-event 10000] [--runs 4]

The agent side sends each stream's batches as Kafka records (key = stream, value =
an encoded batch, as runstream's Kafka sink does) with an idempotent, acks=all
producer; the clock stops when every run's series is complete on the server.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest import make_batches, start_server  # noqa: E402
from runstream.client import Client  # noqa: E402
from runstream_server.kafka import KafkaSettings  # noqa: E402
from runstream_server.kafka.log import producer  # noqa: E402


def wait_complete(client: Client, events: int, timeout: float = 300) -> None:
    """Until the server has applied ``events`` events (a cheap status call, so that
    waiting does not load the server being measured)."""
    deadline = time.monotonic() + timeout
    while client.get_json("/api")["position"] < events:
        if time.monotonic() > deadline:
            raise SystemExit(f"not all {events} events applied after {timeout} s")
        time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=1_000_000, help="per run")
    parser.add_argument("--per-event", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--kafka", default=os.environ.get("RUNSTREAM_KAFKA", "127.0.0.1:59092"))
    parser.add_argument("--port", type=int, default=8896)
    args = parser.parse_args()
    total = args.points * args.runs
    runs = [f"bench_{i}" for i in range(args.runs)]
    bodies = {r: make_batches(r, args.points, args.per_event, 1) for r in runs}
    figures = {}

    for mode in ("kafka", "http"):
        topic = f"bench.{uuid.uuid4().hex[:8]}"
        env_kafka = {"RUNSTREAM_KAFKA": args.kafka, "RUNSTREAM_KAFKA_TOPIC": topic} \
            if mode == "kafka" else {}
        with tempfile.TemporaryDirectory() as tmp:
            os.environ.update(env_kafka)
            server = start_server(Path(tmp), args.port, "")
            for key in env_kafka:
                del os.environ[key]
            try:
                client = Client(f"http://127.0.0.1:{args.port}")
                started = time.perf_counter()
                if mode == "kafka":
                    prod = producer(KafkaSettings(args.kafka, topic))
                    for run in runs:
                        for body in bodies[run]:
                            prod.send(topic, key=f"run/{run}".encode(), value=body)
                    prod.flush()
                    prod.close()
                else:
                    for run in runs:
                        for body in bodies[run]:
                            client.post_events(body)
                wait_complete(client, sum(len(b) for b in bodies.values()))
                elapsed = time.perf_counter() - started
                for run in runs:  # and the series really are complete
                    got = client.get_json(f"/api/runs/{run}/metrics/loss")
                    assert len(got["steps"]) == args.points
                figures[mode] = total / elapsed
            finally:
                server.terminate()
                server.wait()
    print(f"{args.runs} runs x {args.points:,} points, {args.per_event:,} points per event")
    print(f"Kafka: agent producer -> topic -> consumer group -> queryable: "
          f"{figures['kafka']:12,.0f} points/s")
    print(f"HTTP:  agent POST -> ingest endpoint -> queryable:              "
          f"{figures['http']:12,.0f} points/s")
    print(f"Kafka / HTTP: {figures['kafka'] / figures['http']:.2f}")


if __name__ == "__main__":
    main()
