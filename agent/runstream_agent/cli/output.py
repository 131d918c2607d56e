"""How the CLI shows results: rich tables for people, JSON (with JMESPath) for programs."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click
import jmespath
from jmespath.exceptions import JMESPathError
from rich.console import Console
from rich.table import Table

from runstream.client import ApiError, Client, ServerUnreachable
from runstream.settings import SdkSettings

run_option = click.option("--run", "run_id", required=True,
                          help="The run id (see `runstream history list`).")

__all__ = [
    "api_errors", "client_option", "emit", "fmt_duration", "fmt_time", "output_options",
    "run_option",
]

err = Console(stderr=True)


def out() -> Console:
    """Stdout; when it is not a terminal, wide enough that tables are not cut."""
    return Console() if sys.stdout.isatty() else Console(width=250)


def output_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--query", default=None,
                      help="JMESPath query applied to the JSON result, e.g. "
                           "'runs[].{id: run_id, acc: metrics.Accuracy}'.")(fn)
    return click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table",
                        show_default=True, help="Output format.")(fn)


def client_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--url", envvar="RUNSTREAM_URL", default=None,
                        help="Server URL [env RUNSTREAM_URL; default http://127.0.0.1:8787].")(fn)


def emit(data: Any, output: str, query: str | None,
         table: Callable[[Any], Table | str]) -> None:
    """Print ``data`` as JSON (after ``--query``) or as the table ``table`` makes of it."""
    if query:
        try:
            data = jmespath.search(query, data)
        except JMESPathError as exc:
            raise click.BadParameter(f"invalid JMESPath: {exc}", param_hint="--query") from None
        output = "json"
    if output == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        out().print(table(data))


@contextmanager
def api_errors() -> Iterator[None]:
    """Turn the client's errors into one clear line and a non-zero exit."""
    try:
        yield
    except ServerUnreachable as exc:
        raise click.ClickException(str(exc)) from None
    except ApiError as exc:
        raise click.ClickException(exc.message) from None


def connect(url: str | None) -> Client:
    """The client of the server at ``url`` (``--url``), else ``RUNSTREAM_URL``, with
    ``RUNSTREAM_TOKEN``: the CLI's settings, read as the command connects."""
    try:
        settings = SdkSettings.from_env()
        return Client(url or settings.url, token=settings.token)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def fmt_time(ts: float | None) -> str:
    if ts is None:
        return ""
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{sec:02d}" if hours else f"{minutes}:{sec:02d}"


def fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def key_value_table(title: str, rows: Sequence[tuple[str, Any]]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, fmt_value(value))
    return table

