"""The experiments view: one row per experiment, folded from the ``experiments`` stream
and from the projects runs name.

An experiment is a runstream project. Rows are made by ``experiment.created`` and by
the first ``run.submitted`` naming a project no experiment has; ids are "1", "2", … in
the order experiments first appear in the log (so a replay gives the same ids), and
"0" is the default experiment, "Default", which always exists (its row is made when
something first changes it). This projection must run before the runs projection in
each batch: the runs view reads the id of a run's experiment from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import msgspec
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    Float,
    String,
    Table,
    func,
    insert,
    select,
    update,
)

from runstream.events import (
    ExperimentCreated,
    ExperimentDeleted,
    ExperimentRenamed,
    ExperimentRestored,
    ExperimentTagsDeleted,
    ExperimentTagsSet,
    RunSubmitted,
)
from runstream_server.database import metadata
from runstream_server.projections.base import Applied

__all__ = ["DEFAULT_ID", "DEFAULT_NAME", "Experiment", "ExperimentsProjection",
           "default_experiment", "experiment_id_for", "experiments_table"]

DEFAULT_ID = "0"
DEFAULT_NAME = "Default"

experiments_table = Table(
    "experiments",
    metadata,
    Column("experiment_id", String(40), primary_key=True),
    Column("ordinal", BigInteger, nullable=False, unique=True),  # int(experiment_id)
    Column("name", String(500), nullable=False, unique=True),
    Column("artifact_location", String(2000), nullable=False),
    Column("lifecycle_stage", String(20), nullable=False),  # active | deleted
    Column("tags", JSON, nullable=False),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    Column("position", BigInteger, nullable=False),
)

Stage = Literal["active", "deleted"]


class Experiment(msgspec.Struct, kw_only=True):
    experiment_id: str
    name: str
    artifact_location: str = ""  # "" = runstream's blob store, mlflow-artifacts:/<id>
    lifecycle_stage: Stage = "active"
    tags: dict[str, str] = {}
    created: float = 0.0
    updated: float = 0.0


def default_experiment() -> Experiment:
    return Experiment(experiment_id=DEFAULT_ID, name=DEFAULT_NAME)


def experiment_id_for(conn: Connection, name: str) -> str:
    """The id of the experiment named ``name`` (the default one's for "Default"); "0"
    when there is none, which cannot happen for a project of a stored run."""
    if name == DEFAULT_NAME:
        return DEFAULT_ID
    found = conn.execute(select(experiments_table.c.experiment_id)
                         .where(experiments_table.c.name == name)).scalar()
    return str(found) if found is not None else DEFAULT_ID


class ExperimentsProjection:
    name: ClassVar[str] = "experiments"
    version: ClassVar[int] = 1
    tables: ClassVar[tuple[Table, ...]] = (experiments_table,)

    def handle(self, conn: Connection, batch: Sequence[Applied]) -> None:
        t = experiments_table.c
        for item in batch:
            p, ts, position = item.payload, item.event.ts, item.event.position
            if isinstance(p, ExperimentCreated):
                self._make(conn, p.name, p.artifact_location, p.tags, ts, position)
            elif isinstance(p, RunSubmitted):
                if not p.experiment_id:
                    self._make(conn, p.project, "", {}, ts, position)
            elif isinstance(p, ExperimentRenamed | ExperimentDeleted | ExperimentRestored
                            | ExperimentTagsSet | ExperimentTagsDeleted):
                row = self._row(conn, p.experiment_id, ts, position)
                if row is None:
                    continue  # an id no experiment has: the server checked; ignore
                values: dict[str, Any] = {"updated": ts, "position": position}
                if isinstance(p, ExperimentRenamed):
                    taken = conn.execute(select(t.experiment_id).where(
                        t.name == p.name, t.experiment_id != p.experiment_id)).first()
                    if taken is not None:
                        continue  # a name is unique: the first holder keeps it
                    values["name"] = p.name
                elif isinstance(p, ExperimentDeleted):
                    values["lifecycle_stage"] = "deleted"
                elif isinstance(p, ExperimentRestored):
                    values["lifecycle_stage"] = "active"
                elif isinstance(p, ExperimentTagsSet):
                    values["tags"] = {**row.tags, **p.tags}
                else:
                    values["tags"] = {k: v for k, v in row.tags.items() if k not in p.keys}
                conn.execute(update(experiments_table).where(t.experiment_id == p.experiment_id)
                             .values(**values))

    @staticmethod
    def _make(conn: Connection, name: str, artifact_location: str, tags: dict[str, str],
              ts: float, position: int) -> None:
        t = experiments_table.c
        if name == DEFAULT_NAME or conn.execute(
                select(t.experiment_id).where(t.name == name)).first() is not None:
            return  # the first creation of a name wins
        top = conn.execute(select(func.max(t.ordinal))).scalar()
        ordinal = max(int(top or 0), 0) + 1
        conn.execute(insert(experiments_table).values(
            experiment_id=str(ordinal), ordinal=ordinal, name=name,
            artifact_location=artifact_location, lifecycle_stage="active", tags=dict(tags),
            created=ts, updated=ts, position=position))

    @staticmethod
    def _row(conn: Connection, experiment_id: str, ts: float, position: int) -> Any:
        query = select(experiments_table).where(
            experiments_table.c.experiment_id == experiment_id)
        row = conn.execute(query).first()
        if row is None and experiment_id == DEFAULT_ID:
            conn.execute(insert(experiments_table).values(
                experiment_id=DEFAULT_ID, ordinal=0, name=DEFAULT_NAME, artifact_location="",
                lifecycle_stage="active", tags={}, created=0.0, updated=ts,
                position=position))
            row = conn.execute(query).first()
        return row
