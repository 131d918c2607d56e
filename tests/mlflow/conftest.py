"""The real MLflow client (mlflow-skinny) against a real runstream server.

``tracking`` is a runstream server in a subprocess, one per test module (tests make
their own experiment and run names, so they do not see each other's), with the MLflow
client pointed at it: ``mlflow.set_tracking_uri``/``set_registry_uri`` and the
environment a script would have (no retries, so a wrong answer fails at once rather
than after minutes of backoff; no telemetry).

``backend`` runs a module's tests on the embedded SQLite log, on PostgreSQL, and
through Kafka when the module asks for it with ``pytestmark = backends``.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import KAFKA, POSTGRES_URL, ServerProcess, _postgres_database, missing_service

MLFLOW_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
    "GIT_PYTHON_REFRESH": "quiet",
}


@pytest.fixture(scope="module")
def backend(request: pytest.FixtureRequest) -> str:
    """"sqlite" unless a module parametrizes it (see ``all_backends``)."""
    return str(getattr(request, "param", "sqlite"))


# Modules that must hold on every store: ``pytestmark = all_backends`` is not possible for
# a module-scoped fixture, so they use ``@pytest.mark.parametrize("backend", ALL, indirect=True,
# scope="module")`` through this marker list.
ALL_BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
                pytest.param("kafka", marks=[pytest.mark.kafka, pytest.mark.postgres])]


def server_env(backend: str, tmp: Path) -> tuple[dict[str, str], Iterator[str] | None]:
    """The server's environment for ``backend`` and, for PostgreSQL, the generator that
    owns (and at its end drops) the test database."""
    if backend == "sqlite":
        return {}, None
    if not POSTGRES_URL:
        missing_service("PostgreSQL (RUNSTREAM_TEST_POSTGRES_URL)")
    owner = _postgres_database()
    env = {"RUNSTREAM_DATABASE_URL": next(owner)}
    if backend == "kafka":
        if not KAFKA:
            missing_service("Kafka (RUNSTREAM_TEST_KAFKA)")
        env |= {"RUNSTREAM_KAFKA": KAFKA, "RUNSTREAM_KAFKA_TOPIC":
                f"mlflow.{uuid.uuid4().hex[:10]}", "RUNSTREAM_KAFKA_PARTITIONS": "3"}
    return env, owner


@contextlib.contextmanager
def pointed_at(server: ServerProcess) -> Iterator[None]:
    """The MLflow client of this process logs to ``server`` (and the environment is the
    one a script would have); ended runs and the environment are put back after."""
    import mlflow

    saved = {k: os.environ.get(k) for k in [*MLFLOW_ENV, "MLFLOW_TRACKING_URI"]}
    os.environ.update(MLFLOW_ENV)
    os.environ["MLFLOW_TRACKING_URI"] = server.url
    mlflow.set_tracking_uri(server.url)
    mlflow.set_registry_uri(server.url)
    try:
        yield
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def mlflow_server(backend: str, tmp: Path) -> Iterator[ServerProcess]:
    """A runstream server on ``backend`` that the MLflow client of this process logs to;
    stopped, and its PostgreSQL database dropped, after."""
    env, owner = server_env(backend, tmp)
    server = ServerProcess(tmp / "server", env=env).start()
    try:
        with pointed_at(server):
            yield server
    finally:
        server.stop()
        if owner is not None:
            owner.close()


@pytest.fixture(scope="module")
def tracking(backend: str, tmp_path_factory: pytest.TempPathFactory,
             ) -> Iterator[ServerProcess]:
    """A runstream server that the MLflow client in this process logs to."""
    with mlflow_server(backend, tmp_path_factory.mktemp(f"mlflow-{backend}")) as server:
        yield server


def unique(prefix: str) -> str:
    """A name no other test of the module uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
