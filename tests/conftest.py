"""Shared fixtures: databases (SQLite and a real PostgreSQL), servers (in-process
and as a real subprocess that tests may kill and restart)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from runstream.client import Client, ServerUnreachable

REQUIRE_SERVICES = os.environ.get("RUNSTREAM_REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get("RUNSTREAM_TEST_POSTGRES_URL", "")
KAFKA = os.environ.get("RUNSTREAM_TEST_KAFKA", "")


def missing_service(what: str) -> None:
    """Skip on a developer's machine without the service; fail in CI, where it must run."""
    message = f"{what} is not available (start it with scripts/services/…)"
    if REQUIRE_SERVICES:
        pytest.fail(message + "; RUNSTREAM_REQUIRE_SERVICES=1 makes this a failure")
    pytest.skip(message)


@contextlib.contextmanager
def tmpfs(tmp_path: Path, size: str) -> Iterator[Path]:
    """A small tmpfs mounted under ``tmp_path`` (we are root in CI and the dev container),
    for full-disk tests. Skips where mounting is impossible; fails when
    RUNSTREAM_REQUIRE_SERVICES=1, since CI must run those tests."""
    mount = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        if REQUIRE_SERVICES:
            pytest.fail(f"cannot mount a tmpfs ({done.stderr.strip()}); "
                        "RUNSTREAM_REQUIRE_SERVICES=1 makes this a failure")
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new schema on the real PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'runstream.db'}"
        return
    yield from _postgres_database()


@pytest.fixture
def kafka_bootstrap() -> str:
    """The real broker's address (scripts/services/kafka start)."""
    if not KAFKA:
        missing_service("Kafka (RUNSTREAM_TEST_KAFKA)")
    return KAFKA


@pytest.fixture
def postgres_db(tmp_path: Path) -> Iterator[str]:
    """A fresh database on the real PostgreSQL (for tests that need a shared server)."""
    yield from _postgres_database()


def _postgres_database() -> Iterator[str]:
    if not POSTGRES_URL:
        missing_service("PostgreSQL (RUNSTREAM_TEST_POSTGRES_URL)")
    from runstream_server.database import open_engine

    name = f"t_{uuid.uuid4().hex[:12]}"
    # A database per test keeps tests independent; CREATE DATABASE can't run in a transaction.
    base, _, _db = POSTGRES_URL.rpartition("/")
    admin = open_engine(POSTGRES_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{base}/{name}"
    finally:
        for attempt in range(20):
            try:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                break
            except (OperationalError, ProgrammingError):
                # A session that cannot be ended right now (an autovacuum worker, where
                # the role lacks pg_signal_backend): it ends on its own in a moment.
                if attempt == 19:
                    raise
                time.sleep(0.25)
        admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    from runstream_server.database import metadata, open_engine

    eng = open_engine(db_url)
    metadata.create_all(eng)
    yield eng
    eng.dispose()


class ServerProcess:
    """``runstream server`` in a subprocess, on a free port, with its own data dir."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "server.log"

    def start(self, timeout: float = 30) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "runstream_agent.cli", "server", "--port", str(self.port),
             "--data-dir", str(self.data_dir)], stdout=out, stderr=subprocess.STDOUT,
            env=self.env)
        deadline = time.monotonic() + timeout
        client = Client(self.url, token=self.env.get("RUNSTREAM_TOKEN", ""), timeout=2)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                client.get_json("/api")
                return self
            except ServerUnreachable:
                time.sleep(0.05)
        raise RuntimeError(f"server did not start: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, as a crash would be."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self) -> Client:
        return Client(self.url, token=self.env.get("RUNSTREAM_TOKEN", ""))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "server").start()
    yield proc
    proc.stop()
