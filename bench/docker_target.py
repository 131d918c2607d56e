"""Docker target figures against a real ``runstream server`` and container engine. Prints;
decides nothing.

    DOCKER_HOST=$(scripts/services/podman start) python bench/docker_target.py \
        [--runs 7] [--lines 200] [--base runstream-base:py3] [--kafka 127.0.0.1:9092]

1. Start overhead per run: ``runstream submit -c T noop.py`` (a script that prints one
   line) for the local target and a docker target, alternately, ``--runs`` times each;
   the wall time of the whole command, and the time from launching it until the
   script started (the run's ``run.started``, stamped by the agent: inside the
   container for the docker target), medians. The docker target's image is prepared
   first (``runstream prepare``), so runs measure starting containers, not builds.
2. Print latency from inside a container: a script prints its own clock every 20 ms;
   each line's arrival is noted on the submitting terminal (the submit's stdout,
   streamed from the container) and on the server's websocket (subscribed to the
   run's ``log/<id>`` topic, as a browser is). Median and p99, for both targets.
"""

from __future__ import annotations

import argparse
import contextlib
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

from websockets.sync.client import connect as ws_connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import percentile, start_server
from runstream.client import Client

TOML = """
[targets.docker-python]
type = "docker"
image = "{base}"
"""

NOOP = 'print("hello")\n'

LATENCY = """
    import sys, time
    time.sleep(1.0)  # the benchmark subscribes meanwhile
    for i in range(int(sys.argv[1])):
        print(repr(time.time()), flush=True)
        time.sleep(0.02)
"""


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "runstream_agent.cli", *args]


def overhead(folder: Path, env: dict[str, str], runs: int) -> None:
    client = Client(env["RUNSTREAM_URL"])
    walls: dict[str, list[float]] = {"local": [], "docker-python": []}
    starts: dict[str, list[float]] = {"local": [], "docker-python": []}
    for _ in range(runs):
        for target in walls:
            launched = time.time()
            out = subprocess.run(cli("submit", "-c", target, "noop.py"), cwd=folder, env=env,
                                 capture_output=True, text=True, check=True).stdout
            walls[target].append(time.time() - launched)
            run_id = out.split("RunId: ", 1)[1].split()[0]
            starts[target].append(client.get_json(f"/api/runs/{run_id}")["started"] - launched)
    for target in walls:
        print(f"{target:>13}: submit of a one-line script, median wall "
              f"{statistics.median(walls[target]):.2f} s (min {min(walls[target]):.2f}); "
              f"launch to script start {statistics.median(starts[target]):.2f} s")
    wall = statistics.median(walls["docker-python"]) - statistics.median(walls["local"])
    start = statistics.median(starts["docker-python"]) - statistics.median(starts["local"])
    print(f"container overhead per run (docker - local, medians): {wall:.2f} s of wall time, "
          f"{start:.2f} s to the script's start")


def latency(folder: Path, env: dict[str, str], target: str, lines: int) -> None:
    proc = subprocess.Popen(cli("submit", "-c", target, "latency.py", str(lines)), cwd=folder,
                            env=env, stdout=subprocess.PIPE, text=True, bufsize=1)
    assert proc.stdout is not None
    run_id = proc.stdout.readline().split()[1]
    terminal: list[float] = []
    browser: list[float] = []

    def read_terminal() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            now = time.time()
            with contextlib.suppress(ValueError):  # RunId, the footer
                terminal.append(now - float(line))

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    ws_url = env["RUNSTREAM_URL"].replace("http://", "ws://") + "/api/ws"
    with ws_connect(ws_url, max_size=None) as ws:
        ws.send(json.dumps({"subscribe": f"log/{run_id}", "after": 0}))
        deadline = time.monotonic() + 120
        while len(browser) < lines and time.monotonic() < deadline:
            try:
                message = json.loads(ws.recv(timeout=5))
            except TimeoutError:
                continue
            now = time.time()
            for event in message.get("events", []):
                for text in (event.get("data") or {}).get("lines", []):
                    with contextlib.suppress(ValueError):
                        browser.append(now - float(text))
    proc.wait()
    reader.join(10)
    for where, seen in (("terminal", terminal), ("websocket", browser)):
        if not seen:
            print(f"{target:>13}: print-to-{where}: no lines seen")
            continue
        print(f"{target:>13}: print-to-{where} latency over {len(seen)} lines: median "
              f"{statistics.median(seen) * 1000:.1f} ms, p99 {percentile(seen, 0.99) * 1000:.1f}"
              f" ms, max {max(seen) * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--lines", type=int, default=200)
    parser.add_argument("--base", default="runstream-base:py3",
                        help="base image of the docker target (must be on the engine)")
    parser.add_argument("--kafka", metavar="HOST:PORT", default="",
                        help="a broker: the server in Kafka mode, the agents producing to it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = {**os.environ, "RUNSTREAM_SPOOL_DIR": str(root / "spool")}
        for name in ("RUNSTREAM_AGENT_SOCKET", "RUNSTREAM_KAFKA", "RUNSTREAM_KAFKA_TOPIC"):
            env.pop(name, None)
        if args.kafka:
            env.update(RUNSTREAM_KAFKA=args.kafka,
                       RUNSTREAM_KAFKA_TOPIC=f"bench.docker.{os.getpid()}.{int(time.time())}")
        server, url = start_server(root / "server", env)
        env["RUNSTREAM_URL"] = url
        print(f"events over {'Kafka at ' + args.kafka if args.kafka else 'HTTP'}")
        folder = root / "bench"
        folder.mkdir()
        (folder / "runstream.toml").write_text(TOML.format(base=args.base))
        (folder / "noop.py").write_text(NOOP)
        (folder / "latency.py").write_text(textwrap.dedent(LATENCY))
        try:
            started = time.monotonic()
            done = subprocess.run(cli("prepare", "-c", "docker-python"), cwd=folder, env=env,
                                  capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(done.stderr)
            print(f"prepare: {done.stdout.strip()} ({time.monotonic() - started:.1f} s)")
            overhead(folder, env, args.runs)
            for target in ("local", "docker-python"):
                latency(folder, env, target, args.lines)
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
