"""The model registry's read side: what runstream's ``/api/models`` and MLflow's
registry API ask of the registry views (``projections.registry``). Deleted models and
versions are hidden from every answer here.

A version is a ``file`` (runstream's ``history promote``: one of a run's files, its blob
is the version) or a ``directory`` (an MLflow model: MLmodel and the files beside it;
its blob is a *manifest*, a JSON list of ``{path, sha256, size}`` sorted by path, each
file's own blob stored beside it).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

import msgspec
from sqlalchemy import Connection, select

from runstream_server.projections.logged_models import logged_models
from runstream_server.projections.registry import model_versions, registered_models
from runstream_server.projections.runs import runs_table

__all__ = ["Alias", "ManifestEntry", "ModelSummary", "ModelVersion", "Registered",
           "decode_manifest", "encode_manifest", "find_versions", "get_model", "get_version",
           "list_models", "logged_model_origin", "read_manifest", "run_experiment",
           "versions_of"]

Kind = Literal["file", "directory"]


class ModelVersion(msgspec.Struct):
    """One version of a registered model."""

    name: str
    version: int
    run_id: str
    path: str  # the file (kind file), or the folder in the run ("" for a logged model's)
    sha256: str  # the file's bytes, or the directory's manifest
    size: int  # bytes; a directory: the sum of its files'
    created: float
    kind: Kind = "file"
    source: str = ""  # as MLflow's client gave it; "" for runstream's promote
    model_id: str = ""  # the MLflow logged model it was registered from
    description: str = ""
    tags: dict[str, str] = {}
    stage: str = "None"  # MLflow's (deprecated) stages: None, Staging, Production, Archived
    aliases: list[str] = []
    updated: float = 0.0


class ModelSummary(msgspec.Struct):
    """A registered model: ``latest`` is 0 while it has no version."""

    name: str
    latest: int
    versions: int
    updated: float
    created: float = 0.0
    description: str = ""
    tags: dict[str, str] = {}
    aliases: dict[str, int] = {}


class Registered(msgspec.Struct):
    """A registered model with its (live) versions, oldest first."""

    model: ModelSummary
    versions: list[ModelVersion]


class Alias(msgspec.Struct):
    alias: str
    version: int


class ManifestEntry(msgspec.Struct, frozen=True):
    """One file of a directory version."""

    path: str
    sha256: str
    size: int


_manifest_encoder = msgspec.json.Encoder()
_manifest_decoder = msgspec.json.Decoder(list[ManifestEntry])


def encode_manifest(files: list[ManifestEntry]) -> tuple[bytes, str]:
    """A directory version's manifest (sorted by path, so equal directories make equal
    manifests) and its sha256."""
    data = _manifest_encoder.encode(sorted(files, key=lambda f: f.path))
    return data, hashlib.sha256(data).hexdigest()


def decode_manifest(data: bytes) -> list[ManifestEntry]:
    return _manifest_decoder.decode(data)


def read_manifest(path: Path) -> list[ManifestEntry]:
    """The manifest blob at ``path`` (the blob store's file for its sha256)."""
    return decode_manifest(path.read_bytes())


def _summary(row: Any, versions: list[int]) -> ModelSummary:
    return ModelSummary(name=row.name, latest=max(versions, default=0),
                        versions=len(versions), updated=float(row.updated),
                        created=float(row.created), description=row.description,
                        tags=dict(row.tags), aliases=dict(row.aliases))


def _version(row: Any, aliases: dict[str, int]) -> ModelVersion:
    return ModelVersion(
        name=row.name, version=int(row.version), run_id=row.run_id, path=row.path,
        sha256=row.sha256, size=int(row.size), created=float(row.created), kind=row.kind,
        source=row.source, model_id=row.model_id, description=row.description,
        tags=dict(row.tags), stage=row.stage,
        aliases=sorted(a for a, v in aliases.items() if v == row.version),
        updated=float(row.updated))


def _live_model(conn: Connection, name: str) -> Any:
    m = registered_models.c
    return conn.execute(select(registered_models)
                        .where(m.name == name, m.deleted.is_(False))).first()


def _live_versions(conn: Connection, names: list[str] | None = None,
                   run_id: str | None = None) -> list[Any]:
    v = model_versions.c
    query = select(model_versions).where(v.deleted.is_(False))
    if names is not None:
        query = query.where(v.name.in_(names))
    if run_id is not None:
        query = query.where(v.run_id == run_id)
    return list(conn.execute(query.order_by(v.name, v.version)).all())


def list_models(conn: Connection) -> list[ModelSummary]:
    """Every registered model, by name (with no version yet too)."""
    m = registered_models.c
    rows = conn.execute(select(registered_models).where(m.deleted.is_(False))
                        .order_by(m.name)).all()
    numbers: dict[str, list[int]] = {}
    for version in _live_versions(conn):
        numbers.setdefault(version.name, []).append(int(version.version))
    return [_summary(row, numbers.get(row.name, [])) for row in rows]


def get_model(conn: Connection, name: str) -> Registered | None:
    row = _live_model(conn, name)
    if row is None:
        return None
    versions = [_version(v, row.aliases) for v in _live_versions(conn, [name])]
    return Registered(_summary(row, [v.version for v in versions]), versions)


def versions_of(conn: Connection, name: str) -> list[ModelVersion]:
    found = get_model(conn, name)
    return [] if found is None else found.versions


def get_version(conn: Connection, name: str, version: int) -> ModelVersion | None:
    row = _live_model(conn, name)
    if row is None:
        return None
    v = model_versions.c
    found = conn.execute(select(model_versions).where(
        v.name == name, v.version == version, v.deleted.is_(False))).first()
    return None if found is None else _version(found, row.aliases)


def find_versions(conn: Connection, names: list[str] | None = None,
                  run_id: str | None = None) -> list[ModelVersion]:
    """Live versions (of these models, of this run), by name then version."""
    rows = _live_versions(conn, names, run_id)
    m = registered_models.c
    aliases = {r.name: r.aliases for r in conn.execute(
        select(m.name, m.aliases).where(m.name.in_({r.name for r in rows})))}
    return [_version(r, aliases.get(r.name, {})) for r in rows]


def run_experiment(conn: Connection, run_id: str) -> str | None:
    """The experiment of a run (None: no such run), for the MLflow URIs of its files."""
    r = runs_table.c
    found = conn.execute(select(r.experiment_id, r.project).where(r.run_id == run_id)).first()
    if found is None:
        return None
    return str(found.experiment_id or "0")


def logged_model_origin(conn: Connection, model_id: str) -> tuple[str, str] | None:
    """A logged model's (experiment id, source run id), None when there is none or it
    was deleted."""
    t = logged_models.c
    found = conn.execute(select(t.experiment_id, t.source_run_id)
                         .where(t.model_id == model_id, t.deleted.is_(False))).first()
    return None if found is None else (str(found.experiment_id), str(found.source_run_id))
