"""What the server and the SDK answer to the hostile input of issue 9, as a table.

Starts a server from the code on ``sys.path`` (so the same script measures an older
checkout with ``PYTHONPATH=<checkout>/sdk:<checkout>/agent:<checkout>/server``),
sends each case, and prints the status and message it got. It also runs small
scripts that log the values real scripts produce, and reports how many points
reached the server. Run creation at scale is bench/run_creation.py. Prints; never decides pass/fail.

Usage: python bench/hostile_input.py
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import ServerProcess

ENC = msgspec.msgpack.Encoder()


def envelope(stream: str, seq: int, type_: str, data: object, *, id_: str | None = None,
             ts: float | None = None) -> dict[str, object]:
    return {"id": id_ or uuid.uuid4().hex, "stream": stream, "seq": seq, "type": type_, "v": 1,
            "ts": time.time() if ts is None else ts, "data": msgspec.Raw(ENC.encode(data))}


def submitted(run: str) -> dict[str, object]:
    return envelope(f"run/{run}", 0, "run.submitted", {"project": "p", "script": "s.py"})


def post(url: str, body: bytes, timeout: float = 120) -> tuple[str, str, float]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    start = time.perf_counter()
    try:
        conn.request("POST", "/api/events", body, {"Content-Type": "application/msgpack"})
        resp = conn.getresponse()
        raw = resp.read()
    except Exception as exc:
        return "—", f"{type(exc).__name__}: {exc}"[:90], time.perf_counter() - start
    finally:
        conn.close()
    try:
        message = json.loads(raw).get("error", raw.decode()[:90])
    except ValueError:
        message = raw.decode(errors="replace")[:90]
    message = " ".join(str(message).split())
    return str(resp.status), message[:90], time.perf_counter() - start


def nested(depth: int) -> bytes:
    # {"project": [[[…]]], "script": "s"} with ``depth`` nested arrays, as raw MessagePack.
    return b"\x82\xa7project" + b"\x91" * depth + b"\x90" + b"\xa6script\xa1s"


def http_cases(url: str) -> list[tuple[str, str, str]]:
    rows = []
    n = [0]

    def run_id() -> str:
        n[0] += 1
        return f"hostile_{n[0]}"

    def case(name: str, events: list[dict[str, object]]) -> None:
        status, message, _ = post(url, ENC.encode(events))
        rows.append((name, status, message))

    r = run_id()
    case("step 2**63", [submitted(r), envelope(f"run/{r}", 1, "metrics.logged", {
        "names": ["loss"], "index": [0], "steps": [2**63], "times": [1.0], "values": [1.0]})])
    r = run_id()
    case("log.lines first 2**63", [submitted(r), envelope(f"run/{r}", 1, "log.lines", {
        "first": 2**63, "lines": ["x"], "times": [1.0], "fds": [1]})])
    r = run_id()
    case("exit_code 2**64-1", [submitted(r), envelope(f"run/{r}", 1, "run.completed", {
        "status": "completed", "exit_code": 2**64 - 1})])
    r = run_id()
    case("artifact size 2**63", [submitted(r), envelope(f"run/{r}", 1, "artifact.added", {
        "path": "outputs/a", "sha256": "0" * 64, "size": 2**63})])
    r = run_id()
    case("ts NaN", [envelope(f"run/{r}", 0, "run.submitted", {"project": "p", "script": "s"},
                             ts=float("nan"))])
    r, r2 = run_id(), run_id()
    shared = uuid.uuid4().hex
    post(url, ENC.encode([envelope(f"run/{r}", 0, "run.submitted",
                                   {"project": "p", "script": "s"}, id_=shared)]))
    case("id reused across streams", [envelope(f"run/{r2}", 0, "run.submitted",
                                               {"project": "p", "script": "s"}, id_=shared)])
    r = run_id()
    twice = uuid.uuid4().hex
    case("id twice in one batch", [
        envelope(f"run/{r}", 0, "run.submitted", {"project": "p", "script": "s"}, id_=twice),
        envelope(f"run/{r}", 1, "run.started", {}, id_=twice)])
    r = run_id()
    deep = {"id": uuid.uuid4().hex, "stream": f"run/{r}", "seq": 0, "type": "run.submitted",
            "v": 1, "ts": time.time(), "data": msgspec.Raw(nested(200_000))}
    case("200k-deep nesting in data", [deep])
    r = run_id()
    case("NUL in a string", [envelope(f"run/{r}", 0, "run.submitted",
                                      {"project": "p\x00q", "script": "s"})])
    case("stream name of 1,000 chars", [envelope("run/" + "x" * 1000, 0, "run.submitted",
                                                 {"project": "p", "script": "s"})])
    status, message, _ = post(url, b"\xc1garbage")
    rows.append(("garbage body", status, message))
    r = run_id()
    ok = post(url, ENC.encode([submitted(r)]))
    rows.append(("a good event afterwards", ok[0], ok[1]))
    return rows


SCRIPTS = {
    "numpy.float64 (max over an array)": """
        import numpy as np
        for i in range(N):
            log.log("m", max(np.array([0.1, 0.2 + i])))
    """,
    "(pred == y).mean() per step": """
        import numpy as np
        y = np.array([0, 1, 1, 0])
        for i in range(N):
            log.log("m", (np.array([0, 1, i % 2, 0]) == y).mean())
    """,
    "numpy.longdouble": """
        import numpy as np
        for i in range(N):
            log.log("m", np.longdouble(i))
    """,
    "subclass of float": """
        class F(float):
            pass
        for i in range(N):
            log.log("m", F(i))
    """,
    "lone surrogate in a string": """
        for i in range(N):
            log.log("m", "bad\\udc80" if i == 0 else float(i))
    """,
}

SCRIPT_HEAD = """
import sys, time
import runstream
log = runstream.get_logger()
N = 600
"""
SCRIPT_TAIL = """
start = time.monotonic()
ok = log.wait(20)
print("WAIT", bool(ok), round(time.monotonic() - start, 1), flush=True)
print("RUN", log.run_id, flush=True)
"""


def sdk_cases(url: str, work: Path) -> list[tuple[str, str, str]]:
    rows = []
    env = {**os.environ, "RUNSTREAM_URL": url, "RUNSTREAM_SPOOL_DIR": str(work / "spool")}
    for name, body in SCRIPTS.items():
        script = work / "script.py"
        script.write_text(SCRIPT_HEAD + textwrap.dedent(body) + SCRIPT_TAIL)
        try:
            out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                                 text=True, timeout=60)
            text = out.stdout + out.stderr
        except subprocess.TimeoutExpired as exc:
            rows.append((name, "hung", f"no exit within 60 s: {exc}"[:90]))
            continue
        run = next((line.split()[1] for line in text.splitlines() if line.startswith("RUN ")),
                   "")
        waited = next((line for line in text.splitlines() if line.startswith("WAIT")), "")
        stored = "?"
        if run:
            time.sleep(0.3)
            from runstream.client import ApiError, Client

            client = Client(url)
            status = "?"
            try:
                status = client.get_json(f"/api/runs/{run}")["status"]
                data = client.get_json(f"/api/runs/{run}/metrics/m")
                stored = str(len(data.get("steps", data.get("values", []))))
            except ApiError as exc:
                stored = "0" if exc.status == 404 else f"HTTP {exc.status}"
        else:
            status = "no run"
        first_error = next((line for line in text.splitlines()
                            if "runstream:" in line or "Error" in line), "")
        rows.append((name, f"{stored}/600 stored, {status}",
                     f"{waited}; {first_error[:60]}"))
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "server").start()
        try:
            rows = http_cases(server.url) + sdk_cases(
                server.url, Path(tmp))
        finally:
            server.stop()
    width = max(len(r[0]) for r in rows)
    for name, status, message in rows:
        print(f"{name:<{width}}  {status:<22}  {message}")


if __name__ == "__main__":
    main()
