"""The event schema: every fact runstream knows is one of these, in an envelope.

Event types are defined here and nowhere else. Each has a stable name
(``"metrics.logged"``) and a schema version ``v``; the payload structs are
validated on decode by msgspec. High-volume facts are batches in columnar form
(one ``log.lines`` event holds many lines, one ``metrics.logged`` many points),
so per-event costs are paid once per batch.
"""

from __future__ import annotations

import time
import uuid
from typing import ClassVar, Literal

import msgspec

__all__ = [
    "PAYLOADS",
    "ArtifactAdded",
    "Envelope",
    "LogLines",
    "MetricValue",
    "MetricsLogged",
    "ModelVersionCreated",
    "Payload",
    "RunArchived",
    "RunCompleted",
    "RunRestored",
    "RunStarted",
    "RunSubmitted",
    "model_stream",
    "new_event",
    "partition_key",
    "review_stream",
    "run_id_of",
    "run_stream",
]

# A logged value: a number, a string, or a flat list of numbers.
MetricValue = float | str | list[float]
RunStatus = Literal["completed", "failed", "canceled"]


class Envelope(msgspec.Struct, frozen=True, omit_defaults=True):
    """One immutable fact. ``data`` stays raw bytes until a consumer asks for it,
    so that unknown types and newer versions travel and are stored untouched."""

    id: str
    stream: str
    seq: int
    type: str
    v: int
    ts: float
    data: msgspec.Raw = msgspec.Raw(b"\x80")


class Payload(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1


class RunSubmitted(Payload, frozen=True):
    """A run was submitted: the agent wrote it before starting anything."""

    TYPE: ClassVar[str] = "run.submitted"
    project: str
    script: str
    args: list[str] = []
    target: str = "local"
    user: str = ""
    snapshot: str = ""  # sha256 of the code snapshot, "" when none was taken
    host: str = ""


class RunStarted(Payload, frozen=True):
    TYPE: ClassVar[str] = "run.started"
    pid: int = 0
    host: str = ""


class LogLines(Payload, frozen=True):
    """A batch of printed lines. Line numbers are ``first``, ``first+1``, …;
    ``fds`` says for each line whether it came from stdout (1) or stderr (2)."""

    TYPE: ClassVar[str] = "log.lines"
    first: int
    lines: list[str]
    times: list[float]
    fds: list[int]

    def __post_init__(self) -> None:
        if self.first < 0:
            raise ValueError("`first` must be >= 0")
        n = len(self.lines)
        if len(self.times) != n or len(self.fds) != n:
            raise ValueError("`lines`, `times` and `fds` must have the same length")


class MetricsLogged(Payload, frozen=True):
    """Points of one or many metrics, columnar: point ``i`` belongs to metric
    ``names[index[i]]`` at ``steps[i]`` and ``times[i]`` with ``values[i]``."""

    TYPE: ClassVar[str] = "metrics.logged"
    names: list[str]
    index: list[int]
    steps: list[int]
    times: list[float]
    values: list[MetricValue]

    def __post_init__(self) -> None:
        n = len(self.index)
        if len(self.steps) != n or len(self.times) != n or len(self.values) != n:
            raise ValueError("`index`, `steps`, `times` and `values` must have the same length")
        if n and (min(self.index) < 0 or max(self.index) >= len(self.names)):
            raise ValueError("`index` points outside `names`")
        if any(not name for name in self.names):
            raise ValueError("metric names must not be empty")


class ArtifactAdded(Payload, frozen=True):
    TYPE: ClassVar[str] = "artifact.added"
    path: str
    sha256: str
    size: int
    media_type: str = "application/octet-stream"

    def __post_init__(self) -> None:
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise ValueError("`sha256` must be 64 lowercase hex digits")
        if self.size < 0:
            raise ValueError("`size` must be >= 0")


class RunCompleted(Payload, frozen=True):
    TYPE: ClassVar[str] = "run.completed"
    status: RunStatus
    exit_code: int | None = None
    reason: str = ""


class RunArchived(Payload, frozen=True):
    """Written by the server to ``review/<run id>``, never into the agent's stream."""

    TYPE: ClassVar[str] = "run.archived"
    run_id: str


class RunRestored(Payload, frozen=True):
    TYPE: ClassVar[str] = "run.restored"
    run_id: str


class ModelVersionCreated(Payload, frozen=True):
    """Written by the server to ``model/<name>``; the server assigns ``version``."""

    TYPE: ClassVar[str] = "model.version_created"
    name: str
    version: int
    run_id: str
    path: str
    sha256: str
    size: int


PAYLOADS: dict[str, type[Payload]] = {
    cls.TYPE: cls
    for cls in (
        RunSubmitted,
        RunStarted,
        LogLines,
        MetricsLogged,
        ArtifactAdded,
        RunCompleted,
        RunArchived,
        RunRestored,
        ModelVersionCreated,
    )
}


def run_stream(run_id: str) -> str:
    return f"run/{run_id}"


def review_stream(run_id: str) -> str:
    return f"review/{run_id}"


def model_stream(name: str) -> str:
    return f"model/{name}"


def run_id_of(stream: str) -> str | None:
    """The run a stream speaks about (``run/X`` and ``review/X``), else None."""
    kind, _, rest = stream.partition("/")
    return rest if kind in ("run", "review") and rest else None


def partition_key(stream: str) -> str:
    """The Kafka record key of a stream's events. A run's own stream and the server's
    review stream about it share one key, so they share a partition and the review
    (archive, restore) never overtakes the run's submission."""
    run_id = run_id_of(stream)
    return run_stream(run_id) if run_id else stream


_payload_encoder = msgspec.msgpack.Encoder()


def new_event(stream: str, seq: int, payload: Payload, ts: float | None = None) -> Envelope:
    """Wrap a payload in a fresh envelope (new id, producer clock)."""
    return Envelope(
        id=uuid.uuid4().hex,
        stream=stream,
        seq=seq,
        type=payload.TYPE,
        v=payload.VERSION,
        ts=time.time() if ts is None else ts,
        data=msgspec.Raw(_payload_encoder.encode(payload)),
    )
