"""The experiments view: one row per experiment, folded from the ``experiments/all`` stream.

An experiment is a runstream project: a run belongs to the experiment its project
names (``run.submitted``'s ``experiment_id``, when its writer chose one, wins). Ids are
"1", "2", … in the order of the ``experiment.created`` events of the one stream
``experiments/all`` (a total order: a replay from Kafka, whatever the interleaving of
partitions, gives the same ids); "0" is the default experiment, "Default", which
always exists (its row is made when something first changes it). The MLflow API
creates the experiment of a project that has none when it first needs its id.

A run and the creation of its project's experiment live on different streams, so
their order may differ between replays; the views come out the same either way: a
run folded first gets its experiment's id when the experiment is created (or renamed
to its project's name: the runs projection adopts it), and a run folded after reads
it. A project belongs to the first experiment that bore its name, even once renamed
(``experiment_names``): a fact that never changes once it happened, so no order of
folding can see another. This projection runs before the runs projection.
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
)
from runstream_server.database import metadata
from runstream_server.projections.base import Applied

__all__ = ["DEFAULT_ID", "DEFAULT_NAME", "Experiment", "ExperimentsProjection",
           "default_experiment", "experiment_ids", "experiment_names_table", "experiments_table"]

DEFAULT_ID = "0"
DEFAULT_NAME = "Default"

experiments_table = Table(
    "experiments",
    metadata,
    Column("experiment_id", String(40), primary_key=True),
    Column("ordinal", BigInteger, nullable=False, unique=True),  # int(experiment_id)
    Column("name", String(500), nullable=False, unique=True),
    Column("former_names", JSON, nullable=False),  # names it had before renames
    Column("artifact_location", String(2000), nullable=False),
    Column("lifecycle_stage", String(20), nullable=False),  # active | deleted
    Column("tags", JSON, nullable=False),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    Column("position", BigInteger, nullable=False),
)

# Which experiment a project's runs belong to: the first to bear the name (created with
# it, or renamed to it), in the ``experiments/all`` stream's order. A fact that never
# changes once it happened, so the runs view reads the same whenever it looks.
experiment_names_table = Table(
    "experiment_names",
    metadata,
    Column("name", String(500), primary_key=True),
    Column("experiment_id", String(40), nullable=False),
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


def experiment_ids(conn: Connection) -> dict[str, str]:
    """name → the experiment a project of that name belongs to: the first experiment
    that bore the name, even if since renamed; "Default" → "0"."""
    n = experiment_names_table.c
    found = {str(name): str(eid) for name, eid in
             conn.execute(select(n.name, n.experiment_id))}
    found[DEFAULT_NAME] = DEFAULT_ID
    return found


def _bears(conn: Connection, name: str, experiment_id: str, position: int) -> None:
    n = experiment_names_table.c
    if conn.execute(select(n.name).where(n.name == name)).first() is None:
        conn.execute(insert(experiment_names_table).values(
            name=name, experiment_id=experiment_id, position=position))


class ExperimentsProjection:
    name: ClassVar[str] = "experiments"
    version: ClassVar[int] = 1
    tables: ClassVar[tuple[Table, ...]] = (experiments_table, experiment_names_table)

    def handle(self, conn: Connection, batch: Sequence[Applied]) -> None:
        t = experiments_table.c
        for item in batch:
            p, ts, position = item.payload, item.event.ts, item.event.position
            if isinstance(p, ExperimentCreated):
                made = self._make(conn, p.name, p.artifact_location, p.tags, ts, position)
                if made is not None:
                    _bears(conn, p.name, made, position)
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
                    values["former_names"] = [*row.former_names, row.name]
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
                if isinstance(p, ExperimentRenamed):
                    _bears(conn, p.name, p.experiment_id, position)

    @staticmethod
    def _make(conn: Connection, name: str, artifact_location: str, tags: dict[str, str],
              ts: float, position: int) -> str | None:
        """The new experiment's id; None when the name is taken (the first creation of
        a name wins)."""
        t = experiments_table.c
        if name == DEFAULT_NAME or conn.execute(
                select(t.experiment_id).where(t.name == name)).first() is not None:
            return None
        top = conn.execute(select(func.max(t.ordinal))).scalar()
        ordinal = max(int(top or 0), 0) + 1
        conn.execute(insert(experiments_table).values(
            experiment_id=str(ordinal), ordinal=ordinal, name=name, former_names=[],
            artifact_location=artifact_location, lifecycle_stage="active", tags=dict(tags),
            created=ts, updated=ts, position=position))
        return str(ordinal)

    @staticmethod
    def _row(conn: Connection, experiment_id: str, ts: float, position: int) -> Any:
        query = select(experiments_table).where(
            experiments_table.c.experiment_id == experiment_id)
        row = conn.execute(query).first()
        if row is None and experiment_id == DEFAULT_ID:
            conn.execute(insert(experiments_table).values(
                experiment_id=DEFAULT_ID, ordinal=0, name=DEFAULT_NAME, former_names=[],
                artifact_location="",
                lifecycle_stage="active", tags={}, created=0.0, updated=ts,
                position=position))
            row = conn.execute(query).first()
        return row

