"""Server settings, read once at start and passed in (no module-level state)."""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from runstream.kafkasink import DEFAULT_TOPIC

__all__ = ["DEFAULT_DATA_DIR", "DEFAULT_PORT", "ENV", "Settings", "is_loopback"]

DEFAULT_PORT = 8787
DEFAULT_DATA_DIR = Path(".runstream")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    data_dir: Path = DEFAULT_DATA_DIR
    # SQLAlchemy URL; default: SQLite in the data dir.
    database_url: str = ""
    token: str = ""  # full access (agents, the CLI, the web UI)
    read_token: str = ""  # reads only (dashboards); needs `token`
    # Host names (no port) the server may be reached by besides loopback; "*": any.
    # Without a token this is what stops DNS rebinding; with one, unset means any.
    allowed_hosts: tuple[str, ...] = ()
    # Origins (scheme://host:port) other than the server's own whose pages may write.
    allowed_origins: tuple[str, ...] = ()
    static_dir: Path | None = None
    # How many bytes of events a websocket client may fall behind before it is dropped
    # (it reconnects from its position); bounds what one slow client holds in memory.
    client_buffer: int = 16 << 20
    # Apache Kafka as the event log: "host:port" of a broker; "" = embedded log.
    kafka: str = ""
    kafka_topic: str = DEFAULT_TOPIC  # the agents' default too
    kafka_partitions: int = 6
    # The consumer group that writes projections; default: one per topic.
    kafka_group: str = ""
    # Lease expiry (lease.py): how often to look for silent runs (0: never), and after
    # how many of its leases without a sign of life a run is ended as lost.
    lease_check: float = 5.0
    lease_grace: float = 3.0
    # A large batch is applied in transactions of at most this many events or bytes,
    # so that other clients' batches wait for one part, not the whole batch.
    write_part_events: int = 100
    write_part_bytes: int = 1 << 20
    # Started read-only (disk full): seconds between attempts to open for writing.
    readonly_retry: float = 1.0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'runstream.db'}"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from the ``RUNSTREAM_*`` variables of ``ENV``; explicit (non-None)
        overrides win."""
        env = os.environ if env is None else env
        values: dict[str, object] = {
            name: parse(env[var]) for var, (name, parse) in ENV.items() if var in env}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def check(self) -> None:
        """Refuse settings that would be unsafe: off loopback, a token is required."""
        if not is_loopback(self.host) and not self.token:
            raise ValueError(
                f"refusing to listen on {self.host} without an API token: anyone on the "
                "network could read and write runs. Set RUNSTREAM_TOKEN (or --token), "
                "or bind 127.0.0.1.")
        if self.read_token and not self.token:
            raise ValueError(
                "RUNSTREAM_READ_TOKEN is set but RUNSTREAM_TOKEN is not: writes would need no "
                "token while reads need one. Set RUNSTREAM_TOKEN too (the write token).")
        if self.read_token and hmac.compare_digest(self.read_token, self.token):
            raise ValueError("RUNSTREAM_READ_TOKEN must differ from RUNSTREAM_TOKEN")


def _names(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _secret_file(raw: str) -> str:
    """A token kept in a file (e.g. a container secret): its first line."""
    path = Path(raw)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ValueError(f"cannot read the token file {path}: {exc.strerror}") from None
    if not lines or not lines[0].strip():
        raise ValueError(f"the token file {path} is empty: put the token on its first line")
    return lines[0].strip()


# Every environment variable the server reads: name -> (setting, parser).
ENV: Mapping[str, tuple[str, Callable[[str], object]]] = {
    "RUNSTREAM_HOST": ("host", str),
    "RUNSTREAM_PORT": ("port", int),
    "RUNSTREAM_DATA_DIR": ("data_dir", Path),
    "RUNSTREAM_DATABASE_URL": ("database_url", str),
    "RUNSTREAM_TOKEN": ("token", str),
    "RUNSTREAM_TOKEN_FILE": ("token", _secret_file),
    "RUNSTREAM_READ_TOKEN": ("read_token", str),
    "RUNSTREAM_READ_TOKEN_FILE": ("read_token", _secret_file),
    "RUNSTREAM_ALLOWED_HOSTS": ("allowed_hosts", _names),
    "RUNSTREAM_ALLOWED_ORIGINS": ("allowed_origins", _names),
    "RUNSTREAM_KAFKA": ("kafka", str),
    "RUNSTREAM_KAFKA_TOPIC": ("kafka_topic", str),
    "RUNSTREAM_KAFKA_PARTITIONS": ("kafka_partitions", int),
    "RUNSTREAM_KAFKA_GROUP": ("kafka_group", str),
    "RUNSTREAM_LEASE_CHECK": ("lease_check", float),
    "RUNSTREAM_LEASE_GRACE": ("lease_grace", float),
    "RUNSTREAM_WRITE_PART_EVENTS": ("write_part_events", int),
    "RUNSTREAM_WRITE_PART_BYTES": ("write_part_bytes", int),
    "RUNSTREAM_READONLY_RETRY": ("readonly_retry", float),
    "RUNSTREAM_CLIENT_BUFFER": ("client_buffer", int),
}
