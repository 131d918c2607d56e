"""The artifacts view (a run's stored files), and the model registry's projection under
its old name (its views are defined in ``projections.registry``)."""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import BigInteger, Column, Float, Integer, String, Table

from runstream.events import ArtifactAdded, run_id_of
from runstream_server.database import metadata
from runstream_server.projections.base import AppendProjection, Applied
from runstream_server.projections.registry import RegistryProjection, model_versions

__all__ = ["ArtifactsProjection", "ModelsProjection", "artifacts_table", "model_versions"]

artifacts_table = Table(
    "artifacts",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("run_id", String(200), nullable=False, index=True),
    Column("path", String(1000), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("media_type", String(200), nullable=False),
    Column("added", Float, nullable=False),
    Column("position", BigInteger, nullable=False),
)


class ArtifactsProjection(AppendProjection):
    """Every ``artifact.added``; a path added again is a newer row (the latest wins on read)."""

    name: ClassVar[str] = "artifacts"
    version: ClassVar[int] = 1
    tables: ClassVar[tuple[Table, ...]] = (artifacts_table,)

    def rows(self, item: Applied) -> list[dict[str, Any]]:
        p = item.payload
        run_id = run_id_of(item.event.stream)
        if not isinstance(p, ArtifactAdded) or run_id is None:
            return []
        return [{"run_id": run_id, "path": p.path, "sha256": p.sha256, "size": p.size,
                 "media_type": p.media_type, "added": item.event.ts,
                 "position": item.event.position}]


class ModelsProjection(RegistryProjection):
    """The model registry (``projections.registry``): registered models and versions."""
