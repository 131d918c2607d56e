"""The model registry's views: registered models and their versions, one registry for
runstream's ``history promote`` and for MLflow's client.

Versions are made on ``model/<name>`` (``model.version_created``, numbered by that
stream: 1, 2, … whoever made them); what is said about a name and its versions
afterwards (description, tags, aliases, stages, deletion) is on ``registry/<name>``.
Both streams of a name share a Kafka key, so their events arrive in order. Folded in
one projection so that a batch that deletes a version also drops the aliases naming it.

A registered model exists once it is created (``registered_model.changed`` created) or
once it has a version (runstream's promote makes no separate creation). Deleting it
hides it and every version it has; created again, it starts afresh (no tags, aliases
or description) and its next version continues the stream's numbering.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Float,
    String,
    Table,
    insert,
    select,
    update,
)

from runstream.events import (
    ModelAliasSet,
    ModelVersionChanged,
    ModelVersionCreated,
    RegisteredModelChanged,
    RegistryTagsDeleted,
    RegistryTagsSet,
)
from runstream_server.database import metadata
from runstream_server.projections.base import Applied

__all__ = ["RegistryProjection", "model_versions", "registered_models"]

model_versions = Table(
    "model_versions",
    metadata,
    Column("name", String(300), primary_key=True),
    Column("version", BigInteger, primary_key=True),
    Column("run_id", String(200), nullable=False),
    Column("path", String(1000), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created", Float, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("kind", String(20), nullable=False),  # file | directory
    Column("source", String(2000), nullable=False),
    Column("model_id", String(200), nullable=False),
    Column("description", String, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("stage", String(20), nullable=False),  # None | Staging | Production | Archived
    Column("deleted", Boolean, nullable=False),
    Column("updated", Float, nullable=False),
)

registered_models = Table(
    "registered_models",
    metadata,
    Column("name", String(300), primary_key=True),
    Column("description", String, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("aliases", JSON, nullable=False),  # alias → version
    Column("deleted", Boolean, nullable=False),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    Column("position", BigInteger, nullable=False),
)


class RegistryProjection:
    name: ClassVar[str] = "models"
    # 2: version numbers are BIGINT; 3: registered models, kinds, sources, tags,
    # stages, aliases and deletions (MLflow's registry)
    version: ClassVar[int] = 3
    tables: ClassVar[tuple[Table, ...]] = (model_versions, registered_models)

    def handle(self, conn: Connection, batch: Sequence[Applied]) -> None:
        for item in batch:
            p, ts, position = item.payload, item.event.ts, item.event.position
            if isinstance(p, ModelVersionCreated):
                self._version_created(conn, p, ts, position)
            elif isinstance(p, RegisteredModelChanged):
                self._model_changed(conn, p, ts, position)
            elif isinstance(p, RegistryTagsSet | RegistryTagsDeleted):
                self._tags(conn, p, ts, position)
            elif isinstance(p, ModelVersionChanged):
                self._version_changed(conn, p, ts, position)
            elif isinstance(p, ModelAliasSet):
                row = _model(conn, p.name)
                if row is None or row.deleted:
                    continue
                aliases = {k: v for k, v in row.aliases.items() if k != p.alias}
                if p.version:
                    aliases[p.alias] = p.version
                _set_model(conn, p.name, aliases=aliases, updated=ts, position=position)

    @staticmethod
    def _version_created(conn: Connection, p: ModelVersionCreated, ts: float,
                         position: int) -> None:
        t = model_versions.c
        if conn.execute(select(t.version).where(t.name == p.name,
                                                t.version == p.version)).first() is not None:
            return  # a number is taken once (the stream's seq); a replayed copy is ignored
        conn.execute(insert(model_versions).values(
            name=p.name, version=p.version, run_id=p.run_id, path=p.path, sha256=p.sha256,
            size=p.size, created=ts, position=position, kind=p.kind, source=p.source,
            model_id=p.model_id, description=p.description, tags=dict(p.tags), stage="None",
            deleted=False, updated=ts))
        row = _model(conn, p.name)
        if row is None:
            _new_model(conn, p.name, "", ts, position)
        elif row.deleted:
            _revive(conn, p.name, "", ts, position)
        else:
            _set_model(conn, p.name, updated=ts, position=position)

    @staticmethod
    def _model_changed(conn: Connection, p: RegisteredModelChanged, ts: float,
                       position: int) -> None:
        row = _model(conn, p.name)
        if p.change == "created":
            if row is None:
                _new_model(conn, p.name, p.description, ts, position)
            elif row.deleted:
                _revive(conn, p.name, p.description, ts, position)
            # else: the name is taken; the first creation wins
            return
        if row is None or row.deleted:
            return  # the server checked; a stray event changes nothing
        if p.change == "described":
            _set_model(conn, p.name, description=p.description, updated=ts, position=position)
            return
        _set_model(conn, p.name, deleted=True, updated=ts, position=position)
        t = model_versions.c
        conn.execute(update(model_versions).where(t.name == p.name, t.deleted.is_(False))
                     .values(deleted=True, updated=ts, position=position))

    @staticmethod
    def _tags(conn: Connection, p: RegistryTagsSet | RegistryTagsDeleted, ts: float,
              position: int) -> None:
        def changed(tags: dict[str, str]) -> dict[str, str]:
            if isinstance(p, RegistryTagsSet):
                return {**tags, **p.tags}
            return {k: v for k, v in tags.items() if k not in p.keys}

        if p.version == 0:
            row = _model(conn, p.name)
            if row is not None and not row.deleted:
                _set_model(conn, p.name, tags=changed(row.tags), updated=ts, position=position)
            return
        version = _version(conn, p.name, p.version)
        if version is not None:
            _set_version(conn, p.name, p.version, tags=changed(version.tags), updated=ts,
                         position=position)

    @staticmethod
    def _version_changed(conn: Connection, p: ModelVersionChanged, ts: float,
                         position: int) -> None:
        if _version(conn, p.name, p.version) is None:
            return
        if p.change == "described":
            _set_version(conn, p.name, p.version, description=p.value, updated=ts,
                         position=position)
        elif p.change == "staged":
            _set_version(conn, p.name, p.version, stage=p.value or "None", updated=ts,
                         position=position)
        else:
            _set_version(conn, p.name, p.version, deleted=True, updated=ts, position=position)
            row = _model(conn, p.name)
            if row is not None:  # an alias of a deleted version goes with it, as in MLflow
                aliases = {k: v for k, v in row.aliases.items() if v != p.version}
                _set_model(conn, p.name, aliases=aliases, updated=ts, position=position)


def _model(conn: Connection, name: str) -> Any:
    return conn.execute(select(registered_models)
                        .where(registered_models.c.name == name)).first()


def _version(conn: Connection, name: str, version: int) -> Any:
    """A version that is not deleted, else None."""
    t = model_versions.c
    return conn.execute(select(model_versions).where(
        t.name == name, t.version == version, t.deleted.is_(False))).first()


def _new_model(conn: Connection, name: str, description: str, ts: float,
               position: int) -> None:
    conn.execute(insert(registered_models).values(
        name=name, description=description, tags={}, aliases={}, deleted=False, created=ts,
        updated=ts, position=position))


def _revive(conn: Connection, name: str, description: str, ts: float, position: int) -> None:
    _set_model(conn, name, description=description, tags={}, aliases={}, deleted=False,
               created=ts, updated=ts, position=position)


def _set_model(conn: Connection, name: str, **values: Any) -> None:
    conn.execute(update(registered_models).where(registered_models.c.name == name)
                 .values(**values))


def _set_version(conn: Connection, name: str, version: int, **values: Any) -> None:
    t = model_versions.c
    conn.execute(update(model_versions).where(t.name == name, t.version == version)
                 .values(**values))
