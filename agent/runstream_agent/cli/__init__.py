"""The ``runstream`` command: one entry point, sub-commands dispatch to agent or server code.

Server commands are imported lazily by module path, so that the agent (and a
training container) never needs the server's dependencies.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

__all__ = ["main"]

# name -> "module:attribute" of a click command, imported on first use.
LAZY_COMMANDS = {
    "server": "runstream_server.commands:server",
    "replay": "runstream_server.commands:replay",
    "audit": "runstream_server.commands:audit",
    "submit": "runstream_agent.cli.run:submit",
    "sync": "runstream_agent.cli.run:sync",
    "history": "runstream_agent.cli.history:history",
    "asset": "runstream_agent.cli.history:asset",
    "models": "runstream_agent.cli.history:models",
    "logs": "runstream_agent.cli.history:logs",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = LAZY_COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, _, attr = target.partition(":")
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
