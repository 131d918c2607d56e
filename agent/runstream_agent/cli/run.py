"""``runstream submit`` and ``runstream sync``."""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from runstream.client import Client
from runstream.settings import SdkSettings
from runstream.sinks import open_sink
from runstream_agent.agent import Agent
from runstream_agent.cli.containers import prepare_container
from runstream_agent.cli.number import KAFKA_NUMBER_PATIENCE, run_number
from runstream_agent.console import echo, footer, upload_progress
from runstream_agent.mlflow_env import mlflow_notes
from runstream_agent.snapshot import SnapshotError
from runstream_agent.submission import (
    SubmitError,
    agent_log_dir,
    launch_detached,
    pairs,
    prepare,
)
from runstream_agent.sync import StreamReport, sync_spools
from runstream_agent.targets import TargetError

__all__ = ["submit", "sync"]

@click.command(context_settings={"ignore_unknown_options": True,
                                 "allow_interspersed_args": False})
@click.option("-c", "--target", default="local", show_default=True,
              help="Compute target: `local` (built in) or a [targets.NAME] of runstream.toml.")
@click.option("--detach", is_flag=True,
              help="Return at once; the run goes on in a background agent.")
@click.option("--project-dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              default=Path("."), show_default=True, help="The project folder to snapshot.")
@click.option("--name", default="", help="The run's name (a label; the run id stays its key).")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="A parameter of the run (repeatable); fixed once logged.")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE",
              help="A tag of the run (repeatable).")
@click.option("--no-mlflow", is_flag=True,
              help="Leave the script's MLFLOW_* variables as they are (see MLflow below).")
@click.option("--no-system-metrics", is_flag=True,
              help="Do not sample the script's CPU, memory, disk, network and GPUs into "
                   "sys/… series (also: RUNSTREAM_SYSTEM_METRICS=0).")
@click.argument("script")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def submit(ctx: click.Context, target: str, detach: bool, project_dir: Path, name: str,
           params: tuple[str, ...], tags: tuple[str, ...], no_mlflow: bool,
           no_system_metrics: bool, script: str, args: tuple[str, ...]) -> None:
    """Run SCRIPT [ARGS]... as a tracked run.

    \b
    The project folder is snapshotted (respecting .gitignore) and the script runs
    in a copy of it with `python -u`; its output is streamed here and to the
    server, its outputs/ files are stored as artifacts. The exit code is the run's.
    Example: runstream submit -c local train.py --alpha 0.5
    With a name, parameters and tags (options go before SCRIPT):
    runstream submit --name baseline --param alpha=0.5 --tag team=vision train.py

    \b
    Events go over HTTP to RUNSTREAM_URL, unless a Kafka broker is configured:
    the target's `kafka = "host:port"` (and optional `topic`) in runstream.toml,
    else RUNSTREAM_KAFKA=host:port (and RUNSTREAM_KAFKA_TOPIC). Then they are
    produced to that topic, which a server in Kafka mode consumes; files still
    go to RUNSTREAM_URL. RUNSTREAM_KAFKA_COMPRESSION=zstd compresses the records
    (default: none). Until delivered, events wait in the on-disk spool.

    \b
    MLflow: the server is an MLflow tracking server too, and the script's
    MLflow calls log into this run: submit sets MLFLOW_TRACKING_URI (the server,
    as the script reaches it; in a container the address its agent uses),
    MLFLOW_RUN_ID (this run: mlflow.start_run() and autolog resume it) and
    MLFLOW_EXPERIMENT_NAME (the project, the run's experiment), replacing yours,
    and starts the script once the server knows the run. The run stays the
    agent's: the script's mlflow.end_run() does not end it, its exit does. A
    script that calls mlflow.set_experiment(NAME) must be submitted in project
    NAME (RUNSTREAM_PROJECT=NAME), as MLflow resumes no run of another
    experiment. --no-mlflow leaves every MLFLOW_* variable alone, e.g. to log
    to another MLflow server (then that run is not this one).

    \b
    System metrics: while the script runs, the agent samples its process tree
    (0.5, 1, 2, 4, 8 s after the start, then every 5 s) into series under sys/:
    sys/cpu_percent, sys/memory_rss_bytes, sys/disk_read_bytes and
    sys/disk_write_bytes (the tree's, cumulative), sys/net_recv_bytes and
    sys/net_sent_bytes (the machine's or container's, cumulative), and per NVIDIA
    GPU sys/gpu/N/utilization_percent, memory_used_bytes and power_watts (with
    `pip install 'runstream[gpu]'`). --no-system-metrics or
    RUNSTREAM_SYSTEM_METRICS=0 turns them off.
    """
    try:
        settings = SdkSettings.from_env()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        given_params, given_tags = pairs("--param", params), pairs("--tag", tags)
    except SubmitError as exc:
        raise click.BadParameter(str(exc)) from None
    container = prepare_container(project_dir, target)  # a docker target: engine and image
    try:
        spec, spool = prepare(project_dir, script, list(args), target, settings, name=name,
                              params=given_params, tags=given_tags, mlflow=not no_mlflow,
                              system_metrics=settings.system_metrics and not no_system_metrics)
    except (TargetError, SubmitError, SnapshotError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"RunId: {spec.run_id}")
    if spec.mlflow:
        for note in mlflow_notes(spec.url, spec.run_id, {**os.environ, **spec.env}):
            click.echo(f"runstream: {note}", err=True)
    if container is not None:
        container.submit(ctx, spec, spool, detach=detach, settings=settings)
        return
    if detach:
        log = launch_detached(spec, spool, agent_log_dir(settings))
        spool.close()
        click.echo(f"The run goes on in the background (agent log: {log}).\n"
                   f"Follow it with: runstream logs --run {spec.run_id} --follow")
        return
    click.echo("")
    client = Client(settings.url, token=settings.token)
    sink = open_sink(spec.url, spec.kafka, spec.kafka_topic, settings.kafka_compression,
                     token=settings.token)
    agent = Agent(spec, spool, sink, echo=echo, progress=upload_progress,
                  delivery_patience=settings.exit_patience)
    try:
        outcome = agent.run()
    except KeyboardInterrupt:
        left = spool.pending
        spool.close()
        click.echo(f"\nInterrupted; {left} events of run {spec.run_id} wait in the spool. "
                   "Send them with `runstream sync`.", err=True)
        ctx.exit(130)
    finally:
        sink.close()
    undelivered = spool.pending
    spool.close()
    # Through Kafka, delivered means on the topic: the server numbers the run when
    # it has consumed it, usually within milliseconds.
    patience = KAFKA_NUMBER_PATIENCE if spec.kafka else 0.0
    number = run_number(client, spec.run_id, patience) if agent.delivered else None
    click.echo(footer(spec.run_id, outcome, agent.duration, number, undelivered))
    ctx.exit(outcome.cli_exit_code)


@click.command()
@click.option("--spool-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The spool folder (default: RUNSTREAM_SPOOL_DIR or ~/.runstream/spool).")
@click.option("--kafka", metavar="HOST:PORT", default=None,
              help="Send the events to this Kafka broker (default: RUNSTREAM_KAFKA; "
                   "unset: over HTTP to RUNSTREAM_URL).")
@click.option("--topic", default=None,
              help="The Kafka topic (default: RUNSTREAM_KAFKA_TOPIC or runstream.events).")
@click.option("--discard-set-aside", is_flag=True,
              help="Delete the events the server refused (listed by a plain sync) once "
                   "the event.dropped standing for each is delivered.")
@click.pass_context
def sync(ctx: click.Context, spool_dir: Path | None, kafka: str | None,
         topic: str | None, discard_set_aside: bool) -> None:
    """Send the events and files that wait in the spools to the server.

    Runs whose agent or script is still going are left to it. A run whose agent
    or script died (nothing holds its spool) is ended as failed, "agent lost",
    and what is left of its script is stopped. A run that is delivered in full
    is removed from the spool. Events go over HTTP to
    RUNSTREAM_URL, or to Kafka with --kafka or RUNSTREAM_KAFKA (a server in Kafka
    mode takes both); files always go to RUNSTREAM_URL.

    \b
    An event the server refuses (too large, invalid) does not hold up the rest:
    it is set aside in its spool folder (set-aside/), an `event.dropped` is
    stored in its place, and sync lists it (stream, seq, type, size, reason).
    The spool is kept for it until --discard-set-aside deletes it."""
    settings = SdkSettings.from_env()
    root = spool_dir or settings.spool_dir
    kafka = settings.kafka if kafka is None else kafka
    sink = open_sink(settings.url, kafka, settings.kafka_topic if topic is None else topic,
                     settings.kafka_compression, token=settings.token)
    destination = f"Kafka at {kafka}" if kafka else settings.url
    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=console, transient=True) as progress:
        events = progress.add_task("events", total=None)
        blobs = progress.add_task("file bytes", total=None, visible=False)

        def on_total(n_events: int, n_bytes: int) -> None:
            progress.update(events, total=n_events)
            progress.update(blobs, total=n_bytes, visible=n_bytes > 0)

        try:
            reports = sync_spools(root, sink, on_total=on_total,
                                  progress=lambda n: progress.advance(events, n),
                                  blob_progress=lambda n: progress.advance(blobs, n),
                                  discard_set_aside=discard_set_aside)
        finally:
            sink.close()
    if not reports:
        click.echo(f"Nothing to send: no spool in {root}.")
        return
    failed = 0
    for r in reports:
        if r.ended:  # its agent or script died: sync ended the run (as failed)
            click.echo(f"{r.stream}: its writer was gone: {r.ended}")
        what = f"{r.events} events" + (f", {r.blobs} files" if r.blobs else "")
        if r.state == "sent":
            tail = "delivered in full, spool removed" if r.removed else r.message or "sent"
            if r.set_aside and not r.discarded and not r.message:
                tail = "delivered; the spool is kept for its set-aside events"
            click.echo(f"{r.stream}: {what} sent; {tail}")
        else:
            failed += r.state in ("unreachable", "failed")
            click.echo(f"{r.stream}: {r.state}: {r.message}" + (
                f" ({what} sent)" if r.events or r.blobs else ""))
        _echo_set_aside(r)
    total = sum(r.events for r in reports)
    files = sum(r.blobs for r in reports)
    click.echo(f"Sent {total} events and {files} files to {destination}.")
    kept = sum(len(r.set_aside) for r in reports if not r.discarded)
    if kept:
        click.echo(f"{kept} set-aside events are kept; once you have looked at them, delete "
                   "them with `runstream sync --discard-set-aside`.")
    if failed:
        ctx.exit(1)


def _echo_set_aside(report: StreamReport) -> None:
    if not report.set_aside:
        return
    n = len(report.set_aside)
    if report.discarded:
        click.echo(f"  {report.discarded} set-aside events discarded")
        return
    click.echo(f"  {n} event{'s' if n > 1 else ''} set aside (refused by the server; an "
               f"event.dropped stands in {'their' if n > 1 else 'its'} place), "
               f"in {report.path / 'set-aside'}:")
    for e in report.set_aside:
        kept = "" if e.kept else " (bytes not kept)"
        click.echo(f"    seq {e.seq}  {e.type} v{e.v}  {e.size:,} bytes{kept}: {e.reason}")
