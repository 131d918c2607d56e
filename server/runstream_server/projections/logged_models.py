"""The logged models view (MLflow 3): one row per model, folded from its
``logged-model/<id>`` stream, and the files uploaded to it.

``log_model`` creates a model (``logged_model.created``: PENDING), uploads its files
(``artifact.added`` on the model's stream, each a blob) and finalizes it
(``logged_model.finalized``: READY or FAILED). Tags change afterwards; a deleted model
is kept, marked, so that its id never names another model and its files stay.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Float,
    Integer,
    String,
    Table,
    insert,
    select,
    update,
)

from runstream.events import (
    ArtifactAdded,
    LoggedModelCreated,
    LoggedModelDeleted,
    LoggedModelFinalized,
    LoggedModelTagsDeleted,
    LoggedModelTagsSet,
)
from runstream_server.database import metadata
from runstream_server.projections.base import Applied

__all__ = ["LoggedModelsProjection", "logged_model_files", "logged_model_of", "logged_models"]

logged_models = Table(
    "logged_models",
    metadata,
    Column("model_id", String(250), primary_key=True),
    Column("experiment_id", String(40), nullable=False, index=True),
    Column("name", String(250), nullable=False),
    Column("source_run_id", String(200), nullable=False, index=True),
    Column("model_type", String(500), nullable=False),
    Column("status", String(20), nullable=False),  # PENDING | READY | FAILED
    Column("params", JSON, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    Column("position", BigInteger, nullable=False),
)

logged_model_files = Table(
    "logged_model_files",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("model_id", String(250), nullable=False, index=True),
    Column("path", String(1000), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("media_type", String(200), nullable=False),
    Column("added", Float, nullable=False),
    Column("position", BigInteger, nullable=False),
)

_STREAM = "logged-model"


def logged_model_of(stream: str) -> str | None:
    """The model a ``logged-model/<id>`` stream speaks about, else None."""
    kind, _, rest = stream.partition("/")
    return rest if kind == _STREAM and rest else None


class LoggedModelsProjection:
    name: ClassVar[str] = "logged_models"
    version: ClassVar[int] = 1
    tables: ClassVar[tuple[Table, ...]] = (logged_models, logged_model_files)

    def handle(self, conn: Connection, batch: Sequence[Applied]) -> None:
        t = logged_models.c
        for item in batch:
            model_id = logged_model_of(item.event.stream)
            if model_id is None:
                continue
            p, ts, position = item.payload, item.event.ts, item.event.position
            if isinstance(p, ArtifactAdded):
                conn.execute(insert(logged_model_files).values(
                    model_id=model_id, path=p.path, sha256=p.sha256, size=p.size,
                    media_type=p.media_type, added=ts, position=position))
                continue
            if isinstance(p, LoggedModelCreated):
                if conn.execute(select(t.model_id).where(t.model_id == model_id)).first():
                    continue  # the first creation of an id wins
                conn.execute(insert(logged_models).values(
                    model_id=model_id, experiment_id=p.experiment_id, name=p.name,
                    source_run_id=p.source_run_id, model_type=p.model_type, status="PENDING",
                    params=dict(p.params), tags=dict(p.tags), deleted=False, created=ts,
                    updated=ts, position=position))
                continue
            row = conn.execute(select(logged_models).where(t.model_id == model_id)).first()
            if row is None:
                continue  # nothing is known of a model before its creation
            values: dict[str, object] = {"updated": ts, "position": position}
            if isinstance(p, LoggedModelFinalized):
                values["status"] = p.status
            elif isinstance(p, LoggedModelTagsSet):
                values["tags"] = {**row.tags, **p.tags}
            elif isinstance(p, LoggedModelTagsDeleted):
                values["tags"] = {k: v for k, v in row.tags.items() if k not in p.keys}
            elif isinstance(p, LoggedModelDeleted):
                values["deleted"] = True
            else:
                continue
            conn.execute(update(logged_models).where(t.model_id == model_id).values(**values))
