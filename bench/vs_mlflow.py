"""runstream against MLflow's own tracking server, driven by the same MLflow client.

Prints figures; decides nothing. Both servers are real processes on this machine,
started one after the other (never both at once, so they do not share the CPUs):

- MLflow: ``mlflow server`` with a SQLite backend store and proxied artifacts
  (``--serve-artifacts``) in a temporary dir, on a free port, its workers as default;
- runstream: ``runstream server`` with a temporary data dir (SQLite), on a free port.

The same ``MlflowClient`` (``MLFLOW_TRACKING_URI`` = the server) runs the same workloads
on each, and every figure is printed for both, with the ratio and the target beside it:

1. cold start: process start → first successful ``experiments/get`` answer;
2. ``log_batch``: 1,000,000 points in batches of 1,000 metrics (10 keys) → points/s;
   then the server's part: a fifth of those bodies, as the client encodes them, built
   beforehand and posted in plain HTTP (to a run of their own);
3. ``log_metric`` one call at a time (2,000 calls) → calls/s;
4. 1,000 runs created with 10 metrics and 5 params each (create, log_batch, terminate)
   → runs/s;
5. ``search_runs`` over those runs: all of them (paged, 100 a page), and filtered and
   sorted (``metrics.m0 > 0.5 and params.p1 = 'x'`` by ``metrics.m1 DESC``) → seconds
   (median of 5, after a first search timed on its own: runstream keeps each run's
   encoded answer until its next event); both must find the same runs;
6. ``get_metric_history`` of one 100,000-point metric (from workload 2) → seconds
   (median of 3).
   Searches and history are timed twice: through the client, and as the same requests
   in plain HTTP + ``json.loads`` (no protobuf parsing), the server's part of the time;
7. resident memory of the server's process tree after the workloads (/proc) → MiB
   (RSS, as the target is stated; PSS, which counts shared pages once, printed beside).

Before and after, the logging workloads (2, 3) and the history (6) against a null server,
which answers ``{}`` at once (and the history's points, pre-built) and keeps nothing: the
MLflow client's own ceiling (protobufs to JSON and back, HTTP). No server can beat it,
so the better of its two runs is printed beside the ratios as the most the same client
allows (``--no-ceiling`` skips it).

Needs the full ``mlflow`` package (its server), which the project's own venv does not
carry: in a separate venv, ``pip install -e '.[bench]'``, then

    python bench/vs_mlflow.py [--quick] [--only runstream|mlflow] [--no-ceiling]

``--quick`` shrinks every size (a smoke run of a minute or two). Figures of one run on a
shared machine are noisy: compare the ratios, and rerun before believing a small one.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 120.0
SYSTEMS = ("runstream", "mlflow")
# The client's environment: what a script logging to either server would have.
CLIENT_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
    "GIT_PYTHON_REFRESH": "quiet",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",  # a wrong answer shows at once, not after backoff
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "600",
    # set_terminated would print two links per run (after a get_run of its own)
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}
FILTER = "metrics.m0 > 0.5 and params.p1 = 'x'"
ORDER = ["metrics.m1 DESC"]


@dataclass(frozen=True)
class Sizes:
    batch_points: int = 1_000_000
    batch_size: int = 1_000
    batch_keys: int = 10
    single_calls: int = 2_000
    runs: int = 1_000
    page: int = 100
    search_repeats: int = 5
    history_repeats: int = 3


QUICK = Sizes(batch_points=50_000, single_calls=200, runs=100, page=20, search_repeats=3,
              history_repeats=2)


@dataclass
class Figures:
    """What one system scored; None where a workload failed (the reason is in `failed`)."""

    values: dict[str, float] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


# name, unit, True when more is better, target ratio (runstream's advantage), what it is
FIGURES = [
    ("cold_start", "s", False, None, "cold start (process start → first answer)"),
    ("log_batch", "points/s", True, 50.0, "log_batch"),
    ("log_batch_raw", "points/s", True, 50.0, "… the same bodies, plain HTTP"),
    ("log_metric", "calls/s", True, None, "log_metric, one call at a time"),
    ("create_runs", "runs/s", True, None, "create runs (10 metrics, 5 params each)"),
    ("search_all_first", "s", False, None, "search_runs, all, the first time"),
    ("search_all", "s", False, 20.0, "search_runs, all (paged)"),
    ("search_all_raw", "s", False, 20.0, "… the same requests, plain HTTP"),
    ("search_filtered", "s", False, 20.0, "search_runs, filtered + sorted"),
    ("search_filtered_raw", "s", False, 20.0, "… the same request, plain HTTP"),
    ("history", "s", False, 20.0, "get_metric_history"),
    ("history_raw", "s", False, 20.0, "… the same requests, plain HTTP"),
    ("memory", "MiB", False, 10.0, "server RSS after the workloads"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree(pid: int) -> set[int]:
    """`pid` and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid …": comm may hold spaces and parentheses
        parents[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
    members, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent and p not in members]
        members.update(children)
        frontier.extend(children)
    return members


def kib(path: str, field: str) -> int:
    try:
        with open(path) as f:
            return next((int(line.split()[1]) for line in f if line.startswith(field)), 0)
    except OSError:  # gone meanwhile
        return 0


def memory_mib(pid: int) -> tuple[float, float, int]:
    """Resident memory (RSS) of `pid`'s process tree in MiB; its proportional share (PSS:
    pages shared between the processes counted once); how many processes."""
    members = tree(pid)
    rss = sum(kib(f"/proc/{p}/status", "VmRSS:") for p in members)
    pss = sum(kib(f"/proc/{p}/smaps_rollup", "Pss:") for p in members)
    return rss / 1024, pss / 1024, len(members)


def answers(url: str) -> bool:
    """True once the server answers the MLflow API (the default experiment)."""
    try:
        with urllib.request.urlopen(
                f"{url}/api/2.0/mlflow/experiments/get?experiment_id=0", timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    cold_start: float

    def stop(self) -> None:
        """Stops the whole process group (MLflow's workers too)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()


# The client's own ceiling: a server that reads each request and answers `{}` at once,
# keeping nothing; metrics/get-history answers `argv[2]` points of m0, 25,000 a page, as
# a real server would (the client's parsing is its cost). Each answer goes out in one
# write, so that no delayed ACK waits on a split answer.
NULL_SERVER = """
import http.server, json, sys, urllib.parse

POINTS = int(sys.argv[2])

def history(query):
    first = int(query.get("page_token", ["0"])[0] or 0)
    last = min(POINTS, first + int(query.get("max_results", ["25000"])[0]))
    page = {"metrics": [{"key": "m0", "value": 0.5 + i * 1e-7, "timestamp": 1764770000000 + i,
                         "step": i} for i in range(first, last)]}
    if last < POINTS:
        page["next_page_token"] = str(last)
    return json.dumps(page).encode()

class Null(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urllib.parse.urlsplit(self.path)
        body = (history(urllib.parse.parse_qs(url.query))
                if url.path.endswith("/metrics/get-history") else b"{}")
        self.wfile.write(b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\n"
                         b"Content-Length: %d\\r\\n\\r\\n%s" % (len(body), body))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Null).serve_forever()
"""


def server_command(name: str, tmp: Path, port: int, sizes: Sizes) -> list[str]:
    if name == "null":
        return [sys.executable, "-c", NULL_SERVER, str(port),
                str(sizes.batch_points // sizes.batch_keys)]
    if name == "mlflow":
        mlflow = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
        return [mlflow, "server", "--host", "127.0.0.1", "--port", str(port),
                "--backend-store-uri", f"sqlite:///{tmp / 'mlflow.db'}",
                "--serve-artifacts", "--artifacts-destination", str(tmp / "artifacts")]
    return [sys.executable, "-m", "runstream_agent.cli", "server", "--port", str(port),
            "--data-dir", str(tmp / "data")]


def start(name: str, tmp: Path, sizes: Sizes) -> Server:
    """Starts `name`'s server and times it until its first successful MLflow answer."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNSTREAM_", "MLFLOW_"))}
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(server_command(name, tmp, port, sizes), env=env, cwd=tmp,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(name, proc, url, log, 0.0)
    while not answers(url):
        if proc.poll() is not None or time.perf_counter() - started > START_TIMEOUT_S:
            server.stop()
            raise SystemExit(f"{name}'s server did not answer on {url} within "
                             f"{START_TIMEOUT_S:.0f} s (exit {proc.returncode}); its output:\n"
                             + log.read_text(errors="replace")[-3000:])
        time.sleep(0.02)
    server.cold_start = time.perf_counter() - started
    return server


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def median_seconds(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    took, result = [], None
    for _ in range(repeats):
        seconds, result = timed(fn)
        took.append(seconds)
    return statistics.median(took), result


class Workloads:
    """The workloads, on one server through one MlflowClient."""

    def __init__(self, url: str, sizes: Sizes, figures: Figures, *, null: bool = False) -> None:
        import requests
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=url)
        self.url = url
        self.http = requests.Session()  # the same requests, without the MLflow client
        self.sizes = sizes
        self.figures = figures
        self.null = null  # the null server: it keeps nothing, so no ids to ask it for
        self.experiment = "0" if null else self.client.create_experiment(
            f"vs-mlflow-{time.time_ns()}")
        self.history_run: str | None = None  # log_batch's run: 1/10 of its points are m0
        self.search_experiment: str | None = None  # create_runs' experiment

    def note(self, key: str, value: float, unit: str, detail: str = "") -> None:
        self.figures.values[key] = value
        print(f"  {key:<20} {value:>14,.3f} {unit}{detail}", flush=True)

    def new_run(self, name: str) -> str:
        if self.null:
            return "0" * 32
        return str(self.client.create_run(self.experiment, run_name=name).info.run_id)

    def log_batch(self) -> None:
        from mlflow.entities import Metric

        s = self.sizes
        run = self.new_run("log-batch")
        now = int(time.time() * 1000)
        rng = random.Random(0)
        batches = []
        for first in range(0, s.batch_points, s.batch_size):
            batches.append([Metric(f"m{i % s.batch_keys}", rng.random(), now + i,
                                   i // s.batch_keys)
                            for i in range(first, min(first + s.batch_size, s.batch_points))])
        seconds, _ = timed(lambda: [self.client.log_batch(run, metrics=b) for b in batches])
        self.history_run = run
        self.note("log_batch", s.batch_points / seconds, "points/s",
                  f"  ({s.batch_points:,} points in {len(batches):,} calls, {seconds:.1f} s)")
        if self.null:
            return
        # The server's part: the very bodies the client sends (its protobuf JSON), built
        # beforehand and posted over one keep-alive connection, a fifth of the points to a
        # run of their own.
        from mlflow.protos.service_pb2 import LogBatch
        from mlflow.utils.proto_json_utils import message_to_json

        raw_run = self.new_run("log-batch-raw")
        bodies = [message_to_json(LogBatch(run_id=raw_run, metrics=[m.to_proto() for m in b]))
                  .encode() for b in batches[:max(1, len(batches) // 5)]]
        url, headers = f"{self.url}/api/2.0/mlflow/runs/log-batch", {
            "Content-Type": "application/json"}

        def post_all() -> None:
            for body in bodies:
                self.http.post(url, data=body, headers=headers).raise_for_status()

        seconds, _ = timed(post_all)
        points = sum(len(b) for b in batches[:len(bodies)])
        self.note("log_batch_raw", points / seconds, "points/s",
                  f"  ({points:,} points in {len(bodies):,} requests, plain HTTP)")

    def log_metric(self) -> None:
        s = self.sizes
        run = self.new_run("log-metric")

        def calls() -> None:
            for step in range(s.single_calls):
                self.client.log_metric(run, "loss", 1 / (step + 1), step=step)

        seconds, _ = timed(calls)
        self.note("log_metric", s.single_calls / seconds, "calls/s",
                  f"  ({s.single_calls:,} calls, {seconds:.1f} s)")

    def create_runs(self) -> None:
        from mlflow.entities import Metric, Param

        s = self.sizes
        experiment = self.client.create_experiment(f"vs-mlflow-runs-{time.time_ns()}")
        self.search_experiment = experiment
        rng = random.Random(1)

        def create() -> None:
            for i in range(s.runs):
                run = self.client.create_run(experiment, run_name=f"r{i}")
                now = int(time.time() * 1000)
                self.client.log_batch(
                    run.info.run_id,
                    metrics=[Metric(f"m{k}", rng.random(), now, 0) for k in range(10)],
                    params=[Param(f"p{k}", "x" if rng.random() < 0.5 else "y")
                            for k in range(5)])
                self.client.set_terminated(run.info.run_id)

        seconds, _ = timed(create)
        self.note("create_runs", s.runs / seconds, "runs/s",
                  f"  ({s.runs:,} runs × create_run + log_batch + set_terminated, "
                  f"{seconds:.1f} s)")

    def search(self) -> None:
        s = self.sizes
        if self.search_experiment is None:
            raise RuntimeError("needs the create_runs workload's experiment, which failed")
        experiments = [self.search_experiment]

        def everything() -> list[str]:
            ids: list[str] = []
            token = None
            while True:
                page = self.client.search_runs(experiments, max_results=s.page,
                                               page_token=token)
                ids.extend(r.info.run_id for r in page)
                token = page.token
                if not token:
                    return ids

        def filtered() -> list[str]:
            page = self.client.search_runs(experiments, FILTER, order_by=ORDER,
                                           max_results=s.runs)
            return [r.info.run_id for r in page]

        def raw(body: dict[str, Any]) -> list[str]:
            """runs/search as plain HTTP + json.loads: the server's part of the time."""
            ids: list[str] = []
            while True:
                answer = self.http.post(f"{self.url}/api/2.0/mlflow/runs/search", json=body)
                answer.raise_for_status()
                page = answer.json()
                ids.extend(r["info"]["run_id"] for r in page.get("runs", []))
                if not page.get("next_page_token"):
                    return ids
                body = {**body, "page_token": page["next_page_token"]}

        seconds, _ = timed(everything)  # each run read for the first time
        self.note("search_all_first", seconds, "s", "  (the first search of these runs)")
        seconds, ids = median_seconds(everything, s.search_repeats)
        self.figures.counts["search_all"] = len(set(ids))
        self.note("search_all", seconds, "s",
                  f"  ({len(ids):,} runs, {len(set(ids)):,} distinct, pages of {s.page})")
        seconds, ids = median_seconds(
            lambda: raw({"experiment_ids": experiments, "max_results": s.page}),
            s.search_repeats)
        self.note("search_all_raw", seconds, "s", f"  ({len(ids):,} runs, plain HTTP)")
        seconds, ids = median_seconds(filtered, s.search_repeats)
        self.figures.counts["search_filtered"] = len(ids)
        self.note("search_filtered", seconds, "s", f"  ({len(ids):,} runs match)")
        seconds, ids = median_seconds(
            lambda: raw({"experiment_ids": experiments, "filter": FILTER, "order_by": ORDER,
                         "max_results": s.runs}), s.search_repeats)
        self.note("search_filtered_raw", seconds, "s", f"  ({len(ids):,} runs, plain HTTP)")

    def history(self) -> None:
        if self.history_run is None:
            raise RuntimeError("needs the log_batch workload's run, which failed")
        run = self.history_run
        seconds, points = median_seconds(
            lambda: self.client.get_metric_history(run, "m0"), self.sizes.history_repeats)
        self.figures.counts["history"] = len(points)
        self.note("history", seconds, "s", f"  ({len(points):,} points)")
        if self.null:
            return  # the null server's own JSON would be all that plain HTTP measures

        def raw() -> int:
            """metrics/get-history as plain HTTP + json.loads, 25,000 a page as the client
            asks: the server's part of the time."""
            query = {"run_id": run, "metric_key": "m0", "max_results": "25000"}
            count = 0
            while True:
                answer = self.http.get(f"{self.url}/api/2.0/mlflow/metrics/get-history",
                                       params=query)
                answer.raise_for_status()
                page = answer.json()
                count += len(page.get("metrics", []))
                if not page.get("next_page_token"):
                    return count
                query["page_token"] = page["next_page_token"]

        seconds, count = median_seconds(raw, self.sizes.history_repeats)
        self.note("history_raw", seconds, "s", f"  ({count:,} points, plain HTTP)")


def ceiling(sizes: Sizes, tmp: Path, when: str) -> Figures:
    """The logging workloads against the null server: what the MLflow client itself
    takes (building and sending the requests), which bounds every server's figure. A
    fifth of the batches and half the calls: rates, which do not depend on how many."""
    figures = Figures()
    print(f"\nthe MLflow client alone ({when}; a null server that answers at once and "
          "keeps nothing):", flush=True)
    server = start("null", tmp, sizes)
    try:
        work = Workloads(server.url, replace(sizes, batch_points=sizes.batch_points // 5,
                                             single_calls=sizes.single_calls // 2),
                         figures, null=True)
        work.log_batch()
        work.log_metric()
        work.history()
    finally:
        server.stop()
    return figures


def best(a: Figures, b: Figures) -> Figures:
    """The better of two ceilings, figure by figure: on a shared machine the slower one
    measured the neighbours' load, not the client."""
    merged = Figures()
    for key, _unit, more_is_better, *_ in FIGURES:
        values = [f.values[key] for f in (a, b) if key in f.values]
        if values:
            merged.values[key] = max(values) if more_is_better else min(values)
    return merged


def bench(name: str, sizes: Sizes, tmp: Path) -> Figures:
    figures = Figures()
    print(f"\n{name}:", flush=True)
    server = start(name, tmp, sizes)
    try:
        figures.values["cold_start"] = server.cold_start
        print(f"  {'cold_start':<20} {server.cold_start:>14,.3f} s  ({server.url})", flush=True)
        work = Workloads(server.url, sizes, figures)
        steps: list[tuple[str, Callable[[], None]]] = [
            ("log_batch", work.log_batch), ("log_metric", work.log_metric),
            ("create_runs", work.create_runs), ("search", work.search),
            ("history", work.history)]
        for step, run in steps:
            try:
                run()
            except Exception as e:  # a failing workload is a figure too: say why, go on
                reason = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
                keys = {"search": ["search_all", "search_all_raw", "search_filtered",
                                   "search_filtered_raw"],
                        "history": ["history", "history_raw"]}.get(step, [step])
                for key in keys:
                    figures.failed[key] = reason
                print(f"  {step:<20} FAILED {reason}", flush=True)
        rss, pss, processes = memory_mib(server.proc.pid)
        figures.values["memory"] = rss
        print(f"  {'memory':<20} {rss:>14,.1f} MiB  (RSS of {processes} processes; "
              f"PSS {pss:,.1f} MiB)", flush=True)
    finally:
        server.stop()
    print(f"  (load average of the machine: {os.getloadavg()[0]:.1f} over the last minute, "
          f"{os.getloadavg()[1]:.1f} over 5 on {os.cpu_count()} CPUs)", flush=True)
    return figures


def cell(figures: Figures | None, key: str, unit: str) -> str:
    if figures is None:
        return "–"
    if key in figures.failed:
        return "failed"
    value = figures.values.get(key)
    if value is None:
        return "–"
    text = f"{value:,.0f}" if value >= 100 else f"{value:,.3f}" if value < 10 else f"{value:,.1f}"
    return f"{text} {unit}"


def ratio(ours: Figures | None, theirs: Figures | None, key: str, more_is_better: bool) -> str:
    """runstream's advantage: how many times faster (or how many times less memory)."""
    if ours is None or theirs is None:
        return "–"
    a, b = ours.values.get(key), theirs.values.get(key)
    if key in ours.failed or key in theirs.failed or not a or not b:
        return "–"
    times = a / b if more_is_better else b / a
    return f"{times:,.1f}×" if times >= 1 else f"{times:.2f}×"


def table(results: dict[str, Figures], client: Figures | None) -> str:
    """The figures side by side; the last column is the MLflow client's own ceiling (the
    null server, the better of its two runs), which no server can beat: its ratio to
    MLflow's figure is the most advantage the same client allows."""
    ours, theirs = results.get("runstream"), results.get("mlflow")
    lines = ["| figure | runstream | MLflow | runstream's advantage | target "
             "| the client alone |", "|---|---|---|---|---|---|"]
    for key, unit, more_is_better, target, what in FIGURES:
        goal = "–" if target is None else (
            f"≥ {target:g}× faster" if key != "memory" else f"≤ 1/{target:g} the memory")
        alone = cell(client, key, unit) if client and key in client.values else "–"
        if alone != "–" and theirs is not None:
            alone += f" ({ratio(client, theirs, key, more_is_better)} MLflow's)"
        lines.append(f"| {what} | {cell(ours, key, unit)} | {cell(theirs, key, unit)} | "
                     f"{ratio(ours, theirs, key, more_is_better)} | {goal} | {alone} |")
    return "\n".join(lines)


def disagreements(results: dict[str, Figures]) -> list[str]:
    """Where the two servers answered the same search differently."""
    if len(results) < 2:
        return []
    ours, theirs = results["runstream"].counts, results["mlflow"].counts
    return [f"{key}: runstream found {ours[key]:,}, MLflow {theirs[key]:,}"
            for key in sorted(ours.keys() & theirs.keys()) if ours[key] != theirs[key]]


@contextmanager
def client_environment() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in CLIENT_ENV}
    os.environ.update(CLIENT_ENV)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--only", choices=SYSTEMS, help="bench one system only")
    parser.add_argument("--no-ceiling", action="store_true",
                        help="skip the MLflow client's own ceiling (the null server)")
    args = parser.parse_args()
    try:
        import mlflow
    except ImportError:
        raise SystemExit("bench/vs_mlflow.py needs the mlflow package: in a separate venv, "
                         "pip install -e '.[bench]'") from None
    if args.only != "runstream" and not shutil.which(
            "mlflow", path=str(Path(sys.executable).parent)):
        raise SystemExit(f"no `mlflow` command beside {sys.executable}: install the full "
                         "mlflow package (pip install -e '.[bench]'), not only mlflow-skinny")
    sizes = QUICK if args.quick else Sizes()
    print(f"mlflow {mlflow.__version__}, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs; sizes: {sizes}")
    results: dict[str, Figures] = {}
    client = None
    with client_environment(), tempfile.TemporaryDirectory(prefix="vs-mlflow-") as tmp:
        if not args.no_ceiling:
            first = ceiling(sizes, Path(tmp), "before")
        for name in SYSTEMS:
            if args.only in (None, name):
                where = Path(tmp) / name
                where.mkdir()
                results[name] = bench(name, sizes, where)
        if not args.no_ceiling:
            client = best(first, ceiling(sizes, Path(tmp), "after"))
    print("\n" + table(results, client))
    for line in disagreements(results):
        print(f"\nthe servers disagree: {line}")


if __name__ == "__main__":
    main()
