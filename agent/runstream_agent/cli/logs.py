"""A run's output and history from the terminal: ``runstream logs`` and ``runstream audit``."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import click
from rich.table import Table

from runstream.client import Client
from runstream_agent.cli.output import (
    api_errors,
    client_option,
    connect,
    emit,
    fmt_time,
    output_options,
    run_option,
)

__all__ = ["audit", "logs"]


def ws_url(client: Client, after: int = 0) -> str:
    base = client.url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    return base + "/api/ws"


async def follow(client: Client, run_id: str, after: int, until_done: bool) -> int:
    """Print the run's lines from the websocket; with ``until_done``, stop when it ends.
    Reconnects from the last position seen, so nothing is printed twice or skipped."""
    import websockets

    headers = {"Authorization": f"Bearer {client.token}"} if client.token else {}
    position = after
    while True:
        try:
            async with websockets.connect(ws_url(client), additional_headers=headers,
                                          max_size=None) as ws:
                await ws.send(json.dumps({"subscribe": f"run/{run_id}", "after": position}))
                async for raw in ws:
                    frame: dict[str, Any] = json.loads(raw)
                    if "error" in frame:
                        raise click.ClickException(frame["error"])
                    for event in frame["events"]:
                        position = event["position"]
                        if event["type"] == "log.lines":
                            write_lines(event["data"])
                        elif event["type"] == "run.completed" and until_done:
                            return 0 if event["data"]["status"] == "completed" else 1
                    if frame.get("live") and not until_done:
                        return 0
        except websockets.InvalidStatus as exc:  # refused at the handshake: say why
            raise click.ClickException(
                f"the server refused the live feed (HTTP {exc.response.status_code}): "
                f"{refusal(exc.response.body)}") from None
        except (OSError, websockets.ConnectionClosedError):
            # Server restarting, or closed us with 4000 (we fell too far behind): resume
            # from the last position printed.
            await asyncio.sleep(0.5)


def refusal(body: bytes | bytearray | None) -> str:
    """The server's reason, from its ``{"error": …}`` body (or the body itself)."""
    data = bytes(body or b"")
    try:
        return str(json.loads(data)["error"])
    except (ValueError, KeyError, TypeError):
        return data.decode(errors="replace")[:500]


def write_lines(data: dict[str, Any]) -> None:
    for line, fd in zip(data["lines"], data["fds"], strict=True):
        (sys.stderr if fd == 2 else sys.stdout).write(line + "\n")
    sys.stdout.flush()


@click.command()
@run_option
@click.option("-f", "--follow", "keep", is_flag=True,
              help="Keep printing new lines live until the run ends.")
@client_option
def logs(run_id: str, keep: bool, url: str | None) -> None:
    """Print a run's output; with --follow, tail it live (from any machine)."""
    client = connect(url)
    with api_errors():
        run = client.get_json(f"/api/runs/{Client.quote(run_id)}")
    done = run["status"] in ("completed", "failed", "canceled")
    code = asyncio.run(follow(client, run["run_id"], 0, until_done=keep and not done))
    sys.exit(code)


def audit_table(entries: list[dict[str, Any]]) -> Table:
    table = Table(title="Events", title_justify="left")
    for col in ("Position", "Stream", "Seq", "Type", "Time", "Summary"):
        table.add_column(col, overflow="fold")
    for e in entries:
        table.add_row(str(e["position"]), e["stream"], str(e["seq"]), f"{e['type']} v{e['v']}",
                      fmt_time(e["ts"]), e["summary"])
    return table


@click.command()
@run_option
@output_options
@client_option
def audit(run_id: str, output: str, query: str | None, url: str | None) -> None:
    """Print a run's event timeline: every fact recorded about it, in order."""
    with api_errors():
        entries = connect(url).get_json(f"/api/runs/{Client.quote(run_id)}/events")
    emit(entries, output, query, audit_table)
