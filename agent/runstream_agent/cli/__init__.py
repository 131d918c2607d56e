"""The ``runstream`` command: one entry point, sub-commands dispatch to agent or server code.

Server commands are imported lazily by module path, so that the agent (and a
training container) never needs the server's dependencies.
"""

from __future__ import annotations

import importlib
from types import MappingProxyType
from typing import Any

import click

__all__ = ["main"]

# name -> ("module:attribute" of a click command, imported on first use; short help).
LAZY_COMMANDS = MappingProxyType({
    "server": ("runstream_server.commands:server",
               "Run the server: ingest, API, websocket and web UI."),
    "replay": ("runstream_server.commands:replay", "Rebuild the views from the event store."),
    "submit": ("runstream_agent.cli.run:submit", "Run a script as a tracked run."),
    "sync": ("runstream_agent.cli.run:sync", "Upload events spooled while offline."),
    "prepare": ("runstream_agent.cli.containers:prepare",
                "Build a docker target's image ahead of its runs."),
    "history": ("runstream_agent.cli.history:history",
                "Runs: list, inspect, compare, download, promote, archive, check out."),
    "asset": ("runstream_agent.cli.registry:asset", "Download a model version by link file."),
    "models": ("runstream_agent.cli.registry:models", "Registered models and their versions."),
    "logs": ("runstream_agent.cli.logs:logs", "Print a run's output; --follow tails it live."),
    "audit": ("runstream_agent.cli.logs:audit", "A run's event timeline."),
})


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help lists the lazy commands without importing them (and their extras).
        rows = [(name, LAZY_COMMANDS[name][1]) for name in sorted(LAZY_COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = LAZY_COMMANDS.get(cmd_name)
        if entry is None:
            return super().get_command(ctx, cmd_name)
        module, _, attr = entry[0].partition(":")
        try:
            command: Any = getattr(importlib.import_module(module), attr)
        except ImportError as exc:
            extra = "server" if module.startswith("runstream_server") else "agent"
            raise click.ClickException(
                f"`runstream {cmd_name}` needs runstream's {extra} parts ({exc}). "
                f"Install them with: pip install 'runstream[{extra}]'") from None
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="runstream")
def main() -> None:
    """runstream: track machine-learning runs live, compare them, keep their history.

    \b
    Start a server:      runstream server
    Submit a run:        runstream submit -c local train.py 0.5
    Watch and compare:   runstream history list / runstream logs --run ID --follow
    The server is found through RUNSTREAM_URL (default http://127.0.0.1:8787).
    """
