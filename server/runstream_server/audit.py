"""A run's history, event by event, for people: type, seq, time and a short summary."""

from __future__ import annotations

import msgspec
from sqlalchemy import Connection

from runstream.events import (
    ArtifactAdded,
    EventDropped,
    LogLines,
    MetricsLogged,
    ModelVersionCreated,
    ParamsLogged,
    Payload,
    RunCompleted,
    RunHeartbeat,
    RunLost,
    RunRenamed,
    RunStarted,
    RunSubmitted,
    TagsDeleted,
    TagsSet,
    run_streams,
)
from runstream_server.eventstore import StoredEvent, read_events

__all__ = ["AuditEntry", "run_events", "summarize"]


class AuditEntry(msgspec.Struct):
    position: int
    stream: str
    seq: int
    type: str
    v: int
    ts: float
    recorded: float
    summary: str


def summarize(payload: Payload | None, event: StoredEvent) -> str:
    if payload is None:
        return f"unknown to this server ({event.type} v{event.v}); stored, not applied"
    match payload:
        case RunSubmitted():
            args = " ".join(payload.args)
            return f"{payload.script} {args} on {payload.target}".replace("  ", " ")
        case RunStarted():
            lease = f", lease {payload.lease:g} s" if payload.lease else ""
            return f"pid {payload.pid} on {payload.host or '?'}{lease}"
        case RunHeartbeat():
            return f"alive (lease {payload.lease:g} s)"
        case RunLost():
            return payload.reason
        case EventDropped():
            return (f"a {payload.type} v{payload.v} event of {payload.size:,} bytes was refused "
                    f"and set aside: {payload.reason}")
        case LogLines():
            last = payload.first + len(payload.lines) - 1
            head = payload.lines[0][:60] if payload.lines else ""
            return f"lines {payload.first}-{last}: {head!r}"
        case MetricsLogged():
            names = ", ".join(payload.names[:4]) + (" …" if len(payload.names) > 4 else "")
            return f"{len(payload.index)} points of {names}"
        case ArtifactAdded():
            return f"{payload.path} ({payload.size} bytes, {payload.sha256[:12]})"
        case RunCompleted():
            code = "" if payload.exit_code is None else f" exit {payload.exit_code}"
            reason = f": {payload.reason}" if payload.reason else ""
            return f"{payload.status}{code}{reason}"
        case ModelVersionCreated():
            return f"{payload.name} v{payload.version} from {payload.run_id}"
        case ParamsLogged():
            return _pairs(payload.params)
        case TagsSet():
            return _pairs(payload.tags)
        case TagsDeleted():
            return ", ".join(payload.keys)
        case RunRenamed():
            return f"named {payload.name!r}" if payload.name else "name removed"
    return payload.TYPE


def _pairs(pairs: dict[str, str], most: int = 4) -> str:
    shown = ", ".join(f"{k}={v[:40]}" for k, v in list(pairs.items())[:most])
    return shown + (f" … ({len(pairs)} in all)" if len(pairs) > most else "")


def run_events(conn: Connection, run_id: str, after: int = 0,
               limit: int = 10_000) -> list[AuditEntry]:
    events = read_events(conn, after, limit=limit,
                         streams=list(run_streams(run_id)))
    return [AuditEntry(e.position, e.stream, e.seq, e.type, e.v, e.ts, e.recorded,
                       summarize(e.payload(), e)) for e in events]
