"""Overlaid training curves at scale: one metric of 100 runs × 1,000,000 points each,
downsampled on the server (GET /api/series) beside fetching one run's raw points.

Prints figures; decides nothing.

    python bench/curves.py [--runs 100] [--points 1000000] [--per-event 10000]
                           [--budget 2000] [--dir DIR] [--build-only]

1. build (once): the store, through the real event store and projections (events
   appended and projected run by run, as a replay would), in ``--dir`` (default
   ``bench/results/curves-store``, gitignored). A second run with the same sizes
   reuses it (``store.json`` in the directory records them).
2. the function alone: ``downsample()`` for all runs at ``--budget``, on a connection.
3. over HTTP, end to end against a real ``runstream server`` on the store:
   ``/api/series?metric=loss&runs=<all>&budget=2000``, and one run's raw points via
   ``/api/runs/{id}/metrics/loss`` (JSON, and ``format=binary``).

``--build-only`` builds (or finds) the store and prints one JSON line for other
benchmarks (the web one): ``{"data_dir": …, "server": ["runstream", "server",
"--data-dir", …], "metric": "loss", "runs": [...]}`` — start the server with that
command (add ``--port``) and ask for those runs.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest import start_server  # noqa: E402
from runstream.events import (  # noqa: E402
    MetricsLogged,
    RunCompleted,
    RunStarted,
    RunSubmitted,
    new_event,
    run_stream,
)
from runstream_server.database import open_engine  # noqa: E402
from runstream_server.downsample import downsample  # noqa: E402
from runstream_server.eventstore import append  # noqa: E402
from runstream_server.projections.folding import fold_all  # noqa: E402
from runstream_server.projections.runner import Projector  # noqa: E402

T0 = 1_750_000_000.0
METRIC = "loss"


def run_ids(runs: int) -> list[str]:
    return [f"curve_{i:03d}" for i in range(runs)]


def loss_curve(seed: int, points: int) -> np.ndarray:
    """A noisy decaying loss with a few spikes: something a chart must not flatten."""
    rng = np.random.default_rng(seed)
    steps = np.arange(points)
    curve = 2.5 * np.exp(-steps / (points / 5)) + 0.1 + 0.05 * rng.standard_normal(points)
    spikes = rng.integers(0, points, 5)
    curve[spikes] += rng.uniform(1, 4, 5)
    return curve


# The summaries' layout: a store built before it changed is built again.
SUMMARIES = 2  # 2: folded behind the writes (projections/folding.py)


def build(data_dir: Path, runs: int, points: int, per_event: int) -> None:
    sizes = {"runs": runs, "points": points, "per_event": per_event}
    marker = data_dir / "store.json"
    if marker.exists() and json.loads(marker.read_text()) == {**sizes, "summaries": SUMMARIES}:
        print(f"store: reusing {data_dir}", file=sys.stderr)
        return
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    engine = open_engine(f"sqlite:///{data_dir / 'runstream.db'}")
    projector = Projector()
    projector.prepare(engine)
    started = time.perf_counter()
    for k, run_id in enumerate(run_ids(runs)):
        stream = run_stream(run_id)
        events = [new_event(stream, 0, RunSubmitted(project="curves", script="train.py"),
                            ts=T0),
                  new_event(stream, 1, RunStarted(pid=1, host="bench"), ts=T0)]
        values = loss_curve(k, points)
        for first in range(0, points, per_event):
            steps = list(range(first, min(points, first + per_event)))
            events.append(new_event(stream, len(events), MetricsLogged(
                names=[METRIC], index=[0] * len(steps), steps=steps,
                times=[T0 + s * 0.01 for s in steps],
                values=values[first:first + len(steps)].tolist()), ts=T0))
        events.append(new_event(stream, len(events), RunCompleted(status="completed"), ts=T0))
        for i in range(0, len(events), 10):
            with engine.begin() as conn:
                projector.apply(conn, append(conn, events[i:i + 10]).stored)
        done = k + 1
        rate = done * points / (time.perf_counter() - started)
        print(f"store: {done}/{runs} runs ({rate:,.0f} points/s)", file=sys.stderr)
    # What a running server's folding task does behind the writes: the summaries.
    started = time.perf_counter()
    chunks = fold_all(engine)
    print(f"store: {chunks:,} chunks folded into the summaries in "
          f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
    engine.dispose()
    marker.write_text(json.dumps({**sizes, "summaries": SUMMARIES}))


def timed(fn: object, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append(time.perf_counter() - t)
    return out


def ms(values: list[float]) -> str:
    return (f"median {statistics.median(values) * 1000:7.1f} ms "
            f"(min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f}, n={len(values)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--per-event", type=int, default=10_000)
    parser.add_argument("--budget", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--dir", type=Path, default=ROOT / "bench" / "results" / "curves-store")
    parser.add_argument("--build-only", action="store_true")
    args = parser.parse_args()
    data_dir = args.dir.resolve()
    build(data_dir, args.runs, args.points, args.per_event)
    ids = run_ids(args.runs)
    if args.build_only:
        print(json.dumps({"data_dir": str(data_dir),
                          "server": ["runstream", "server", "--data-dir", str(data_dir)],
                          "metric": METRIC, "runs": ids}))
        return

    engine = open_engine(f"sqlite:///{data_dir / 'runstream.db'}")

    def overlay() -> None:
        with engine.connect() as conn:
            answer = downsample(conn, ids, METRIC, budget=args.budget)
        assert all(len(s.steps) <= args.budget for s in answer.series)

    with engine.connect() as conn:
        sample = downsample(conn, ids, METRIC, budget=args.budget)
    answered = sum(len(s.steps) for s in sample.series)
    function = timed(overlay, args.repeat)
    engine.dispose()

    server, url = start_server(data_dir)
    try:
        parts = urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port)

        def get(path: str, query: dict[str, str]) -> bytes:
            conn.request("GET", f"{path}?{urlencode(query)}")
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status == 200, body[:300]
            return body

        series_query = {"metric": METRIC, "runs": ",".join(ids), "budget": str(args.budget)}
        size = len(get("/api/series", series_query))
        http_series = timed(lambda: get("/api/series", series_query), args.repeat)
        one = f"/api/runs/{ids[0]}/metrics/{METRIC}"
        raw_json = timed(lambda: get(one, {}), max(3, args.repeat // 3))
        raw_binary = timed(lambda: get(one, {"format": "binary"}), max(3, args.repeat // 3))
        conn.close()
    finally:
        server.terminate()
        server.wait()

    total = args.runs * args.points
    print(f"store: {args.runs} runs x {args.points:,} points of {METRIC!r} "
          f"({total:,} points), {args.per_event:,} points per event, SQLite")
    print(f"overlay of {args.runs} runs at budget {args.budget}: {answered:,} points answered "
          f"({size / 1e6:.1f} MB JSON)")
    print(f"  downsample() alone:          {ms(function)}")
    print(f"  GET /api/series, end to end: {ms(http_series)}")
    print(f"one run's {args.points:,} raw points, end to end:")
    print(f"  JSON:   {ms(raw_json)}")
    print(f"  binary: {ms(raw_binary)}")


if __name__ == "__main__":
    main()
