"""``runstream history``: list, inspect, compare, download, archive and check out runs."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
from rich.table import Table
from rich.text import Text

from runstream.client import ApiError, Client, DownloadError
from runstream_agent.cli.output import (
    api_errors,
    client_option,
    connect,
    emit,
    err,
    fmt_duration,
    fmt_time,
    fmt_value,
    key_value_table,
    output_options,
    run_option,
)
from runstream_agent.cli.registry import promote
from runstream_agent.files import Refused, extract_snapshot, move_into_place, safe_relative, staging

__all__ = ["history"]

STATUS_STYLE = MappingProxyType({"completed": "green", "failed": "red", "canceled": "yellow",
                                 "running": "cyan", "submitted": "blue"})


def get_run(client: Client, run_id: str) -> dict[str, Any]:
    return client.get_json(f"/api/runs/{Client.quote(run_id)}")  # type: ignore[no-any-return]


def runs_table(data: dict[str, Any]) -> Table:
    runs = data["runs"]
    metric_names = sorted({k for r in runs for k in r["metrics"]})
    named = any(r.get("name") for r in runs)  # the Name column only when a run has one
    table = Table(title=f"{len(runs)} of {data['total']} runs", title_justify="left")
    for col in ("#", "Run id", *(("Name",) if named else ()), "Status", "Started", "Duration",
                "Script", "Arguments", *metric_names):
        table.add_column(col, no_wrap=col in ("Run id", "Started"))
    for r in runs:
        table.add_row(
            str(r["number"]), r["run_id"], *((r.get("name", ""),) if named else ()),
            Text(r["status"], style=STATUS_STYLE.get(r["status"], "")),
            fmt_time(r["started"] or r["submitted"]), fmt_duration(r["duration"]), r["script"],
            " ".join(r["args"]), *[fmt_value(r["metrics"].get(m)) for m in metric_names])
    return table


def run_table(run: dict[str, Any]) -> Table:
    rows: list[tuple[str, Any]] = [
        ("Run id", run["run_id"]), ("Number", run["number"]), ("Name", run.get("name", "")),
        ("Status", run["status"]),
        ("Project", run["project"]), ("Target", run["target"]), ("Script", run["script"]),
        ("Arguments", " ".join(run["args"])), ("Submitted", fmt_time(run["submitted"])),
        ("Started", fmt_time(run["started"])), ("Ended", fmt_time(run["ended"])),
        ("Duration", fmt_duration(run["duration"])), ("Exit code", run["exit_code"]),
        ("Reason", run["reason"]), ("Archived", run["archived"]),
        ("Code snapshot", run["snapshot"]), ("Log lines", run["log_lines"]),
        ("Artifacts", run["artifacts"]),
    ]
    # Parameters and tags by prefix, so a metric of the same name stays apart.
    rows += [(f"params.{k}", v) for k, v in sorted(run.get("params", {}).items())]
    rows += [(f"tags.{k}", v) for k, v in sorted(run.get("tags", {}).items())]
    rows += [(name, value) for name, value in sorted(run["metrics"].items())]
    return key_value_table(f"Run {run['number']}", rows)


@click.group()
def history() -> None:
    """Runs: list, inspect, compare, download, promote, archive, check out."""


@history.command("list")
@click.option("--project", default=None, help="Only this project's runs.")
@click.option("--status", default=None, help="Only these statuses (comma-separated).")
@click.option("--archived", type=click.Choice(["hide", "only", "include"]), default="hide",
              show_default=True, help="Whether archived runs are listed.")
@click.option("--sort", default="-number", show_default=True,
              help="A column or metric name; prefix - for descending.")
@click.option("--filter", "filter_", default=None, metavar="FILTER",
              help="An MLflow run filter, e.g. \"metrics.Accuracy > 0.75 and params.reg < '1'\""
                   " (metrics., params., tags., attributes.; AND only).")
@click.option("--order-by", default=None, metavar="CLAUSES",
              help="MLflow order clauses, comma-separated, e.g. \"metrics.loss ASC, "
                   "params.lr DESC\" (replaces --sort; runs missing a key come last).")
@click.option("--limit", type=int, default=100, show_default=True)
@output_options
@client_option
def list_runs(project: str | None, status: str | None, archived: str, sort: str,
              filter_: str | None, order_by: str | None, limit: int,
              output: str, query: str | None, url: str | None) -> None:
    """List runs, newest first."""
    with api_errors(), bad_search(filter_, order_by):
        data = connect(url).get_json("/api/runs", project=project, status=status,
                                     archived=archived, sort=sort, limit=limit,
                                     filter=filter_, order_by=order_by)
    emit(data, output, query, runs_table)


@contextmanager
def bad_search(filter_: str | None, order_by: str | None) -> Iterator[None]:
    """A filter or ordering the server refused (400) is a usage error (exit 2), shown
    with the server's caret under the offending token."""
    try:
        yield
    except ApiError as exc:
        if exc.status != 400 or not (filter_ or order_by):
            raise
        option = "--filter" if filter_ and filter_ in exc.message else "--order-by"
        raise click.BadParameter(exc.message, param_hint=option) from None


@history.command()
@run_option
@click.option("--artifact", default=None,
              help="Print an artifact instead: driver_log (the printed output) or outputs/….")
@output_options
@client_option
def info(run_id: str, artifact: str | None, output: str, query: str | None,
         url: str | None) -> None:
    """Show a run, or print one of its artifacts."""
    client = connect(url)
    with api_errors():
        run = get_run(client, run_id)
        if artifact is None:
            emit(run, output, query, run_table)
            return
        rid = Client.quote(run["run_id"])
        path = f"/api/runs/{rid}/driver_log" if artifact == "driver_log" else \
            f"/api/runs/{rid}/artifacts/{Client.quote_path(artifact)}"
        resp = client.request("GET", path)
        while chunk := resp.read(1 << 16):
            sys.stdout.buffer.write(chunk)
        sys.stdout.flush()


@history.command()
@click.option("--project", default=None, help="The latest run of this project.")
@output_options
@client_option
def last(project: str | None, output: str, query: str | None, url: str | None) -> None:
    """Show the latest run."""
    with api_errors():
        data = connect(url).get_json("/api/runs", project=project, sort="-submitted", limit=1,
                                     archived="include")
    if not data["runs"]:
        raise click.ClickException("no runs yet: submit one with `runstream submit`")
    emit(data["runs"][0], output, query, run_table)


@history.command()
@click.argument("run_ids", nargs=-1, required=True)
@output_options
@client_option
def compare(run_ids: tuple[str, ...], output: str, query: str | None, url: str | None) -> None:
    """Compare runs side by side; the best value of each metric is marked.

    "Best" is the highest value, except for metrics whose name says loss or error."""
    if len(run_ids) < 2:
        raise click.UsageError("give two or more run ids")
    client = connect(url)
    with api_errors():
        runs = [get_run(client, r) for r in run_ids]
    data = {"runs": runs, "best": best_values(runs)}
    emit(data, output, query, compare_table)


def lower_is_better(name: str) -> bool:
    return any(word in name.lower() for word in ("loss", "error", "mse", "mae", "rmse"))


def best_values(runs: list[dict[str, Any]]) -> dict[str, str]:
    """Metric name → run id with the best numeric value."""
    best: dict[str, str] = {}
    names = sorted({k for r in runs for k in r["metrics"]})
    for name in names:
        scored = [(r["metrics"][name], r["run_id"]) for r in runs
                  if isinstance(r["metrics"].get(name), int | float)]
        if scored:
            pick = min(scored) if lower_is_better(name) else max(scored)
            best[name] = pick[1]
    return best


def compare_table(data: dict[str, Any]) -> Table:
    runs, best = data["runs"], data["best"]
    table = Table(title="Compare", title_justify="left")
    table.add_column("")
    for r in runs:
        table.add_column(f"Run {r['number']}\n{r['run_id']}")
    props = [("Status", "status"), ("Script", "script"), ("Duration", "duration")]
    for label, key in props:
        values = [fmt_duration(r[key]) if key == "duration" else str(r[key]) for r in runs]
        style = "yellow" if len(set(values)) > 1 else ""
        table.add_row(label, *[Text(v, style=style) for v in values])
    table.add_row("Arguments", *[" ".join(r["args"]) for r in runs])
    for kind in ("params", "tags"):  # a row each; yellow where the runs differ
        for key in sorted({k for r in runs for k in r.get(kind, {})}):
            values = [r.get(kind, {}).get(key, "") for r in runs]
            style = "yellow" if len(set(values)) > 1 else ""
            table.add_row(f"{kind}.{key}", *[Text(v, style=style) for v in values])
    for name in sorted({k for r in runs for k in r["metrics"]}):
        cells = []
        for r in runs:
            text = fmt_value(r["metrics"].get(name))
            cells.append(Text(text + " ★", style="bold green") if best.get(name) == r["run_id"]
                         else Text(text))
        table.add_row(name, *cells)
    return table


history.add_command(promote)


@contextmanager
def refusals() -> Iterator[None]:
    """Turn a refused name, archive or download into one clear line and a non-zero exit."""
    try:
        yield
    except (Refused, DownloadError) as exc:
        raise click.ClickException(str(exc)) from None


@history.command()
@run_option
@click.option("-d", "--directory", "dest", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="Where to write the run's files.")
@client_option
def download(run_id: str, dest: Path, url: str | None) -> None:
    """Download a run's files (outputs/…) and its driver_log, each checked against its
    sha256; all of them are written, or none."""
    client = connect(url)
    with api_errors(), refusals():
        run = get_run(client, run_id)
        rid = Client.quote(run["run_id"])
        artifacts = client.get_json(f"/api/runs/{rid}/artifacts")
        # Every name is checked before the first byte is written.
        names = [safe_relative(a["path"], "artifact") for a in artifacts]
        if len({*names, PurePosixPath("driver_log.txt")}) < len(names) + 1:
            raise Refused(f"run {run['run_id']} lists an artifact twice or one named "
                          "driver_log.txt; download its files one by one with `history info "
                          "--artifact`")
        total = sum(a["size"] for a in artifacts)
        with staging(dest) as tmp, Progress(
                "{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                console=err) as bar:
            task = bar.add_task("downloading", total=total)
            for a, name in zip(artifacts, names, strict=True):
                client.download(f"/api/runs/{rid}/artifacts/{Client.quote_path(a['path'])}",
                                tmp / name, progress=lambda n: bar.advance(task, n),
                                sha256=a.get("sha256"))
            client.download(f"/api/runs/{rid}/driver_log", tmp / "driver_log.txt")
            move_into_place(tmp, dest)
    err.print(f"{len(artifacts)} files and driver_log.txt written to {dest} (sha256 verified)")


@history.command()
@run_option
@client_option
def archive(run_id: str, url: str | None) -> None:
    """Archive a run: hidden from lists and charts until restored."""
    _review(run_id, "archive", url)


@history.command()
@run_option
@client_option
def restore(run_id: str, url: str | None) -> None:
    """Restore an archived run."""
    _review(run_id, "restore", url)


def _review(run_id: str, action: str, url: str | None) -> None:
    with api_errors():
        run = connect(url).send_json("POST", f"/api/runs/{Client.quote(run_id)}/{action}", {})
    err.print(f"run {run['number']} ({run['run_id']}) is "
              f"{'archived' if run['archived'] else 'active'}")


@history.command()
@run_option
@click.option("-d", "--directory", "dest", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="An empty or new folder to write the code into.")
@client_option
def checkout(run_id: str, dest: Path, url: str | None) -> None:
    """Write out the code snapshot a run was submitted with."""
    client = connect(url)
    with api_errors():
        run = get_run(client, run_id)
        if not run["snapshot"]:
            raise click.ClickException(f"run {run_id} was submitted without a code snapshot")
        data = client.request("GET", f"/api/blobs/{run['snapshot']}").read()
    if hashlib.sha256(data).hexdigest() != run["snapshot"]:
        raise click.ClickException(
            f"the code snapshot of run {run_id} does not hash to its sha256 {run['snapshot']}: "
            "the server sent corrupted bytes, so nothing was written")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise click.ClickException(f"{dest} is not empty; choose a new folder")
    with refusals():
        files = extract_snapshot(data, dest)
    err.print(f"code of run {run['number']} ({files} files) written to {dest}")
