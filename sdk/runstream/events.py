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
    "EXPERIMENTS_STREAM",
    "INT64_MAX",
    "INT64_MIN",
    "MAX_EVENT_BYTES",
    "MAX_EXPERIMENT_NAME_CHARS",
    "MAX_KEY_CHARS",
    "MAX_NAME_CHARS",
    "MAX_PARAM_CHARS",
    "MAX_TAG_CHARS",
    "PAYLOADS",
    "SYSTEM_PREFIX",
    "ArtifactAdded",
    "Envelope",
    "EventDropped",
    "ExperimentCreated",
    "ExperimentDeleted",
    "ExperimentRenamed",
    "ExperimentRestored",
    "ExperimentTagsDeleted",
    "ExperimentTagsSet",
    "LogLines",
    "LoggedModelCreated",
    "LoggedModelDeleted",
    "LoggedModelFinalized",
    "LoggedModelTagsDeleted",
    "LoggedModelTagsSet",
    "MetricValue",
    "MetricsLogged",
    "ModelAliasSet",
    "ModelVersionChanged",
    "ModelVersionCreated",
    "ParamsLogged",
    "Payload",
    "RegisteredModelChanged",
    "RegistryTagsDeleted",
    "RegistryTagsSet",
    "RunArchived",
    "RunCompleted",
    "RunHeartbeat",
    "RunLost",
    "RunRenamed",
    "RunRestored",
    "RunStarted",
    "RunSubmitted",
    "TagsDeleted",
    "TagsSet",
    "envelope",
    "logged_model_stream",
    "mlflow_stream",
    "model_stream",
    "new_event",
    "partition_key",
    "registry_stream",
    "review_stream",
    "run_id_of",
    "run_stream",
    "run_streams",
]

# The components that write events (the event catalogue, docs/events.md, names them).
AGENT = "agent"  # `runstream submit`'s run agent, around the script
SDK = "SDK"  # `runstream.init()` in a script run on its own (`runstream.log` anywhere)
CONTAINER_HOST = "container host"  # the host finishing the stream of a container that died
SERVER = "server"

# Metric names under this prefix are the agent's system metrics (CPU, memory, I/O, GPUs):
# series like any other, kept out of a run's latest values (its table columns).
SYSTEM_PREFIX = "sys/"

# A logged value: a number, a string, or a flat list of numbers.
MetricValue = float | str | list[float]
RunStatus = Literal["completed", "failed", "canceled"]

# Integers the event store keeps (SQL BIGINT): steps, seqs, line numbers, sizes, exit codes.
INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
# The largest encoded event anything accepts (the server's ingest, a Kafka record, a
# channel frame): producers split batches below it and refuse single values above it.
MAX_EVENT_BYTES = 16 << 20


def _check_int64(field: str, value: int, low: int = 0) -> None:
    if not low <= value <= INT64_MAX:
        raise ValueError(f"`{field}` must be between {low} and 2**63-1, not {value}")


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

    FIELDS: ClassVar[dict[str, str]] = {
        "id": "the event's own id, a uuid4 hex: a resend of it is known as a duplicate",
        "stream": "`run/<run id>`, `review/<run id>` or `model/<name>`",
        "seq": "its place in the stream: 0, 1, 2, … with no gap (one writer per stream)",
        "type": "the payload's type, e.g. `metrics.logged`",
        "v": "the payload's schema version",
        "ts": "when the writer produced it, seconds since the epoch (the writer's clock)",
        "data": "the payload: a MessagePack map, kept as bytes until a reader decodes it",
    }


class Payload(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    """The data of one event type. Besides its stable name and version, each type says
    for the event catalogue (``runstream.catalogue``, ``docs/events.md``) which
    components write it, on which stream, and what each field holds (with its unit)."""

    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1
    WRITERS: ClassVar[tuple[str, ...]] = ()
    STREAM: ClassVar[str] = "run/<run id>"
    FIELDS: ClassVar[dict[str, str]] = {}


class RunSubmitted(Payload, frozen=True):
    """A run was submitted: the agent wrote it before starting anything."""

    TYPE: ClassVar[str] = "run.submitted"
    WRITERS: ClassVar[tuple[str, ...]] = (AGENT, SDK, CONTAINER_HOST)
    FIELDS: ClassVar[dict[str, str]] = {
        "project": "the project the run belongs to",
        "script": "the script run, as given",
        "args": "its command-line arguments",
        "target": "where it runs: `local` or a compute target's name",
        "user": "who submitted it",
        "snapshot": "sha256 of the code snapshot blob; empty when none was taken",
        "host": "the machine it was submitted from",
        "name": "the run's name, if it was given one (`run.renamed` changes it)",
        "experiment_id": "the experiment it belongs to, when its writer chose one by id "
                         "(the MLflow API's `runs/create`); empty: the experiment named "
                         "`project`, made when first named",
    }
    project: str
    script: str
    args: list[str] = []
    target: str = "local"
    user: str = ""
    snapshot: str = ""  # sha256 of the code snapshot, "" when none was taken
    host: str = ""
    name: str = ""
    experiment_id: str = ""


class RunStarted(Payload, frozen=True):
    """The script started. ``lease`` > 0 promises a sign of life (any event of the
    stream, a ``run.heartbeat`` when there is nothing else) at least every ``lease``
    seconds until ``run.completed``; a server that hears nothing for longer ends the
    run as lost. 0: no promise (older agents), the run is never expired."""

    TYPE: ClassVar[str] = "run.started"
    WRITERS: ClassVar[tuple[str, ...]] = (AGENT, SDK)
    FIELDS: ClassVar[dict[str, str]] = {
        "pid": "the script's process id",
        "host": "the machine it runs on",
        "lease": "seconds: the longest silence promised until `run.completed`; 0: no promise",
    }
    pid: int = 0
    host: str = ""
    lease: float = 0.0

    def __post_init__(self) -> None:
        _check_int64("pid", self.pid)
        if not 0 <= self.lease < 1e9:  # NaN fails too
            raise ValueError(f"`lease` must be seconds >= 0, not {self.lease}")


class RunHeartbeat(Payload, frozen=True):
    """The run's writer is alive (written only when the stream was otherwise quiet)."""

    TYPE: ClassVar[str] = "run.heartbeat"
    WRITERS: ClassVar[tuple[str, ...]] = (AGENT, SDK)
    FIELDS: ClassVar[dict[str, str]] = {
        "lease": "seconds: the next sign of life comes within this",
    }
    lease: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.lease < 1e9:
            raise ValueError(f"`lease` must be seconds >= 0, not {self.lease}")


class EventDropped(Payload, frozen=True):
    """Stands at the seq of an event its writer produced but the log refused (too
    large, invalid): the stream stays gapless and the loss is on record. The
    refused bytes stay beside the writer's spool (``runstream sync --set-aside``)."""

    TYPE: ClassVar[str] = "event.dropped"
    WRITERS: ClassVar[tuple[str, ...]] = (AGENT, SDK, CONTAINER_HOST)
    FIELDS: ClassVar[dict[str, str]] = {
        "type": "the refused event's type",
        "v": "the refused event's version",
        "size": "the refused event's size, bytes encoded",
        "reason": "why the log refused it",
    }
    type: str
    v: int
    size: int
    reason: str

    def __post_init__(self) -> None:
        _check_int64("size", self.size)


class LogLines(Payload, frozen=True):
    """A batch of printed lines. Line numbers are ``first``, ``first+1``, …;
    ``fds`` says for each line whether it came from stdout (1) or stderr (2)."""

    TYPE: ClassVar[str] = "log.lines"
    WRITERS: ClassVar[tuple[str, ...]] = (AGENT,)
    FIELDS: ClassVar[dict[str, str]] = {
        "first": "the number of the first line (a run's lines are numbered from 0)",
        "lines": "the printed lines, without their line ends",
        "times": "when each line was printed, seconds since the epoch",
        "fds": "for each line, 1 (stdout) or 2 (stderr)",
    }
    first: int
    lines: list[str]
    times: list[float]
    fds: list[int]

    def __post_init__(self) -> None:
        _check_int64("first", self.first)
        n = len(self.lines)
        if self.first + n - 1 > INT64_MAX:  # the last line's number must fit too
            raise ValueError(f"`first` + {n} lines must stay below 2**63-1, not {self.first}")
        if len(self.times) != n or len(self.fds) != n:
            raise ValueError("`lines`, `times` and `fds` must have the same length")


class MetricsLogged(Payload, frozen=True):
    """Points of one or many metrics, columnar: point ``i`` belongs to metric
    ``names[index[i]]`` at ``steps[i]`` and ``times[i]`` with ``values[i]``."""

    TYPE: ClassVar[str] = "metrics.logged"
    # the agent: its system metrics (sys/…); the server: what MLflow's client logs
    WRITERS: ClassVar[tuple[str, ...]] = (SDK, AGENT, SERVER)
    FIELDS: ClassVar[dict[str, str]] = {
        "names": "the metrics' names",
        "index": "for each point, its metric: an index into `names`",
        "steps": "for each point, its step (>= 0)",
        "times": "for each point, when it was logged, seconds since the epoch",
        "values": "for each point, a number, a string or a flat list of numbers",
    }
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
        if n and (min(self.steps) < 0 or max(self.steps) > INT64_MAX):
            bad = next(s for s in self.steps if not 0 <= s <= INT64_MAX)
            raise ValueError(f"`steps` must be between 0 and 2**63-1, not {bad}")


class ArtifactAdded(Payload, frozen=True):
    """A file of the run (an output, a log) was uploaded as a blob, by its sha256."""

    TYPE: ClassVar[str] = "artifact.added"
    WRITERS: ClassVar[tuple[str, ...]] = (AGENT, CONTAINER_HOST)
    FIELDS: ClassVar[dict[str, str]] = {
        "path": "the file's path in the run, e.g. `outputs/model.pkl`",
        "sha256": "the sha256 of its bytes (the blob, uploaded before this event)",
        "size": "its size, bytes",
        "media_type": "its media type",
    }
    path: str
    sha256: str
    size: int
    media_type: str = "application/octet-stream"

    def __post_init__(self) -> None:
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise ValueError("`sha256` must be 64 lowercase hex digits")
        _check_int64("size", self.size)


class RunCompleted(Payload, frozen=True):
    """The run ended; the last event of its writer's stream."""

    TYPE: ClassVar[str] = "run.completed"
    WRITERS: ClassVar[tuple[str, ...]] = (AGENT, SDK, CONTAINER_HOST)
    FIELDS: ClassVar[dict[str, str]] = {
        "status": "`completed`, `failed` or `canceled`",
        "exit_code": "the script's exit code, when it exited",
        "reason": "why it failed or was canceled, as the user should read it",
    }
    status: RunStatus
    exit_code: int | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if self.exit_code is not None:
            _check_int64("exit_code", self.exit_code, INT64_MIN)


class RunLost(Payload, frozen=True):
    """Written by the server to ``review/<run id>`` when the run's lease expired: its
    agent or script died without a word. The run is failed with ``reason`` unless
    its writer's own ``run.completed`` arrives after all."""

    TYPE: ClassVar[str] = "run.lost"
    WRITERS: ClassVar[tuple[str, ...]] = (SERVER,)
    STREAM: ClassVar[str] = "review/<run id>"
    FIELDS: ClassVar[dict[str, str]] = {
        "run_id": "the run whose lease expired",
        "reason": "why it is lost, e.g. `agent lost: no sign of life for 95 s (lease 30 s)`",
    }
    run_id: str
    reason: str


# Parameters and tags, as MLflow bounds them (keys, values: characters).
MAX_KEY_CHARS = 250
MAX_PARAM_CHARS = 6000
MAX_TAG_CHARS = 8000
MAX_NAME_CHARS = 250


def _check_text(field: str, text: str, limit: int, *, empty: bool = True) -> None:
    if not empty and not text:
        raise ValueError(f"`{field}` must not be empty")
    if "\x00" in text:
        raise ValueError(f"`{field}` holds a NUL character (\\x00) in {text[:40]!r}, which no "
                         "database text column can store")
    if len(text) > limit:
        raise ValueError(f"`{field}` is {len(text)} characters ({text[:40]!r}…), more than the "
                         f"limit of {limit}")


def _check_pairs(field: str, pairs: dict[str, str], limit: int) -> None:
    for key, value in pairs.items():
        _check_text(f"{field}` key `{key[:40]}", key, MAX_KEY_CHARS, empty=False)
        _check_text(f"{field}.{key[:40]}", value, limit)


class ParamsLogged(Payload, frozen=True):
    """Parameters of the run (hyper-parameters, settings), as text. A parameter is fixed
    once logged: its writer refuses another value for the key, and the view keeps the
    first value logged."""

    TYPE: ClassVar[str] = "params.logged"
    WRITERS: ClassVar[tuple[str, ...]] = (AGENT, SDK)
    STREAM: ClassVar[str] = "run/<run id>"
    FIELDS: ClassVar[dict[str, str]] = {
        "params": f"name → value (names up to {MAX_KEY_CHARS} characters, values up to "
                  f"{MAX_PARAM_CHARS})",
    }
    params: dict[str, str]

    def __post_init__(self) -> None:
        _check_pairs("params", self.params, MAX_PARAM_CHARS)


class TagsSet(Payload, frozen=True):
    """Tags of the run set (added, or changed: tags are mutable, the last value wins)."""

    TYPE: ClassVar[str] = "tags.set"
    WRITERS: ClassVar[tuple[str, ...]] = (AGENT, SDK)
    STREAM: ClassVar[str] = "run/<run id>"
    FIELDS: ClassVar[dict[str, str]] = {
        "tags": f"key → value (keys up to {MAX_KEY_CHARS} characters, values up to "
                f"{MAX_TAG_CHARS})",
    }
    tags: dict[str, str]

    def __post_init__(self) -> None:
        _check_pairs("tags", self.tags, MAX_TAG_CHARS)


class TagsDeleted(Payload, frozen=True):
    """Tags of the run removed (a key the run does not have is ignored)."""

    TYPE: ClassVar[str] = "tags.deleted"
    WRITERS: ClassVar[tuple[str, ...]] = (AGENT, SDK)
    STREAM: ClassVar[str] = "run/<run id>"
    FIELDS: ClassVar[dict[str, str]] = {"keys": "the tags' keys"}
    keys: list[str]

    def __post_init__(self) -> None:
        for key in self.keys:
            _check_text("keys", key, MAX_KEY_CHARS, empty=False)


class RunRenamed(Payload, frozen=True):
    """The run's name changed (a name is a label; the run id stays the run's key)."""

    TYPE: ClassVar[str] = "run.renamed"
    WRITERS: ClassVar[tuple[str, ...]] = (AGENT, SDK)
    STREAM: ClassVar[str] = "run/<run id>"
    FIELDS: ClassVar[dict[str, str]] = {
        "name": f"the new name (up to {MAX_NAME_CHARS} characters; empty: none)",
    }
    name: str

    def __post_init__(self) -> None:
        _check_text("name", self.name, MAX_NAME_CHARS)


class RunArchived(Payload, frozen=True):
    """Written by the server to ``review/<run id>``, never into the agent's stream."""

    TYPE: ClassVar[str] = "run.archived"
    WRITERS: ClassVar[tuple[str, ...]] = (SERVER,)
    STREAM: ClassVar[str] = "review/<run id>"
    FIELDS: ClassVar[dict[str, str]] = {
        "run_id": "the run archived (hidden from listings, kept)",
    }
    run_id: str


class RunRestored(Payload, frozen=True):
    """Written by the server to ``review/<run id>``: an archived run is listed again."""

    TYPE: ClassVar[str] = "run.restored"
    WRITERS: ClassVar[tuple[str, ...]] = (SERVER,)
    STREAM: ClassVar[str] = "review/<run id>"
    FIELDS: ClassVar[dict[str, str]] = {
        "run_id": "the archived run shown again",
    }
    run_id: str


class ModelVersionCreated(Payload, frozen=True):
    """Written by the server to ``model/<name>``; the server assigns ``version``."""

    TYPE: ClassVar[str] = "model.version_created"
    WRITERS: ClassVar[tuple[str, ...]] = (SERVER,)
    STREAM: ClassVar[str] = "model/<name>"
    FIELDS: ClassVar[dict[str, str]] = {
        "name": "the model's name",
        "version": "its version number, 1, 2, … assigned by the server",
        "run_id": "the run whose artifact it is",
        "path": "the artifact's path in that run",
        "sha256": "the sha256 of the artifact's bytes; for a directory (`kind`), of its "
                  "manifest blob (JSON: a list of {path, sha256, size}, sorted by path)",
        "size": "its size, bytes (a directory: the sum of its files')",
        "kind": "`file` (runstream's promote) or `directory` (an MLflow model: MLmodel and "
                "the files beside it)",
        "source": "where MLflow's client said the version comes from (`models:/m-…`, "
                  "`runs:/<run id>/model`, `mlflow-artifacts:/…`); empty: `run_id`'s `path`",
        "model_id": "the logged model it was registered from (MLflow 3); empty: none",
        "description": "free text given at registration",
        "tags": "key → value given at registration",
    }
    name: str
    version: int
    run_id: str
    path: str
    sha256: str
    size: int
    kind: Literal["file", "directory"] = "file"
    source: str = ""
    model_id: str = ""
    description: str = ""
    tags: dict[str, str] = {}

    def __post_init__(self) -> None:
        _check_int64("version", self.version, 1)
        _check_int64("size", self.size)


# -- experiments (stream ``experiments/all``), written by the server for the MLflow API --
#
# An experiment is a runstream project: a run's ``project`` names its experiment (the
# MLflow API writes ``experiment.created`` for a project when it first needs its id).
# Ids are "0" (the default experiment, "Default", always there), then "1", "2", … in
# the order of the ``experiment.created`` events, assigned by the view. All experiment
# events share one stream, so their order is total and a replay gives the same ids.

MAX_EXPERIMENT_NAME_CHARS = 500


class ExperimentCreated(Payload, frozen=True):
    """An experiment was created by name (a name already taken is ignored by the view:
    the first creation wins)."""

    TYPE: ClassVar[str] = "experiment.created"
    WRITERS: ClassVar[tuple[str, ...]] = (SERVER,)
    STREAM: ClassVar[str] = "experiments/all"
    FIELDS: ClassVar[dict[str, str]] = {
        "name": f"its name (up to {MAX_EXPERIMENT_NAME_CHARS} characters), unique",
        "artifact_location": "where its runs' artifacts go, as the creator asked; empty: "
                             "runstream's blob store (`mlflow-artifacts:/<id>`)",
        "tags": "key → value",
    }
    name: str
    artifact_location: str = ""
    tags: dict[str, str] = {}

    def __post_init__(self) -> None:
        _check_text("name", self.name, MAX_EXPERIMENT_NAME_CHARS, empty=False)
        _check_text("artifact_location", self.artifact_location, 2000)
        _check_pairs("tags", self.tags, MAX_TAG_CHARS)


class ExperimentRenamed(Payload, frozen=True):
    """An experiment's name changed (its id and runs stay)."""

    TYPE: ClassVar[str] = "experiment.renamed"
    WRITERS: ClassVar[tuple[str, ...]] = (SERVER,)
    STREAM: ClassVar[str] = "experiments/all"
    FIELDS: ClassVar[dict[str, str]] = {"experiment_id": "the experiment",
                                        "name": "its new name, unique"}
    experiment_id: str
    name: str

    def __post_init__(self) -> None:
        _check_text("name", self.name, MAX_EXPERIMENT_NAME_CHARS, empty=False)


class ExperimentDeleted(Payload, frozen=True):
    """An experiment was deleted: hidden from listings, kept (``experiment.restored``)."""

    TYPE: ClassVar[str] = "experiment.deleted"
    WRITERS: ClassVar[tuple[str, ...]] = (SERVER,)
    STREAM: ClassVar[str] = "experiments/all"
    FIELDS: ClassVar[dict[str, str]] = {"experiment_id": "the experiment"}
    experiment_id: str


class ExperimentRestored(Payload, frozen=True):
    """A deleted experiment is active again."""

    TYPE: ClassVar[str] = "experiment.restored"
    WRITERS: ClassVar[tuple[str, ...]] = (SERVER,)
    STREAM: ClassVar[str] = "experiments/all"
    FIELDS: ClassVar[dict[str, str]] = {"experiment_id": "the experiment"}
    experiment_id: str


class ExperimentTagsSet(Payload, frozen=True):
    """Tags of an experiment set (the last value wins)."""

    TYPE: ClassVar[str] = "experiment.tags_set"
    WRITERS: ClassVar[tuple[str, ...]] = (SERVER,)
    STREAM: ClassVar[str] = "experiments/all"
    FIELDS: ClassVar[dict[str, str]] = {"experiment_id": "the experiment",
                                        "tags": "key → value"}
    experiment_id: str
    tags: dict[str, str]

    def __post_init__(self) -> None:
        _check_pairs("tags", self.tags, MAX_TAG_CHARS)


class ExperimentTagsDeleted(Payload, frozen=True):
    """Tags of an experiment removed."""

    TYPE: ClassVar[str] = "experiment.tags_deleted"
    WRITERS: ClassVar[tuple[str, ...]] = (SERVER,)
    STREAM: ClassVar[str] = "experiments/all"
    FIELDS: ClassVar[dict[str, str]] = {"experiment_id": "the experiment",
                                        "keys": "the tags' keys"}
    experiment_id: str
    keys: list[str]


# -- logged models (MLflow 3), stream ``logged-model/<model id>`` --------------------------


class LoggedModelCreated(Payload, frozen=True):
    """A model was logged (MLflow 3's ``log_model`` creates one before uploading its
    files, which follow as ``artifact.added`` on the same stream)."""

    TYPE: ClassVar[str] = "logged_model.created"
    WRITERS: ClassVar[tuple[str, ...]] = (SERVER,)
    STREAM: ClassVar[str] = "logged-model/<model id>"
    FIELDS: ClassVar[dict[str, str]] = {
        "model_id": "its id, `m-<32 hex digits>`",
        "experiment_id": "the experiment it belongs to",
        "name": "its name",
        "source_run_id": "the run that logged it; empty: none",
        "model_type": "free text, e.g. the flavor",
        "params": "name → value",
        "tags": "key → value",
    }
    model_id: str
    experiment_id: str
    name: str
    source_run_id: str = ""
    model_type: str = ""
    params: dict[str, str] = {}
    tags: dict[str, str] = {}

    def __post_init__(self) -> None:
        _check_text("model_id", self.model_id, MAX_KEY_CHARS, empty=False)
        _check_text("name", self.name, MAX_NAME_CHARS)
        _check_pairs("params", self.params, MAX_PARAM_CHARS)
        _check_pairs("tags", self.tags, MAX_TAG_CHARS)


class LoggedModelFinalized(Payload, frozen=True):
    """A logged model's upload ended: ``READY`` or ``FAILED``."""

    TYPE: ClassVar[str] = "logged_model.finalized"
    WRITERS: ClassVar[tuple[str, ...]] = (SERVER,)
    STREAM: ClassVar[str] = "logged-model/<model id>"
    FIELDS: ClassVar[dict[str, str]] = {"model_id": "the model",
                                        "status": "`READY` or `FAILED`"}
    model_id: str
    status: Literal["READY", "FAILED"]


class LoggedModelTagsSet(Payload, frozen=True):
    """Tags of a logged model set."""

    TYPE: ClassVar[str] = "logged_model.tags_set"
    WRITERS: ClassVar[tuple[str, ...]] = (SERVER,)
    STREAM: ClassVar[str] = "logged-model/<model id>"
    FIELDS: ClassVar[dict[str, str]] = {"model_id": "the model", "tags": "key → value"}
    model_id: str
    tags: dict[str, str]

    def __post_init__(self) -> None:
        _check_pairs("tags", self.tags, MAX_TAG_CHARS)


class LoggedModelTagsDeleted(Payload, frozen=True):
    """Tags of a logged model removed."""

    TYPE: ClassVar[str] = "logged_model.tags_deleted"
    WRITERS: ClassVar[tuple[str, ...]] = (SERVER,)
    STREAM: ClassVar[str] = "logged-model/<model id>"
    FIELDS: ClassVar[dict[str, str]] = {"model_id": "the model", "keys": "the tags' keys"}
    model_id: str
    keys: list[str]


class LoggedModelDeleted(Payload, frozen=True):
    """A logged model was deleted (hidden; its files stay in the blob store)."""

    TYPE: ClassVar[str] = "logged_model.deleted"
    WRITERS: ClassVar[tuple[str, ...]] = (SERVER,)
    STREAM: ClassVar[str] = "logged-model/<model id>"
    FIELDS: ClassVar[dict[str, str]] = {"model_id": "the model"}
    model_id: str


# -- the model registry's names, stream ``registry/<model name>`` --------------------------
#
# Versions stay on ``model/<name>`` (``model.version_created``, numbered by that stream);
# what is said about the name and its versions afterwards is here.


class RegisteredModelChanged(Payload, frozen=True):
    """A registered model was created (``created``), described, or deleted
    (``deleted``: its versions are hidden too) — one type, ``change`` says which."""

    TYPE: ClassVar[str] = "registered_model.changed"
    WRITERS: ClassVar[tuple[str, ...]] = (SERVER,)
    STREAM: ClassVar[str] = "registry/<model name>"
    FIELDS: ClassVar[dict[str, str]] = {
        "name": "the registered model",
        "change": "`created`, `described` or `deleted`",
        "description": "its description (with `created`, `described`)",
    }
    name: str
    change: Literal["created", "described", "deleted"]
    description: str = ""


class RegistryTagsSet(Payload, frozen=True):
    """Tags of a registered model (``version`` 0) or of one of its versions set."""

    TYPE: ClassVar[str] = "registry.tags_set"
    WRITERS: ClassVar[tuple[str, ...]] = (SERVER,)
    STREAM: ClassVar[str] = "registry/<model name>"
    FIELDS: ClassVar[dict[str, str]] = {
        "name": "the registered model",
        "version": "the version whose tags these are; 0: the model's own",
        "tags": "key → value",
    }
    name: str
    version: int
    tags: dict[str, str]

    def __post_init__(self) -> None:
        _check_int64("version", self.version)
        _check_pairs("tags", self.tags, MAX_TAG_CHARS)


class RegistryTagsDeleted(Payload, frozen=True):
    """Tags of a registered model (``version`` 0) or of one of its versions removed."""

    TYPE: ClassVar[str] = "registry.tags_deleted"
    WRITERS: ClassVar[tuple[str, ...]] = (SERVER,)
    STREAM: ClassVar[str] = "registry/<model name>"
    FIELDS: ClassVar[dict[str, str]] = {
        "name": "the registered model",
        "version": "the version; 0: the model itself",
        "keys": "the tags' keys",
    }
    name: str
    version: int
    keys: list[str]


class ModelVersionChanged(Payload, frozen=True):
    """A version was described, moved to a stage, or deleted."""

    TYPE: ClassVar[str] = "model.version_changed"
    WRITERS: ClassVar[tuple[str, ...]] = (SERVER,)
    STREAM: ClassVar[str] = "registry/<model name>"
    FIELDS: ClassVar[dict[str, str]] = {
        "name": "the registered model",
        "version": "the version",
        "change": "`described`, `staged` or `deleted`",
        "value": "the description or the stage (`None`, `Staging`, `Production`, "
                 "`Archived`); empty for `deleted`",
    }
    name: str
    version: int
    change: Literal["described", "staged", "deleted"]
    value: str = ""

    def __post_init__(self) -> None:
        _check_int64("version", self.version, 1)


class ModelAliasSet(Payload, frozen=True):
    """An alias (``champion``) names a version of a model; it moves when set again."""

    TYPE: ClassVar[str] = "model.alias_set"
    WRITERS: ClassVar[tuple[str, ...]] = (SERVER,)
    STREAM: ClassVar[str] = "registry/<model name>"
    FIELDS: ClassVar[dict[str, str]] = {
        "name": "the registered model",
        "alias": "the alias",
        "version": "the version it names; 0: the alias is removed",
    }
    name: str
    alias: str
    version: int

    def __post_init__(self) -> None:
        _check_text("alias", self.alias, MAX_KEY_CHARS, empty=False)
        _check_int64("version", self.version)


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
        RunHeartbeat,
        RunLost,
        EventDropped,
        ParamsLogged,
        TagsSet,
        TagsDeleted,
        RunRenamed,
        ExperimentCreated,
        ExperimentRenamed,
        ExperimentDeleted,
        ExperimentRestored,
        ExperimentTagsSet,
        ExperimentTagsDeleted,
        LoggedModelCreated,
        LoggedModelFinalized,
        LoggedModelTagsSet,
        LoggedModelTagsDeleted,
        LoggedModelDeleted,
        RegisteredModelChanged,
        RegistryTagsSet,
        RegistryTagsDeleted,
        ModelVersionChanged,
        ModelAliasSet,
    )
}


def run_stream(run_id: str) -> str:
    return f"run/{run_id}"


def review_stream(run_id: str) -> str:
    return f"review/{run_id}"


def model_stream(name: str) -> str:
    return f"model/{name}"


def mlflow_stream(run_id: str) -> str:
    """What the MLflow API was told about a run, written by the server: the run's own
    stream stays its writer's (an agent's), so a script under the agent that also calls
    MLflow has two writers and two streams, folded into one run."""
    return f"mlflow/{run_id}"


EXPERIMENTS_STREAM = "experiments/all"


def logged_model_stream(model_id: str) -> str:
    return f"logged-model/{model_id}"


def registry_stream(name: str) -> str:
    return f"registry/{name}"


def run_streams(run_id: str) -> tuple[str, str, str]:
    """Every stream that speaks about a run: its writer's, the server's review, and what
    the MLflow API was told (folded together into the run's view, audited together)."""
    return (run_stream(run_id), review_stream(run_id), mlflow_stream(run_id))


def run_id_of(stream: str) -> str | None:
    """The run a stream speaks about (``run/X``, ``review/X``, ``mlflow/X``), else None."""
    kind, _, rest = stream.partition("/")
    return rest if kind in ("run", "review", "mlflow") and rest else None


def partition_key(stream: str) -> str:
    """The Kafka record key of a stream's events. A run's own stream and the server's
    streams about it (review, mlflow) share one key, so they share a partition and the
    review (archive, restore) never overtakes the run's submission. A model's versions
    and what the registry says of them share the key ``model/<name>``."""
    run_id = run_id_of(stream)
    if run_id:
        return run_stream(run_id)
    kind, _, rest = stream.partition("/")
    return model_stream(rest) if kind == "registry" and rest else stream


_payload_encoder = msgspec.msgpack.Encoder()


def envelope(stream: str, seq: int, type_: str, v: int, data: bytes, ts: float | None = None,
             *, event_id: str = "") -> Envelope:
    """The one envelope builder: ``data`` (an encoded payload of ``type_`` version ``v``)
    at ``stream``'s ``seq``, stamped ``ts`` (default: now, the producer's clock), with
    ``event_id`` (default: a fresh uuid4 hex; give one only to make a resend of the
    same fact recognizable as a duplicate)."""
    return Envelope(id=event_id or uuid.uuid4().hex, stream=stream, seq=seq, type=type_, v=v,
                    ts=time.time() if ts is None else ts, data=msgspec.Raw(data))


def new_event(stream: str, seq: int, payload: Payload, ts: float | None = None, *,
              event_id: str = "") -> Envelope:
    """Wrap a payload in an envelope (a fresh id unless ``event_id``, the producer's
    clock unless ``ts``)."""
    return envelope(stream, seq, payload.TYPE, payload.VERSION,
                    _payload_encoder.encode(payload), ts, event_id=event_id)
