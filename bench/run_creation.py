"""Run creation: many new runs in one POST, and what another client waits meanwhile.

Prints figures; decides nothing. The server is a real `runstream server` process
(SQLite in a temporary data dir unless --database-url).

    python bench/run_creation.py [--runs 1000 16000] [--database-url URL]

For each N: one POST of N ``run.submitted`` events (N runs of one project, submitted
a millisecond apart, as a sweep would) is timed until it is acknowledged; while it
is in flight, a second client POSTs one new run (another project) every 20 ms and
its latencies are reported (median, 95th percentile, max). Then the cost per run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest import percentile, start_server  # noqa: E402
from runstream.client import Client  # noqa: E402
from runstream.codec import encode_batch  # noqa: E402
from runstream.events import RunSubmitted, new_event, run_stream  # noqa: E402
from tests.sideclient import SideClient  # noqa: E402


def submissions(project: str, n: int, t0: float) -> bytes:
    return encode_batch([
        new_event(run_stream(f"{project}_{i:06d}"), 0,
                  RunSubmitted(project=project, script="sweep.py", args=[str(i)]),
                  ts=t0 + i / 1000) for i in range(n)])


def one_run(url: str, runs: int) -> tuple[float, list[float]]:
    """Seconds for one POST of ``runs`` new runs, and the side client's latencies meanwhile."""
    big = submissions(f"sweep{runs}", runs, time.time())
    with SideClient(url, f"probe{runs}") as side:
        started = time.perf_counter()
        Client(url, timeout=600).post_events(big)
        took = time.perf_counter() - started
    return took, side.latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, nargs="+", default=[1_000, 16_000])
    parser.add_argument("--database-url", default="",
                        help="the server's database [default: SQLite in a temporary dir]")
    args = parser.parse_args()
    env = os.environ.copy()
    if args.database_url:
        env["RUNSTREAM_DATABASE_URL"] = args.database_url
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp) / "server", env)
        try:
            for runs in args.runs:
                took, lat = one_run(url, runs)
                ms = [x * 1000 for x in lat] or [0.0]
                print(f"{runs:>6} runs in one POST: {took:6.2f} s "
                      f"({took / runs * 1e6:6.0f} µs per run); meanwhile {len(lat)} single-run "
                      f"POSTs of another client: median {statistics.median(ms):.1f} ms, "
                      f"p95 {percentile(ms, 0.95):.1f} ms, max {max(ms):.1f} ms")
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
