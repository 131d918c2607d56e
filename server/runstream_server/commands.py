"""Server-side commands: ``runstream server`` and ``runstream replay``."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path

import click
from aiohttp import web
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from sqlalchemy import Engine, func, insert, select

from runstream_server.app import create_app
from runstream_server.database import metadata, open_engine, widen_columns
from runstream_server.eventstore import events_table, head_position, read_events, streams_table
from runstream_server.projections.runner import Projector
from runstream_server.settings import DEFAULT_DATA_DIR, DEFAULT_PORT, Settings

__all__ = ["replay", "server"]

err = Console(stderr=True)

data_dir_option = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help=f"Where the database and blobs live [env RUNSTREAM_DATA_DIR; default {DEFAULT_DATA_DIR}].")
database_option = click.option(
    "--database-url", default=None,
    help="SQLAlchemy URL of the event store and views, e.g. postgresql://user@host/db "
         "[env RUNSTREAM_DATABASE_URL; default SQLite in the data dir].")


@click.command()
@click.option("--host", default=None, help="Address to bind [env RUNSTREAM_HOST; 127.0.0.1]. "
              "Any address other than loopback requires a token.")
@click.option("--port", type=int, default=None,
              help=f"Port [env RUNSTREAM_PORT; default {DEFAULT_PORT}].")
@data_dir_option
@database_option
@click.option("--token", default=None,
              help="API token every call must carry [env RUNSTREAM_TOKEN].")
@click.option("--kafka", default=None,
              help="Consume the event log from this Kafka broker (host:port) "
                   "[env RUNSTREAM_KAFKA; default: embedded log].")
def server(host: str | None, port: int | None, data_dir: Path | None,
           database_url: str | None, token: str | None, kafka: str | None) -> None:
    """Run the runstream server: ingest, API, websocket and web UI."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env(host=host, port=port, data_dir=data_dir,
                                 database_url=database_url, token=token, kafka=kafka)
    try:
        app = create_app(settings)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    err.print(f"runstream server on http://{settings.host}:{settings.port}  "
              f"(data: {settings.data_dir.resolve()})")
    web.run_app(app, host=settings.host, port=settings.port, print=None,
                access_log=None, handle_signals=True)


def _progress() -> Progress:
    return Progress("[progress.description]{task.description}", BarColumn(),
                    MofNCompleteColumn(), TimeRemainingColumn(), console=err, transient=False)


def _until_position(engine: Engine, until: str) -> int:
    """``until`` is a position (an integer) or a time (ISO 8601 or epoch seconds)."""
    with engine.connect() as conn:
        if until.isdigit():
            return min(int(until), head_position(conn))
        try:
            moment = float(until)
        except ValueError:
            try:
                moment = datetime.fromisoformat(until).timestamp()
            except ValueError:
                raise click.BadParameter(
                    f"{until!r} is neither a position (integer) nor a time "
                    "(ISO 8601 like 2026-11-28T10:00 or epoch seconds)",
                    param_hint="--until") from None
        pos = conn.execute(select(func.max(events_table.c.position))
                           .where(events_table.c.recorded <= moment)).scalar()
        return int(pos or 0)


@click.command()
@data_dir_option
@database_option
@click.option("--until", default=None,
              help="Rebuild the state as it was at this position or time, into a separate "
                   "database (see --into); the live one is never touched.")
@click.option("--into", default=None,
              help="SQLite file or SQLAlchemy URL to build into; with --until "
                   "[default <data dir>/replay-<position>.db] or --from-kafka.")
@click.option("--from-kafka", is_flag=True,
              help="Rebuild the event store itself, and every view, from offset 0 of the "
                   "Kafka topic (see --kafka).")
@click.option("--kafka", default=None, help="Broker host:port [env RUNSTREAM_KAFKA].")
@click.option("--topic", default=None, help="Topic [env RUNSTREAM_KAFKA_TOPIC; runstream.events].")
def replay(data_dir: Path | None, database_url: str | None, until: str | None,
           into: str | None, from_kafka: bool, kafka: str | None, topic: str | None) -> None:
    """Rebuild every projection from the event store (or the store from Kafka).

    Stop the server(s) first when rebuilding in place: the views are rewritten.
    """
    settings = Settings.from_env(data_dir=data_dir, database_url=database_url, kafka=kafka,
                                 kafka_topic=topic)
    if from_kafka:
        _replay_from_kafka(settings, into)
        return
    source = open_engine(settings.db_url)
    widen_columns(source)
    metadata.create_all(source)
    projector = Projector()
    if until is None:
        with source.connect() as conn:
            head = head_position(conn)
        started = time.perf_counter()
        with _progress() as bar:
            task = bar.add_task("replaying", total=head)
            projector.rebuild(source, progress=lambda pos, _h: bar.update(task, completed=pos))
        err.print(f"rebuilt {len(projector.projections)} projections from {head} events "
                  f"in {time.perf_counter() - started:.1f} s")
        return
    position = _until_position(source, until)
    target_url = into or str(settings.data_dir / f"replay-{position}.db")
    if "://" not in target_url:
        target_url = f"sqlite:///{Path(target_url).resolve()}"
    if _same_database(target_url, settings.db_url):
        raise click.BadParameter("--into names the live database; choose another",
                                 param_hint="--into")
    target = open_engine(target_url)
    metadata.create_all(target)
    with target.connect() as conn:
        if head_position(conn):
            raise click.ClickException(f"{target_url} already holds events; give a new --into")
    copy_events(source, target, position)
    with _progress() as bar:
        task = bar.add_task("rebuilding", total=position)
        projector.prepare(target, progress=lambda pos, _h: bar.update(task, completed=pos))
    err.print(f"state as of position {position} built in {target_url}")
    click.echo(target_url)


def _replay_from_kafka(settings: Settings, into: str | None) -> None:
    from runstream_server.kafka import KafkaSettings
    from runstream_server.kafka.replay import replay_from_kafka

    if not settings.kafka:
        raise click.UsageError("--from-kafka needs a broker: --kafka host:port or RUNSTREAM_KAFKA")
    url = into or settings.db_url
    if "://" not in url:
        url = f"sqlite:///{Path(url).resolve()}"
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = open_engine(url)
    started = time.perf_counter()
    with _progress() as bar:
        task = bar.add_task("replaying from Kafka", total=None)
        try:
            count = replay_from_kafka(
                KafkaSettings(settings.kafka, settings.kafka_topic), engine,
                lambda done, total: bar.update(task, completed=done, total=total))
        except LookupError as exc:
            raise click.ClickException(str(exc)) from None
    err.print(f"rebuilt the event store and views of {url} from {count} records of "
              f"{settings.kafka_topic} in {time.perf_counter() - started:.1f} s")


def _same_database(a: str, b: str) -> bool:
    def norm(url: str) -> str:
        prefix = "sqlite:///"
        return str(Path(url[len(prefix):]).resolve()) if url.startswith(prefix) else url
    return norm(a) == norm(b)


def copy_events(source: Engine, target: Engine, until: int, page: int = 5_000) -> None:
    """Copy events 1…until (and the stream heads they imply) into another store."""
    after = 0
    heads: dict[str, int] = {}
    while True:
        with source.connect() as conn:
            batch = read_events(conn, after, limit=page, until=until)
        if not batch:
            break
        with target.begin() as conn:
            conn.execute(insert(events_table), [
                {"position": e.position, "id": e.id, "stream": e.stream, "seq": e.seq,
                 "type": e.type, "v": e.v, "ts": e.ts, "recorded": e.recorded, "data": e.data}
                for e in batch])
        for e in batch:
            heads[e.stream] = e.seq
        after = batch[-1].position
    if heads:
        with target.begin() as conn:
            conn.execute(insert(streams_table),
                         [{"stream": s, "head": h} for s, h in heads.items()])
