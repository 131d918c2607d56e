"""The docker target on the command line: ``runstream prepare`` and a docker ``submit``."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import click
import msgspec

from runstream.client import Client
from runstream.settings import SdkSettings
from runstream.spool import Spool
from runstream_agent.agent import RunSpec
from runstream_agent.cli.number import KAFKA_NUMBER_PATIENCE, run_number
from runstream_agent.console import echo, footer, upload_progress
from runstream_agent.containers.detached import ContainerPlan
from runstream_agent.containers.display import BuildDisplay
from runstream_agent.containers.engine import EngineError, connect
from runstream_agent.containers.image import BuildFailed, ImageError, PreparedImage, ensure_image
from runstream_agent.containers.supervisor import STOP_GRACE, ContainerRun
from runstream_agent.orphans import hold_watch
from runstream_agent.submission import agent_log_dir
from runstream_agent.targets import Target, TargetError, load_target

__all__ = ["ContainerTarget", "prepare", "prepare_container", "prepare_image",
           "submit_in_container"]

@click.command()
@click.option("-c", "--target", default="docker-python", show_default=True,
              help="A [targets.NAME] of runstream.toml.")
@click.option("--project-dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              default=Path("."), show_default=True, help="The project folder.")
@click.option("--rebuild", is_flag=True, help="Build the image even if it exists.")
def prepare(target: str, project_dir: Path, rebuild: bool) -> None:
    """Prepare a compute target ahead of its runs.

    \b
    For a docker target: build its image (the base image, the project's
    requirements as wheels downloaded here, runstream's agent) unless the engine
    already has the image of this exact recipe; submits reuse it while the
    recipe is unchanged. Example: runstream prepare -c docker-python
    """
    try:
        chosen = load_target(project_dir.resolve(), target)
    except TargetError as exc:
        raise click.ClickException(str(exc)) from None
    if chosen.docker is None:
        click.echo(f"Target {chosen.name} runs here ({chosen.type}): nothing to prepare.")
        return
    _client, image = prepare_image(chosen, force=rebuild)
    what = f"built in {image.seconds:.1f} s" if image.built else "up to date"
    click.echo(f"Image {image.tag} for target {chosen.name}: {what} "
               f"(recipe {image.recipe[:16]}, id {image.id.removeprefix('sha256:')[:12]}).")


def prepare_image(target: Target, *, force: bool = False) -> tuple[Any, PreparedImage]:
    """The engine and the target's image, built here if needed (progress on stderr)."""
    assert target.docker is not None
    try:
        client = connect()
    except EngineError as exc:
        raise click.ClickException(str(exc)) from None
    display = BuildDisplay()
    try:
        with display, _finish_builds_first() as interrupted:
            image = ensure_image(client, target.docker, target.python, on_step=display.step,
                                 on_log=display.log, force=force)
    except BuildFailed as exc:
        log = exc.log or "\n".join(display.log_lines)
        click.echo(f"--- build log of target {target.name} ---\n{log}\n--- end of the build "
                   "log ---", err=True)
        raise click.ClickException(f"{exc}. The build log is above.") from None
    except ImageError as exc:
        raise click.ClickException(str(exc)) from None
    if image.built:
        click.echo(f"Image {image.tag} built in {image.seconds:.1f} s.", err=True)
    if interrupted:
        raise click.exceptions.Exit(130)
    return client, image


@contextlib.contextmanager
def _finish_builds_first() -> Iterator[list[bool]]:
    """A first Ctrl-C lets the build in progress finish (a client leaving in the middle of
    a build has crashed Podman's API service), then stops; a second one stops at once."""
    interrupted: list[bool] = []
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if interrupted:
            raise KeyboardInterrupt
        interrupted.append(True)
        print("\nrunstream: finishing the image build first; Ctrl-C again to leave it "
              "unfinished", file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


@dataclass(frozen=True)
class ContainerTarget:
    """A docker target, its engine and its prepared image: what a submit needs."""

    target: Target
    client: Any
    image: PreparedImage

    def submit(self, ctx: click.Context, spec: RunSpec, spool: Spool, *, detach: bool,
               settings: SdkSettings) -> None:
        submit_in_container(ctx, spec, spool, self.target, self.client, self.image,
                            detach=detach, settings=settings)


def prepare_container(project_dir: Path, target_name: str) -> ContainerTarget | None:
    """For a docker target: the engine and its image, prepared before the run is
    created (a build that fails leaves no run behind). None for other targets."""
    try:
        target = load_target(project_dir.resolve(), target_name)
    except TargetError:
        return None  # the submission reports it
    if target.docker is None:
        return None
    client, image = prepare_image(target)
    return ContainerTarget(target, client, image)


def submit_in_container(ctx: click.Context, spec: RunSpec, spool: Spool, target: Target,
                        client: Any, image: PreparedImage, *, detach: bool,
                        settings: SdkSettings) -> None:
    """Run a submitted run in a container: here, streaming, or in the background."""
    assert target.docker is not None
    spool_dir = spool.path
    # Held until the run ended: while the spool's lock passes to the agent inside (and
    # until the container is gone) `runstream sync` must not take the stream over.
    watch = hold_watch(spool_dir)
    spool.close()  # the agent inside takes the spool's lock
    if detach:
        try:
            log = _launch_detached(ContainerPlan(
                spec=spec, spool_dir=str(spool_dir), image=image.tag,
                network=target.docker.network, memory=target.docker.memory,
                cpus=target.docker.cpus, inner_patience=settings.exit_patience,
                compression=settings.kafka_compression, watch_fd=watch),
                agent_log_dir(settings))
        finally:
            os.close(watch)  # the background process holds its own copy
        click.echo(f"The run goes on in a container, watched in the background (log: {log}).\n"
                   f"Follow it with: runstream logs --run {spec.run_id} --follow")
        return
    click.echo("")
    run = ContainerRun(client, spec, spool_dir, image.tag, target.docker, echo=echo,
                       patience=settings.exit_patience, inner_patience=settings.exit_patience,
                       compression=settings.kafka_compression, token=settings.token,
                       progress=upload_progress)
    try:
        with _cancel_on_signals(run):
            result = run.run()
    finally:
        os.close(watch)
    patience = KAFKA_NUMBER_PATIENCE if spec.kafka else 0.0
    server = Client(settings.url, token=settings.token)
    number = run_number(server, spec.run_id, patience) if result.delivered else None
    click.echo(footer(spec.run_id, result.outcome, result.duration, number, result.undelivered))
    ctx.exit(result.outcome.cli_exit_code)


def _launch_detached(plan: ContainerPlan, log_dir: Path) -> Path:
    log_dir.mkdir(parents=True, exist_ok=True)
    plan_file = log_dir / f"{plan.spec.run_id}.container.json"
    plan_file.write_bytes(msgspec.json.encode(plan))
    log = log_dir / f"{plan.spec.run_id}.log"
    with log.open("ab") as out:
        subprocess.Popen([sys.executable, "-m", "runstream_agent.containers.detached",
                          str(plan_file)], stdin=subprocess.DEVNULL, stdout=out,
                         stderr=subprocess.STDOUT, start_new_session=True, env=os.environ.copy(),
                         pass_fds=(plan.watch_fd,) if plan.watch_fd >= 0 else ())
    return log


@contextlib.contextmanager
def _cancel_on_signals(run: ContainerRun) -> Iterator[None]:
    """Ctrl-C or SIGTERM stops the container (the run ends canceled); twice kills it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if not run.canceled:
            print(f"\nrunstream: stopping the container; the run has {STOP_GRACE} s to end "
                  "(press Ctrl-C again to kill it)", file=sys.stderr, flush=True)
        else:
            print("\nrunstream: killing the container", file=sys.stderr, flush=True)
        run.cancel()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
