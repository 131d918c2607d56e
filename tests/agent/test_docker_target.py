"""``runstream submit -c docker-python`` against the real container engine, as a user runs it.

The lab's own ``runstream.toml`` and image recipe are used (its requirements
pinned to the versions installed here, so that a run in the container computes
what it computes locally); the image is built once per session. Every test
checks with the engine that its containers are gone.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runstream.client import ApiError, Client
from tests.conftest import KAFKA, ServerProcess, missing_service

pytestmark = pytest.mark.docker

LAB = Path(__file__).resolve().parents[2] / "examples" / "classifying_iris"
BASE_IMAGE = "runstream-base:py3"
PINNED = ("numpy", "scikit-learn", "scipy", "matplotlib")
EXTRA_TARGETS = """
[targets.small]
type = "docker"
image = "runstream-base:py3"
requirements = "requirements.txt"
memory = "150m"

[targets.tiny]
type = "docker"
image = "runstream-base:py3"
requirements = "requirements.txt"
memory = "16m"

[targets.broken]
type = "docker"
image = "runstream-base:py3"
requirements = "requirements.txt"
setup = ["echo the build is about to fail", "exit 3"]
"""

SLOW = """
    import os, time, runstream
    log = runstream.get_logger()
    os.makedirs("outputs", exist_ok=True)
    open("outputs/partial.txt", "w").write("written before the end")
    log.log("epoch", 1)
    log.wait()
    print("started", flush=True)
    time.sleep(120)
    print("never printed")
"""

HOG = """
    import time, runstream
    log = runstream.get_logger()
    log.log("before", 1)
    log.wait()
    print("allocating", flush=True)
    chunks = []
    for _ in range(1000):
        chunks.append(bytearray(10 << 20))
        time.sleep(0.002)
"""


def lab_requirements() -> str:
    """The lab's requirements at the versions installed here."""
    return "".join(f"{name}=={importlib.metadata.version(name)}\n" for name in PINNED)


def make_lab(root: Path) -> Path:
    """A copy of the lab, with a project name of its own (containers are labelled by it)."""
    lab = root / f"lab-{uuid.uuid4().hex[:8]}"
    shutil.copytree(LAB, lab, ignore=shutil.ignore_patterns("outputs", "assets", "__pycache__"))
    (lab / "requirements.txt").write_text(lab_requirements())
    with (lab / "runstream.toml").open("a") as fh:
        fh.write(EXTRA_TARGETS)
    for name, script in (("slow.py", SLOW), ("hog.py", HOG)):
        (lab / name).write_text(textwrap.dedent(script))
    return lab


@pytest.fixture(scope="session")
def engine() -> Iterator[Any]:
    from runstream_agent.containers.engine import EngineError, connect

    try:
        client = connect()
    except EngineError as exc:
        missing_service(f"a container engine ({exc})")
    try:
        client.images.get(BASE_IMAGE)
    except Exception:
        missing_service(f"the base image {BASE_IMAGE} (scripts/services/podman base-image)")
    yield client
    client.close()


@pytest.fixture(scope="session")
def lab_image(engine: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The lab's image, built once per session (and reused while its recipe holds)."""
    from runstream_agent.containers.image import ensure_image
    from runstream_agent.targets import load_target

    target = load_target(make_lab(tmp_path_factory.mktemp("image")), "docker-python")
    assert target.docker is not None
    return ensure_image(engine, target.docker, target.python).tag


@pytest.fixture
def lab(tmp_path: Path, engine: Any, lab_image: str) -> Iterator[Path]:
    project = make_lab(tmp_path)
    yield project
    left = engine.containers.list(all=True, filters={"label": f"runstream.project={project.name}"})
    assert not left, f"containers left behind: {[c.name for c in left]}"


def env_for(tmp_path: Path, url: str, kafka: str = "") -> dict[str, str]:
    env = {**os.environ, "RUNSTREAM_URL": url, "RUNSTREAM_SPOOL_DIR": str(tmp_path / "spool"),
           "RUNSTREAM_EXIT_PATIENCE": "2",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for name in ("RUNSTREAM_AGENT_SOCKET", "RUNSTREAM_KAFKA", "RUNSTREAM_KAFKA_TOPIC"):
        env.pop(name, None)
    if kafka:
        env["RUNSTREAM_KAFKA"] = kafka
    return env


class Submission:
    """``runstream submit`` in the background; its output lines, as they arrive."""

    def __init__(self, cwd: Path, env: dict[str, str], *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "runstream_agent.cli", "submit", *args], cwd=cwd, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        self.out: list[str] = []
        self.err: list[str] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [threading.Thread(target=self._read, args=(pipe, lines), daemon=True)
                         for pipe, lines in ((self.proc.stdout, self.out),
                                             (self.proc.stderr, self.err))]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(pipe: Any, lines: list[str]) -> None:
        for line in pipe:
            lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.out):
            assert self.proc.poll() is None or self._readers[0].is_alive(), (
                f"submit ended before printing {text!r}:\n" + self.transcript())
            assert time.monotonic() < deadline, f"no {text!r} in time:\n" + self.transcript()
            time.sleep(0.02)

    def finish(self, timeout: float = 180) -> int:
        code = self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(10)
        return code

    @property
    def run_id(self) -> str:
        self.wait_for("RunId: ")
        return next(line for line in self.out if line.startswith("RunId: ")).split()[1]

    def transcript(self) -> str:
        return "\n".join(self.out) + "\n--- stderr ---\n" + "\n".join(self.err)


def run_view(client: Client, run_id: str) -> dict[str, Any]:
    view: dict[str, Any] = client.get_json(f"/api/runs/{run_id}")
    return view


def containers_of(engine: Any, run_id: str) -> list[Any]:
    return list(engine.containers.list(all=True, filters={"label": f"runstream.run={run_id}"}))


LIVE = """
    import os, sys, time
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import runstream
    log = runstream.get_logger()
    print("first line", flush=True)
    print("a warning", file=sys.stderr, flush=True)
    for step in range(3):
        log.log("loss", 1.0 / (step + 1), step=step)
    log.wait()
    time.sleep(3)
    os.makedirs("outputs", exist_ok=True)
    open("outputs/model.pkl", "wb").write(b"weights")
    plt.plot([3, 2, 1])
    plt.savefig("outputs/loss.png")
    print("last line")
"""


def test_a_run_streams_live_and_stores_metrics_outputs_and_images(
        lab: Path, server: ServerProcess, engine: Any, tmp_path: Path) -> None:
    (lab / "live.py").write_text(textwrap.dedent(LIVE))
    client = server.client()
    sub = Submission(lab, env_for(tmp_path, server.url), "-c", "docker-python", "live.py")
    run_id = sub.run_id
    sub.wait_for("first line")
    assert sub.proc.poll() is None  # shown here while the script still runs
    assert len(containers_of(engine, run_id)) == 1
    deadline = time.monotonic() + 10
    while "first line" not in [line[-1] for line in client.get_json(
            f"/api/runs/{run_id}/logs", start=0)["lines"]]:
        assert time.monotonic() < deadline, "the line did not reach the server while running"
        time.sleep(0.05)
    assert run_view(client, run_id)["status"] == "running"

    assert sub.finish() == 0, sub.transcript()
    assert sub.out[0] == f"RunId: {run_id}"
    assert sub.out.index("first line") < sub.out.index("last line") < \
        sub.out.index("Execution Details")
    assert "Status: Completed" in sub.out and "Number: 1" in sub.out
    assert "a warning" in sub.err  # stderr stays stderr
    view = run_view(client, run_id)
    assert (view["status"], view["target"], view["exit_code"]) == ("completed", "docker-python", 0)
    assert view["metrics"] == {"loss": pytest.approx(1 / 3)}
    loss = client.get_json(f"/api/runs/{run_id}/metrics/loss")
    assert (loss["steps"], loss["values"]) == ([0, 1, 2], pytest.approx([1, 1 / 2, 1 / 3]))
    artifacts = {a["path"]: a for a in client.get_json(f"/api/runs/{run_id}/artifacts")}
    assert set(artifacts) == {"outputs/model.pkl", "outputs/loss.png"}
    assert artifacts["outputs/loss.png"]["media_type"] == "image/png"
    assert client.request("GET", f"/api/runs/{run_id}/artifacts/outputs/model.pkl").read() == \
        b"weights"
    log = client.request("GET", f"/api/runs/{run_id}/driver_log").read().decode()
    assert log.index("first line") < log.index("a warning") < log.index("last line")
    assert not containers_of(engine, run_id)


def test_a_container_killed_mid_run_is_recorded_failed_with_the_reason(
        lab: Path, server: ServerProcess, engine: Any, tmp_path: Path) -> None:
    client = server.client()
    sub = Submission(lab, env_for(tmp_path, server.url), "-c", "docker-python", "slow.py")
    run_id = sub.run_id
    sub.wait_for("started")
    (container,) = containers_of(engine, run_id)
    container.kill()
    assert sub.finish() == 137, sub.transcript()
    assert "Reason: killed by the engine (exit 137)" in sub.out
    view = run_view(client, run_id)
    assert (view["status"], view["reason"], view["exit_code"]) == (
        "failed", "killed by the engine (exit 137)", 137)
    assert view["metrics"] == {"epoch": 1}  # what the agent shipped before it died
    log = client.request("GET", f"/api/runs/{run_id}/driver_log").read().decode()
    assert "started" in log
    # The host took over: what the script had written to outputs/ is stored too.
    paths = [a["path"] for a in client.get_json(f"/api/runs/{run_id}/artifacts")]
    assert paths == ["outputs/partial.txt"]
    assert not containers_of(engine, run_id)


@pytest.mark.parametrize(("target", "who"), [("small", "the script"), ("tiny", "the agent")])
def test_an_oom_kill_is_recorded_as_the_failure_reason(
        lab: Path, server: ServerProcess, engine: Any, tmp_path: Path, target: str,
        who: str) -> None:
    # small (150 MiB): the kernel kills the script, the agent inside records it;
    # tiny (16 MiB): the agent itself dies, and the host ends the stream.
    client = server.client()
    sub = Submission(lab, env_for(tmp_path, server.url), "-c", target, "hog.py")
    run_id = sub.run_id
    assert sub.finish() != 0, sub.transcript()
    assert "Reason: out of memory (OOM-killed)" in sub.out, sub.transcript()
    view = run_view(client, run_id)
    assert (view["status"], view["reason"]) == ("failed", "out of memory (OOM-killed)")
    if who == "the script":
        assert view["metrics"] == {"before": 1}
    assert not containers_of(engine, run_id)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_canceling_the_submit_stops_the_container_and_records_the_run_canceled(
        lab: Path, server: ServerProcess, engine: Any, tmp_path: Path,
        sig: signal.Signals) -> None:
    client = server.client()
    sub = Submission(lab, env_for(tmp_path, server.url), "-c", "docker-python", "slow.py")
    run_id = sub.run_id
    sub.wait_for("started")
    sub.proc.send_signal(sig)
    assert sub.finish(timeout=60) == 130, sub.transcript()
    assert "Status: Canceled" in sub.out
    assert any("stopping the container" in line for line in sub.err)
    view = run_view(client, run_id)
    assert (view["status"], view["reason"]) == ("canceled", "canceled by the user")
    # The agent inside ended the run: the script's partial outputs were uploaded.
    assert [a["path"] for a in client.get_json(f"/api/runs/{run_id}/artifacts")] == \
        ["outputs/partial.txt"]
    assert not containers_of(engine, run_id)


def test_a_failing_image_build_shows_its_build_log_and_creates_no_run(
        lab: Path, server: ServerProcess, tmp_path: Path) -> None:
    env = env_for(tmp_path, server.url)
    for args in (["prepare", "-c", "broken"], ["submit", "-c", "broken", "slow.py"]):
        done = subprocess.run([sys.executable, "-m", "runstream_agent.cli", *args], cwd=lab,
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "--- build log of target broken ---" in done.stderr
        assert "the build is about to fail" in done.stderr  # the failing step's own output
        assert "building the image runstream-deps:" in done.stderr and "failed at" in \
            done.stderr
        assert "RunId" not in done.stdout
    assert server.client().get_json("/api/runs")["runs"] == []


def test_prepare_builds_ahead_and_later_prepares_and_submits_reuse_the_image(
        lab: Path, tmp_path: Path) -> None:
    outputs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-m", "runstream_agent.cli", "prepare", "-c",
                               "docker-python"], cwd=lab, env=env_for(tmp_path, "http://unused"),
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    # The session built the lab's image (or, if runstream's code changed since, the first
    # prepare rebuilt its top layer): the second finds it.
    assert "for target docker-python: up to date" in outputs[1]
    assert outputs[1].split()[1].startswith("runstream-target:")


# -- the lab, end to end -------------------------------------------------------------------


def sweep(lab: Path, env: dict[str, str], target: str) -> None:
    done = subprocess.run([sys.executable, "run.py", "-c", target], cwd=lab, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("runstream submit") == 11


def finished_runs(client: Client, count: int, timeout: float = 400) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        runs: list[dict[str, Any]] = client.get_json("/api/runs", limit=100)["runs"]
        if len(runs) == count and all(r["status"] in ("completed", "failed") for r in runs):
            return runs
        assert time.monotonic() < deadline, f"runs not done: {[r['status'] for r in runs]}"
        time.sleep(1)


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The lab's choice: the highest MaxFscore, then the higher Accuracy."""
    return max(runs, key=lambda r: (r["metrics"]["MaxFscore"], r["metrics"]["Accuracy"]))


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_iris_sweep_in_containers_selects_the_same_model_as_locally(
        lab: Path, engine: Any, tmp_path: Path) -> None:
    # Over Kafka when a broker is at hand (the agents inside produce to it), else HTTP.
    env_server = {"RUNSTREAM_KAFKA": KAFKA,
                  "RUNSTREAM_KAFKA_TOPIC": f"docker-{uuid.uuid4().hex[:8]}"} if KAFKA else {}
    server = ServerProcess(tmp_path / "server", env=env_server).start()
    try:
        env = env_for(tmp_path, server.url, KAFKA)
        if KAFKA:
            env["RUNSTREAM_KAFKA_TOPIC"] = env_server["RUNSTREAM_KAFKA_TOPIC"]
        client = server.client()
        sweep(lab, env, "docker-python")  # detached: eleven containers side by side
        docker = finished_runs(client, 11)
        sweep(lab, env, "local")
        runs = finished_runs(client, 22)
    finally:
        server.stop()
    assert all(r["status"] == "completed" for r in runs), [r["reason"] for r in runs]
    by_target: dict[str, dict[float, dict[str, Any]]] = {"docker-python": {}, "local": {}}
    for r in runs:
        by_target[r["target"]][r["metrics"]["Regularization Rate"]] = r
    assert sorted(by_target["docker-python"]) == sorted(by_target["local"]) == \
        sorted(10 / 2**i for i in range(11))
    for rate, local in by_target["local"].items():
        inside = by_target["docker-python"][rate]
        assert inside["metrics"] == local["metrics"], rate
        assert inside["artifacts"] == local["artifacts"] == 3  # model.pkl, cm.png, roc.png
        assert inside["log_lines"] == local["log_lines"]
    chosen = {target: best(list(runs.values()))["metrics"]["Regularization Rate"]
              for target, runs in by_target.items()}
    assert chosen["docker-python"] == chosen["local"]
    assert {r["run_id"] for r in docker} == {r["run_id"] for r in
                                             by_target["docker-python"].values()}
    assert not engine.containers.list(all=True,
                                      filters={"label": f"runstream.project={lab.name}"})


def printed(client: Client, run_id: str) -> list[str]:
    try:
        return [line[-1] for line in client.get_json(f"/api/runs/{run_id}/logs",
                                                     start=0)["lines"]]
    except ApiError:  # not on the server yet
        return []


def sync_in(lab: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runstream_agent.cli", "sync"], cwd=lab,
                          env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("detach", [False, True])
def test_a_run_whose_supervisor_was_killed_still_ends_on_record(
        lab: Path, engine: Any, tmp_path: Path, detach: bool) -> None:
    # The host's `runstream submit` (or its background watcher) is SIGKILLed: the container
    # goes on, its agent keeps the run alive and would end it; when the container dies
    # too, the lease ends the run, and `runstream sync` (then the stream's writer) as well.
    server = ServerProcess(tmp_path / "server", env={
        "RUNSTREAM_LEASE_CHECK": "0.2", "RUNSTREAM_LEASE_GRACE": "2"}).start()
    env = {**env_for(tmp_path, server.url), "RUNSTREAM_LEASE": "0.5"}
    client = server.client()
    sub = Submission(lab, env, "-c", "docker-python", *(["--detach"] if detach else []),
                     "slow.py")
    try:
        run_id = sub.run_id
        deadline = time.monotonic() + 120
        while "started" not in printed(client, run_id):
            assert time.monotonic() < deadline, sub.transcript()
            time.sleep(0.1)
        (container,) = containers_of(engine, run_id)
        supervisor = container.labels["runstream.host-pid"]
        os.kill(int(supervisor), signal.SIGKILL)
        sub.proc.kill()
        sub.finish()
        time.sleep(2)  # four leases
        container.reload()
        assert container.status == "running"  # the run goes on without its supervisor …
        assert run_view(client, run_id)["status"] == "running"  # … and is kept alive
        synced = sync_in(lab, env)
        assert "busy" in synced.stdout  # its agent inside still writes the stream
        container.kill()
        deadline = time.monotonic() + 15
        while run_view(client, run_id)["status"] != "failed":
            assert time.monotonic() < deadline, "the lease did not end the run"
            time.sleep(0.1)
        assert run_view(client, run_id)["reason"].startswith("agent lost: no sign of life")
        synced = sync_in(lab, env)
        assert synced.returncode == 0, synced.stdout + synced.stderr
        assert "its writer was gone" in synced.stdout
        view = run_view(client, run_id)
        assert view["status"] == "failed" and view["reason"].startswith("agent lost: its agent")
        assert view["metrics"] == {"epoch": 1}
    finally:
        sub.proc.kill()
        for left in containers_of(engine, run_id):  # nobody is left to remove it
            left.remove(force=True)
        server.stop()


PARAMS = """
    import runstream
    log = runstream.get_logger()
    log.log_params({"reg": 0.5})
    log.log_param("seed", 8)  # refused: given as 7 at submission
    log.set_tag("stage", "done")
    log.log("loss", 0.25)
"""


def test_a_container_run_keeps_the_name_params_and_tags_given_and_logged(
        lab: Path, server: ServerProcess, engine: Any, tmp_path: Path) -> None:
    (lab / "params.py").write_text(textwrap.dedent(PARAMS))
    sub = Submission(lab, env_for(tmp_path, server.url), "-c", "docker-python", "--name",
                     "boxed", "--param", "seed=7", "--tag", "team=vision", "params.py")
    run_id = sub.run_id
    assert sub.finish() == 0, sub.transcript()
    assert "parameter 'seed' is already logged as '7', so '8' was refused" in "\n".join(sub.err)
    view = run_view(server.client(), run_id)
    assert (view["status"], view["target"], view["name"]) == ("completed", "docker-python",
                                                              "boxed")
    assert view["params"] == {"seed": "7", "reg": "0.5"}
    assert view["tags"] == {"team": "vision", "stage": "done"}
    assert view["metrics"] == {"loss": 0.25}
    assert not containers_of(engine, run_id)
