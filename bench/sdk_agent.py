"""SDK and agent figures against a real ``runstream server`` process. Prints; decides nothing.

    python bench/sdk_agent.py [--points 1000000] [--lines 30]

1. SDK throughput: a script calls ``logger.log("loss", x)`` N times one at a
   time, then ``logger.wait()``; measured from the first call until the last
   point is acknowledged (appended and projected: queryable), standalone
   (straight to the server) and under ``runstream submit`` (through the agent).
2. Print-to-server latency: a script under ``runstream submit`` prints a line
   with its own clock every 50 ms; the benchmark polls the logs API and notes
   when each line is first readable (median, p99; includes ~2 ms polling).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import percentile, start_server
from runstream.client import ApiError, Client

THROUGHPUT = """
    import json, sys, time, runstream
    n = int(sys.argv[1])
    logger = runstream.get_logger()
    log = logger.log
    start = time.perf_counter()
    for i in range(n):
        log("loss", i * 0.001)
    called = time.perf_counter()
    assert logger.wait()
    done = time.perf_counter()
    print(json.dumps({"run_id": logger.run_id, "calls": called - start, "total": done - start}))
"""

LATENCY = """
    import sys, time
    for i in range(int(sys.argv[1])):
        print(repr(time.time()))
        time.sleep(0.05)
"""


def throughput(folder: Path, env: dict[str, str], points: int, *, agent: bool) -> None:
    (folder / "throughput.py").write_text(textwrap.dedent(THROUGHPUT))
    command = ([sys.executable, "-m", "runstream_agent.cli", "submit", "throughput.py"] if agent
               else [sys.executable, "throughput.py"])
    out = subprocess.run([*command, str(points)], cwd=folder, env=env, capture_output=True,
                         text=True, check=True).stdout
    figures = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    series = Client(env["RUNSTREAM_URL"]).get_json(
        f"/api/runs/{figures['run_id']}/metrics/loss")
    assert len(series["steps"]) == points, len(series["steps"])
    mode = "under runstream submit" if agent else "standalone"
    print(f"SDK {mode}: {points:,} log calls in {figures['calls']:.2f} s "
          f"({points / figures['calls']:,.0f}/s); all queryable after {figures['total']:.2f} s "
          f"({points / figures['total']:,.0f} points/s)")


def latency(folder: Path, env: dict[str, str], lines: int) -> tuple[float, float, float]:
    """Print-to-server latency of ``lines`` printed lines: (median, p99, max) in seconds."""
    (folder / "latency.py").write_text(textwrap.dedent(LATENCY))
    proc = subprocess.Popen([sys.executable, "-m", "runstream_agent.cli", "submit",
                             "latency.py", str(lines)], cwd=folder, env=env,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    run_id = proc.stdout.readline().split()[1]
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    client = Client(env["RUNSTREAM_URL"])
    seen: list[float] = []
    while len(seen) < lines:
        try:
            page = client.get_json(f"/api/runs/{run_id}/logs", start=len(seen))
        except ApiError:
            continue
        now = time.time()
        seen += [now - float(text) for *_rest, text in page["lines"]]
        time.sleep(0.002)
    proc.wait()
    return statistics.median(seen), percentile(seen, 0.99), max(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--lines", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server, url = start_server(root / "server")
        folder = root / "bench"
        folder.mkdir()
        env = {**os.environ, "RUNSTREAM_URL": url, "RUNSTREAM_SPOOL_DIR": str(root / "spool")}
        env.pop("RUNSTREAM_AGENT_SOCKET", None)
        try:
            throughput(folder, env, args.points, agent=False)
            throughput(folder, env, args.points, agent=True)
            median, p99, worst = latency(folder, env, args.lines)
            print(f"print-to-server latency over {args.lines} lines: median "
                  f"{median * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max {worst * 1000:.1f} ms")
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
