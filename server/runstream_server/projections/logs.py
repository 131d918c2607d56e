"""The log view: a run's printed lines, one row per ``log.lines`` batch."""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec
from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, String, Table

from runstream.events import LogLines, run_id_of
from runstream_server.database import metadata
from runstream_server.projections.base import AppendProjection, Applied

__all__ = ["LogChunk", "LogsProjection", "log_chunks"]

log_chunks = Table(
    "log_chunks",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("run_id", String(200), nullable=False),
    Column("first", BigInteger, nullable=False),
    Column("n", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("position", BigInteger, nullable=False),
    Index("ix_log_chunks_run_first", "run_id", "first"),
)


class LogChunk(msgspec.Struct, array_like=True):
    lines: list[str]
    times: list[float]
    fds: list[int]


chunk_encoder = msgspec.msgpack.Encoder()
chunk_decoder = msgspec.msgpack.Decoder(LogChunk)


class LogsProjection(AppendProjection):
    name: ClassVar[str] = "logs"
    version: ClassVar[int] = 1
    tables: ClassVar[tuple[Table, ...]] = (log_chunks,)

    def rows(self, item: Applied) -> list[dict[str, Any]]:
        payload = item.payload
        run_id = run_id_of(item.event.stream)
        if not isinstance(payload, LogLines) or run_id is None or not payload.lines:
            return []
        data = chunk_encoder.encode(LogChunk(payload.lines, payload.times, payload.fds))
        return [{"run_id": run_id, "first": payload.first, "n": len(payload.lines),
                 "data": data, "position": item.event.position}]
