"""``runstream submit`` of scripts that log with MLflow: the real MLflow client in the
script, the real agent, a real server (HTTP and Kafka mode, local and docker targets).

The script's printed lines, what it logs with MLflow (written by the server to
``mlflow/<run id>``) and its outputs/ (uploaded by the agent) are one run; the agent
owns it, so the script's ``mlflow.end_run()`` does not end it, its exit does. A script
run on its own with ``MLFLOW_TRACKING_URI`` pointing at runstream is a run too, live.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runstream.client import ApiError, Client
from tests.conftest import KAFKA, ServerProcess, free_port, missing_service

IRIS = Path(__file__).resolve().parents[2] / "examples" / "classifying_iris"
# The script's MLflow client: no retries (a wrong answer fails at once), no telemetry.
MLFLOW_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
              "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
              "GIT_PYTHON_REFRESH": "quiet"}
MLFLOW_VARS = ("MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_NAME",
               "MLFLOW_EXPERIMENT_ID", "MLFLOW_TRACKING_TOKEN")

# Prints the MLflow variables it got and, first thing, asks the server for its run, as
# mlflow.start_run() would: the run must be there, and started.
PROBE = """
    import json, os, urllib.request
    names = NAMES
    print("env " + json.dumps({k: os.environ.get(k) for k in names}))
    rid = os.environ.get("MLFLOW_RUN_ID")
    if rid:
        request = urllib.request.Request(os.environ["MLFLOW_TRACKING_URI"] + "/api/runs/" + rid)
        if os.environ.get("MLFLOW_TRACKING_TOKEN"):
            request.add_header("Authorization", "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"])
        with urllib.request.urlopen(request) as answer:
            print("status at start " + json.load(answer)["status"])
""".replace("NAMES", repr(MLFLOW_VARS))

# Logs with MLflow's fluent API, prints, writes outputs/, and looks at its run after
# mlflow.end_run(): still running, on both APIs.
TRAIN = """
    import json, os, sys, urllib.request
    import mlflow
    print("training", sys.argv[1:])
    with mlflow.start_run() as run:
        print("mlflow run " + run.info.run_id)
        mlflow.log_param("alpha", sys.argv[1])
        mlflow.log_params({"layers": 3, "opt": "adam"})
        mlflow.set_tag("team", "vision")
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        os.makedirs("outputs", exist_ok=True)
        open("outputs/model.txt", "w").write("weights")
        if sys.argv[2:] == ["--fail"]:
            raise ValueError("diverged at step 5")
    url = os.environ["MLFLOW_TRACKING_URI"]
    with urllib.request.urlopen(url + "/api/runs/" + run.info.run_id) as answer:
        print("after end_run: " + json.load(answer)["status"])
    print("mlflow after end_run: " + mlflow.MlflowClient().get_run(run.info.run_id).info.status)
    print("bye")
"""


# -- helpers -----------------------------------------------------------------

def make_project(root: Path, name: str, scripts: dict[str, str], toml: str = "") -> Path:
    project = root / name
    project.mkdir(parents=True)
    for file, text in scripts.items():
        (project / file).write_text(textwrap.dedent(text))
    if toml:
        (project / "runstream.toml").write_text(textwrap.dedent(toml))
    return project


def agent_env(tmp_path: Path, url: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, **MLFLOW_ENV, "RUNSTREAM_URL": url,
           "RUNSTREAM_SPOOL_DIR": str(tmp_path / "spool"), "RUNSTREAM_EXIT_PATIENCE": "2",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for name in ("RUNSTREAM_AGENT_SOCKET", "RUNSTREAM_KAFKA", "RUNSTREAM_KAFKA_TOPIC",
                 "RUNSTREAM_TOKEN", "RUNSTREAM_PROJECT", *MLFLOW_VARS):
        env.pop(name, None)
    env.update(extra)
    return env


def submit(project: Path, env: dict[str, str], *args: str,
           timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runstream_agent.cli", "submit", *args],
                          cwd=project, env=env, capture_output=True, text=True,
                          timeout=timeout)


def run_id_in(output: str) -> str:
    return output.split("RunId: ", 1)[1].split()[0]


def printed(client: Client, run_id: str, fd: int = 1) -> list[str]:
    page = client.get_json(f"/api/runs/{Client.quote(run_id)}/logs", start=0, limit=100_000)
    return [text for _n, _t, line_fd, text in page["lines"] if line_fd == fd]


def probe_env(stdout: str) -> dict[str, str | None]:
    line = next(line for line in stdout.splitlines() if line.startswith("env "))
    found: dict[str, str | None] = json.loads(line.removeprefix("env "))
    return found


def experiment_id(server: ServerProcess, name: str) -> str:
    import mlflow

    experiment = mlflow.MlflowClient(tracking_uri=server.url).get_experiment_by_name(name)
    assert experiment is not None, f"no MLflow experiment {name!r}"
    return str(experiment.experiment_id)


def wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.1)


@pytest.fixture(autouse=True)
def _mlflow_client_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test's own MLflow client (that checks what the script logged) fails at once."""
    for key, value in MLFLOW_ENV.items():
        monkeypatch.setenv(key, value)
    for key in MLFLOW_VARS:
        monkeypatch.delenv(key, raising=False)


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("mlflow-server")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def kafka_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    if not KAFKA:
        missing_service("Kafka (RUNSTREAM_TEST_KAFKA)")
    topic = f"mlflow-agent.{uuid.uuid4().hex[:10]}"
    server = ServerProcess(tmp_path_factory.mktemp("mlflow-kafka"), env={
        "RUNSTREAM_KAFKA": KAFKA, "RUNSTREAM_KAFKA_TOPIC": topic,
        "RUNSTREAM_KAFKA_PARTITIONS": "3"}).start()
    yield server
    server.stop()


def mode_env(mode: str, server: ServerProcess) -> dict[str, str]:
    """The agent's environment for events over HTTP, or produced to the server's topic."""
    if mode == "kafka":
        return {"RUNSTREAM_KAFKA": server.env["RUNSTREAM_KAFKA"],
                "RUNSTREAM_KAFKA_TOPIC": server.env["RUNSTREAM_KAFKA_TOPIC"]}
    return {}


MODES = ["http", pytest.param("kafka", marks=pytest.mark.kafka)]


# -- the variables and the launch gate (no MLflow client needed) -------------

@pytest.mark.parametrize("mode", MODES)
def test_submit_points_mlflow_at_the_run_and_starts_the_script_once_the_server_has_it(
        tmp_path: Path, mode: str, request: pytest.FixtureRequest) -> None:
    server: ServerProcess = request.getfixturevalue(f"{mode}_server")
    project = make_project(tmp_path, "probe", {"probe.py": PROBE})
    # A snapshot that takes a moment to upload: the events wait for it, the script too.
    (project / "weights.bin").write_bytes(os.urandom(24 << 20))
    env = agent_env(tmp_path, server.url, **mode_env(mode, server),
                    MLFLOW_TRACKING_URI="http://mlflow.example:5000",
                    MLFLOW_EXPERIMENT_ID="7")  # the user's own: replaced, removed
    done = submit(project, env, "probe.py")
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = run_id_in(done.stdout)
    got = probe_env(done.stdout)
    assert got == {"MLFLOW_TRACKING_URI": server.url, "MLFLOW_RUN_ID": run_id,
                   "MLFLOW_EXPERIMENT_NAME": "probe", "MLFLOW_EXPERIMENT_ID": None,
                   "MLFLOW_TRACKING_TOKEN": None}
    # Its first request found the run started: run.started was applied before it ran.
    assert "status at start running" in done.stdout
    assert ("the script's MLflow calls go to this run on " + server.url +
            ", not to MLFLOW_TRACKING_URI=http://mlflow.example:5000") in done.stderr
    client = server.client()
    run = wait_for(lambda: _finished(client, run_id), 30, "the run's end")
    assert run["status"] == "completed"
    assert "status at start running" in printed(client, run_id)


def test_the_token_reaches_the_scripts_mlflow_client(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "server", env={"RUNSTREAM_TOKEN": "s3cret"}).start()
    try:
        project = make_project(tmp_path, "probe", {"probe.py": PROBE})
        done = submit(project, agent_env(tmp_path, server.url, RUNSTREAM_TOKEN="s3cret"),
                      "probe.py")
        assert done.returncode == 0, done.stdout + done.stderr
        assert probe_env(done.stdout)["MLFLOW_TRACKING_TOKEN"] == "s3cret"
        assert "status at start running" in done.stdout  # the request with the token passed
    finally:
        server.stop()


def test_no_mlflow_leaves_the_mlflow_variables_alone(tmp_path: Path,
                                                     http_server: ServerProcess) -> None:
    project = make_project(tmp_path, "probe", {"probe.py": PROBE})
    env = agent_env(tmp_path, http_server.url, MLFLOW_TRACKING_URI="http://mlflow.example:5000",
                    MLFLOW_EXPERIMENT_ID="7")
    done = submit(project, env, "--no-mlflow", "probe.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert probe_env(done.stdout) == {
        "MLFLOW_TRACKING_URI": "http://mlflow.example:5000", "MLFLOW_RUN_ID": None,
        "MLFLOW_EXPERIMENT_NAME": None, "MLFLOW_EXPERIMENT_ID": "7",
        "MLFLOW_TRACKING_TOKEN": None}
    assert "MLFLOW_TRACKING_URI" not in done.stderr
    assert "--no-mlflow" in submit(project, env, "--help").stdout


def test_a_run_id_mlflow_refuses_is_not_passed_and_the_user_is_told(
        tmp_path: Path, http_server: ServerProcess) -> None:
    project = make_project(tmp_path, "my.lab", {"probe.py": PROBE})  # dots: not for MLflow
    done = submit(project, agent_env(tmp_path, http_server.url), "probe.py")
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = run_id_in(done.stdout)
    assert run_id.startswith("my.lab_")
    got = probe_env(done.stdout)
    assert (got["MLFLOW_TRACKING_URI"], got["MLFLOW_RUN_ID"], got["MLFLOW_EXPERIMENT_NAME"]) \
        == (http_server.url, None, "my.lab")
    assert f"MLflow does not accept the run id {run_id}" in done.stderr
    assert "RUNSTREAM_PROJECT" in done.stderr


def test_a_server_that_is_down_holds_the_script_only_a_moment(tmp_path: Path) -> None:
    """The script starts after the shipper's patience (5 s) and is told why; its run is
    delivered by sync once the server is up."""
    project = make_project(tmp_path, "probe", {"probe.py": "print('ran anyway')\n"})
    url = f"http://127.0.0.1:{free_port()}"
    began = time.monotonic()
    done = submit(project, agent_env(tmp_path, url), "probe.py")
    took = time.monotonic() - began
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ran anyway" in done.stdout
    assert "the script starts before the server has its run" in done.stderr
    assert f"the server at {url} cannot be reached" in done.stderr
    assert took < 20, took
    run_id = run_id_in(done.stdout)
    server = ServerProcess(tmp_path / "server")
    server.port, server.url = int(url.rsplit(":", 1)[1]), url
    server.start()
    try:
        synced = subprocess.run([sys.executable, "-m", "runstream_agent.cli", "sync"],
                                env=agent_env(tmp_path, url), capture_output=True, text=True,
                                timeout=60)
        assert synced.returncode == 0, synced.stdout + synced.stderr
        run = server.client().get_json(f"/api/runs/{run_id}")
        assert run["status"] == "completed"
    finally:
        server.stop()


def test_ctrl_c_while_the_script_waits_for_the_server_cancels_it_unstarted(
        tmp_path: Path) -> None:
    project = make_project(tmp_path, "probe", {"probe.py": "open('ran', 'w').write('x')\n"})
    proc = subprocess.Popen([sys.executable, "-m", "runstream_agent.cli", "submit", "probe.py"],
                            cwd=project, env=agent_env(tmp_path, f"http://127.0.0.1:{free_port()}"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith("RunId: "), first
    time.sleep(1.0)  # at the gate: the server cannot be reached
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    out = first + out
    assert proc.returncode == 130, out + err
    assert "Status: Canceled" in out
    assert not (project / "ran").exists()
    assert not list(tmp_path.glob("runstream-*/ran"))


# -- the real MLflow client in the script ------------------------------------

def _finished(client: Client, run_id: str) -> dict[str, Any] | None:
    try:
        run: dict[str, Any] = client.get_json(f"/api/runs/{Client.quote(run_id)}")
    except ApiError:
        return None
    return run if run["status"] in ("completed", "failed", "canceled") else None


def check_one_run(server: ServerProcess, run_id: str, project: str, *,
                  failed: bool = False) -> None:
    """Printed lines, MLflow's params/tags/metrics, outputs/ and the end: one run, on
    runstream's API and on MLflow's."""
    import mlflow

    client = server.client()
    run = wait_for(lambda: _finished(client, run_id), 60, "the run's end")
    lines = printed(client, run_id)
    assert lines[0] == "training ['0.5'" + (", '--fail']" if failed else "]")
    assert f"mlflow run {run_id}" in lines  # start_run() resumed the submitted run
    assert run["params"] == {"alpha": "0.5", "layers": "3", "opt": "adam"}
    assert run["tags"]["team"] == "vision"
    assert run["metrics"]["loss"] == pytest.approx(0.2)
    artifacts = client.get_json(f"/api/runs/{Client.quote(run_id)}/artifacts")
    assert "outputs/model.txt" in [a["path"] for a in artifacts]

    mlflow_client = mlflow.MlflowClient(tracking_uri=server.url)
    got = mlflow_client.get_run(run_id)
    assert got.info.experiment_id == experiment_id(server, project)
    assert got.data.params == {"alpha": "0.5", "layers": "3", "opt": "adam"}
    assert got.data.tags["team"] == "vision"
    history = mlflow_client.get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(s, 1.0 / (s + 1)) for s in range(5)]
    # No second run: the script's MLflow run is the submitted one.
    listed = mlflow_client.search_runs([got.info.experiment_id])
    assert [r.info.run_id for r in listed] == [run_id]
    if failed:
        assert (run["status"], run["exit_code"]) == ("failed", 1)
        assert run["reason"] == "ValueError: diverged at step 5"
        assert got.info.status == "FAILED"
        assert "bye" not in lines
    else:
        assert (run["status"], run["exit_code"]) == ("completed", 0)
        assert got.info.status == "FINISHED"
        # end_run() did not end it: the agent does, when the script exits.
        assert "after end_run: running" in lines
        assert "mlflow after end_run: RUNNING" in lines
        assert lines[-1] == "bye"


@pytest.mark.parametrize("mode", MODES)
def test_an_mlflow_script_under_the_agent_is_one_run(
        tmp_path: Path, mode: str, request: pytest.FixtureRequest) -> None:
    server: ServerProcess = request.getfixturevalue(f"{mode}_server")
    name = f"mlflowlab{uuid.uuid4().hex[:6]}"
    project = make_project(tmp_path, name, {"train.py": TRAIN})
    done = submit(project, agent_env(tmp_path, server.url, **mode_env(mode, server)),
                  "train.py", "0.5")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Status: Completed" in done.stdout
    check_one_run(server, run_id_in(done.stdout), name)


def test_a_failing_mlflow_script_fails_the_run(tmp_path: Path,
                                               http_server: ServerProcess) -> None:
    name = f"mlflowlab{uuid.uuid4().hex[:6]}"
    project = make_project(tmp_path, name, {"train.py": TRAIN})
    done = submit(project, agent_env(tmp_path, http_server.url), "train.py", "0.5", "--fail")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "ValueError: diverged at step 5" in done.stdout + done.stderr
    check_one_run(http_server, run_id_in(done.stdout), name, failed=True)


def test_a_script_on_its_own_logging_with_mlflow_is_a_live_run(
        tmp_path: Path, http_server: ServerProcess) -> None:
    """No agent: MLflow makes the run through the server's API; it is on runstream's
    API while the script still runs, and ends when the script ends it."""
    import mlflow

    name = f"standalone-{uuid.uuid4().hex[:6]}"
    go = tmp_path / "go"
    script = tmp_path / "alone.py"
    script.write_text(textwrap.dedent(f"""
        import os, time, mlflow
        mlflow.set_experiment({name!r})
        with mlflow.start_run(run_name="on its own") as run:
            print(run.info.run_id, flush=True)
            mlflow.log_param("alpha", "0.5")
            mlflow.log_metric("loss", 0.5, step=0)
            deadline = time.monotonic() + 60
            while not os.path.exists({str(go)!r}) and time.monotonic() < deadline:
                time.sleep(0.05)
            mlflow.log_metric("loss", 0.25, step=1)
    """))
    env = {k: v for k, v in agent_env(tmp_path, http_server.url).items()
           if not k.startswith("RUNSTREAM_")}
    env["MLFLOW_TRACKING_URI"] = http_server.url
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()
        assert run_id, proc.stderr.read() if proc.stderr else ""
        client = http_server.client()

        def live() -> dict[str, Any] | None:
            run: dict[str, Any] = client.get_json(f"/api/runs/{Client.quote(run_id)}")
            return run if run["metrics"].get("loss") == 0.5 else None

        run = wait_for(live, 30, "the standalone run's first metric")
        assert run["status"] == "running"
        assert (run["name"], run["params"]) == ("on its own", {"alpha": "0.5"})
        listed = [r["run_id"] for r in client.get_json("/api/runs")["runs"]]
        assert run_id in listed
        go.touch()
        assert proc.wait(60) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    run = wait_for(lambda: _finished(client, run_id), 30, "the standalone run's end")
    assert run["status"] == "completed"
    assert run["metrics"]["loss"] == 0.25
    got = mlflow.MlflowClient(tracking_uri=http_server.url).get_run(run_id)
    assert (got.info.status, got.info.experiment_id) == ("FINISHED",
                                                         experiment_id(http_server, name))


def iris_lab(root: Path) -> Path:
    """A copy of the iris lab, with a project name of its own."""
    lab = root / f"iris{uuid.uuid4().hex[:6]}"
    shutil.copytree(IRIS, lab, ignore=shutil.ignore_patterns("outputs", "assets", "__pycache__"))
    return lab


def test_the_iris_example_with_autolog_under_the_agent(tmp_path: Path,
                                                       http_server: ServerProcess) -> None:
    lab = iris_lab(tmp_path)
    done = submit(lab, agent_env(tmp_path, http_server.url), "iris_mlflow.py", "0.5")
    assert done.returncode == 0, done.stdout + done.stderr
    check_iris_run(http_server, run_id_in(done.stdout), tmp_path / "model")


def check_iris_run(server: ServerProcess, run_id: str, dest: Path) -> None:
    """What iris_mlflow.py logs, autolog's included (its model too), in one run."""
    import mlflow

    client = server.client()
    run = wait_for(lambda: _finished(client, run_id), 60, "the iris run's end")
    assert (run["status"], run["exit_code"]) == ("completed", 0)
    lines = printed(client, run_id)
    assert f"MLflow run {run_id}" in lines
    # autolog's parameters of the fit, and the script's own
    assert run["params"]["C"] == "2.0" and run["params"]["max_iter"] == "1000"
    assert run["params"]["reg"] == "0.5"
    accuracy = float(next(line for line in lines if line.startswith("Accuracy is ")).split()[-1])
    assert run["metrics"]["Accuracy"] == pytest.approx(accuracy)
    assert 0 < run["metrics"]["training_accuracy_score"] <= 1
    assert run["tags"]["estimator_name"] == "LogisticRegression"
    paths = [a["path"] for a in client.get_json(f"/api/runs/{Client.quote(run_id)}/artifacts")]
    assert "outputs/model.pkl" in paths
    fscore = client.get_json(f"/api/runs/{Client.quote(run_id)}/metrics/Fscore")
    assert fscore["steps"] == list(range(len(fscore["steps"]))) and len(fscore["steps"]) > 5
    # autolog's model: a logged model of the run, loadable by MLflow
    tracking = mlflow.MlflowClient(tracking_uri=server.url)
    [model] = tracking.search_logged_models([tracking.get_run(run_id).info.experiment_id])
    assert model.source_run_id == run_id
    local = Path(mlflow.artifacts.download_artifacts(
        artifact_uri=model.artifact_location, dst_path=str(dest), tracking_uri=server.url))
    assert "sklearn" in (local / "MLmodel").read_text()
    failures = [line for line in printed(client, run_id, fd=2) if "autologging" in line]
    assert not failures, failures


# -- the docker target -------------------------------------------------------

DOCKER_TOML = f"""
    [targets.docker-python]
    type = "docker"
    image = "runstream-base:py3"
    packages = ["mlflow-skinny=={importlib.metadata.version('mlflow-skinny')}"]
"""


def _engine() -> Any:
    """The container engine, with the base image (else the test is skipped, or fails
    where the services are required)."""
    from runstream_agent.containers.engine import EngineError, connect

    try:
        engine = connect()
    except EngineError as exc:
        missing_service(f"a container engine ({exc})")
    try:
        engine.images.get("runstream-base:py3")
    except Exception:
        engine.close()
        missing_service("the base image runstream-base:py3 (scripts/services/podman base-image)")
    return engine


@pytest.fixture(scope="module")
def mlflow_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The engine, with an image of the target that installs mlflow-skinny (built once,
    reused while its recipe holds)."""
    from runstream_agent.containers.image import ensure_image
    from runstream_agent.targets import load_target

    engine = _engine()
    project = make_project(tmp_path_factory.mktemp("mlflow-image"), "image",
                           {"train.py": TRAIN}, DOCKER_TOML)
    target = load_target(project, "docker-python")
    assert target.docker is not None
    ensure_image(engine, target.docker, target.python)
    yield engine
    engine.close()


@pytest.mark.docker
def test_an_mlflow_script_in_a_container_is_one_run_and_a_failing_one_fails(
        tmp_path: Path, http_server: ServerProcess, mlflow_image: Any) -> None:
    for failing in (False, True):
        name = f"mlflowbox{uuid.uuid4().hex[:6]}"
        project = make_project(tmp_path, name, {"train.py": TRAIN}, DOCKER_TOML)
        args = ["train.py", "0.5", *(["--fail"] if failing else [])]
        done = submit(project, agent_env(tmp_path, http_server.url), "-c", "docker-python",
                      *args)
        assert done.returncode == (1 if failing else 0), done.stdout + done.stderr
        check_one_run(http_server, run_id_in(done.stdout), name, failed=failing)
        left = mlflow_image.containers.list(
            all=True, filters={"label": f"runstream.project={name}"})
        assert not left, f"containers left behind: {[c.name for c in left]}"


@pytest.mark.docker
def test_the_iris_example_with_autolog_in_a_container(
        tmp_path: Path, http_server: ServerProcess) -> None:
    """The example's docker-mlflow target (its requirements pinned to the versions here,
    mlflow-skinny too) runs iris_mlflow.py in a container: the same one run."""
    from tests.agent.test_docker_target import lab_requirements

    engine = _engine()
    lab = iris_lab(tmp_path)
    (lab / "requirements.txt").write_text(lab_requirements())
    toml = (lab / "runstream.toml").read_text()
    given = '"mlflow-skinny>=3.18", "pandas>=2"'
    assert given in toml
    pinned = ", ".join(f'"{name}=={importlib.metadata.version(name)}"'
                       for name in ("mlflow-skinny", "pandas"))
    (lab / "runstream.toml").write_text(toml.replace(given, pinned))
    done = submit(lab, agent_env(tmp_path, http_server.url), "-c", "docker-mlflow",
                  "iris_mlflow.py", "0.5", timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    check_iris_run(http_server, run_id_in(done.stdout), tmp_path / "model")
    assert not engine.containers.list(all=True, filters={"label": f"runstream.project={lab.name}"})
    engine.close()
