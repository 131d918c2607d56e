"""Ingest, read and replay throughput of the embedded server (SQLite by default).

Prints figures; decides nothing. Each figure stands beside the raw insert rate
of the same database on the same machine, as a ratio, because this machine is
shared and noisy: compare ratios, not absolute numbers, across runs.

    python bench/ingest.py [--points 1000000] [--per-event 10000] [--database-url URL]

1. ingest: metric points posted as HTTP batches (MessagePack) to a real
   `runstream server` process, until the last batch is acknowledged, which
   means appended and projected in one transaction: queryable.
2. read: one 100,000-point series over HTTP, and through the query function.
3. replay: every projection rebuilt from the event store.
4. raw: the same number of points inserted as plain rows (run, name, step,
   time, value) with executemany in one transaction, no runstream involved.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, insert

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runstream.client import Client, ServerUnreachable  # noqa: E402
from runstream.codec import encode_batch  # noqa: E402
from runstream.events import MetricsLogged, RunSubmitted, new_event, run_stream  # noqa: E402
from runstream_server.database import open_engine  # noqa: E402
from runstream_server.projections.runner import Projector  # noqa: E402
from runstream_server.queries import series  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path, env: dict[str, str] | None = None,
                 port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """`runstream server` in a subprocess (on a free port unless given); waits until it answers."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "runstream_agent.cli", "server", "--port",
                             str(port), "--data-dir", str(data_dir)],
                            env=os.environ.copy() if env is None else env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = Client(url, timeout=2)
    for _ in range(600):
        try:
            client.get_json("/api")
            return proc, url
        except ServerUnreachable:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the server did not start")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def make_batches(run_id: str, points: int, per_event: int, events_per_post: int) -> list[bytes]:
    rng = random.Random(0)
    stream = run_stream(run_id)
    bodies = [encode_batch([new_event(stream, 0, RunSubmitted(project="bench", script="b.py"))])]
    seq, step, pending = 1, 0, []
    now = time.time()
    while step < points:
        n = min(per_event, points - step)
        payload = MetricsLogged(names=["loss"], index=[0] * n, steps=list(range(step, step + n)),
                                times=[now] * n, values=[rng.random() for _ in range(n)])
        pending.append(new_event(stream, seq, payload))
        seq += 1
        step += n
        if len(pending) == events_per_post:
            bodies.append(encode_batch(pending))
            pending = []
    if pending:
        bodies.append(encode_batch(pending))
    return bodies


def raw_insert_rate(url: str, points: int) -> float:
    engine = open_engine(url)
    md = MetaData()
    table = Table("raw_points", md, Column("id", Integer, primary_key=True),
                  Column("run_id", String(100)), Column("name", String(100)),
                  Column("step", Integer), Column("time", Float), Column("value", Float))
    md.drop_all(engine)
    md.create_all(engine)
    rows = [{"run_id": "r", "name": "loss", "step": i, "time": 1.0, "value": i * 0.5}
            for i in range(points)]
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(insert(table), rows)
    elapsed = time.perf_counter() - started
    md.drop_all(engine)
    engine.dispose()
    return points / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--per-event", type=int, default=10_000)
    parser.add_argument("--events-per-post", type=int, default=5)
    parser.add_argument("--database-url", default="",
                        help="default: SQLite in a temporary data dir")
    parser.add_argument("--port", type=int, default=8897)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        db_url = args.database_url or f"sqlite:///{data_dir / 'runstream.db'}"
        bodies = make_batches("bench_1", args.points, args.per_event, args.events_per_post)
        env = {**os.environ}
        if args.database_url:
            env["RUNSTREAM_DATABASE_URL"] = args.database_url
        server, _url = start_server(data_dir, env, args.port)
        try:
            client = Client(f"http://127.0.0.1:{args.port}")
            started = time.perf_counter()
            for body in bodies:
                client.post_events(body)
            ingest = args.points / (time.perf_counter() - started)
            got = client.get_json("/api/runs/bench_1/metrics/loss")
            assert len(got["values"]) == args.points, "not all points are queryable"

            reads, binary = [], []
            for _ in range(5):
                t = time.perf_counter()
                client.request("GET", "/api/runs/bench_1/metrics/loss").read()
                reads.append(time.perf_counter() - t)
                t = time.perf_counter()
                client.request("GET", "/api/runs/bench_1/metrics/loss",
                               query={"format": "binary"}).read()
                binary.append(time.perf_counter() - t)
        finally:
            server.terminate()
            server.wait()

        engine = open_engine(db_url)
        direct = []
        for _ in range(5):
            t = time.perf_counter()
            with engine.connect() as conn:
                s = series(conn, "bench_1", "loss")
            direct.append(time.perf_counter() - t)
            assert s is not None and len(s.values) == args.points
        projector = Projector()
        t = time.perf_counter()
        projector.rebuild(engine)
        replay = args.points / (time.perf_counter() - t)
        engine.dispose()
        raw = raw_insert_rate(db_url, min(args.points, 1_000_000))

    print(f"database: {'SQLite' if db_url.startswith('sqlite') else db_url.split(':')[0]}")
    print(f"raw insert (plain rows, executemany): {raw:12,.0f} points/s")
    print(f"ingest HTTP batch -> queryable:       {ingest:12,.0f} points/s "
          f"({ingest / raw:.2f}x raw)")
    print(f"replay (all projections):             {replay:12,.0f} points/s "
          f"({replay / raw:.2f}x raw)")
    print(f"read {args.points:,}-point series over HTTP, JSON:   median "
          f"{statistics.median(reads) * 1000:.1f} ms")
    print(f"read {args.points:,}-point series over HTTP, binary: median "
          f"{statistics.median(binary) * 1000:.1f} ms")
    print(f"read {args.points:,}-point series, query only: median "
          f"{statistics.median(direct) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
