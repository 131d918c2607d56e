"""Projects become experiments when MLflow first asks.

A runstream project is an experiment, but a run submitted by the agent or the SDK
names only its project: the experiments view has a row (and an id) only once an
``experiment.created`` names it. The MLflow API writes that event the first time it
needs the id of a project that has none — listing experiments, looking one up by
name, answering a run — so every run is in an experiment MLflow's client can name,
and the id comes from the one ``experiments/all`` stream like any other.
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import Connection, select

from runstream.events import EXPERIMENTS_STREAM, ExperimentCreated
from runstream_server.api.routing import read
from runstream_server.mlflow.writes import write
from runstream_server.projections.experiments import experiment_ids
from runstream_server.projections.runs import runs_table

__all__ = ["ensure_project_experiments", "experiment_of_project"]


def _homeless(conn: Connection, names: list[str] | None) -> list[str]:
    """Projects of runs no experiment names yet (among ``names`` when given)."""
    r = runs_table.c
    query = select(r.project).distinct().where(r.experiment_id == "")
    if names is not None:
        query = query.where(r.project.in_(names))
    return sorted(str(p) for p in conn.execute(query).scalars())


async def ensure_project_experiments(request: web.Request,
                                     names: list[str] | None = None) -> None:
    """Create the experiment of every project (or of ``names``) that runs name and no
    experiment does. Cheap when there is none: one indexed query."""
    homeless = await read(request, _homeless, names)
    if homeless:
        await write(request, EXPERIMENTS_STREAM,
                    [ExperimentCreated(name=name) for name in homeless])


async def experiment_of_project(request: web.Request, project: str) -> str:
    """The id of the experiment ``project`` names, created if it has none."""
    ids = await read(request, experiment_ids)
    if project not in ids:
        await write(request, EXPERIMENTS_STREAM, [ExperimentCreated(name=project)])
        ids = await read(request, experiment_ids)
    return ids[project]
