"""The model registry from the terminal: promote a run's file, list models, download by link."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from runstream.client import Client, DownloadError
from runstream_agent.cli.output import (
    api_errors,
    client_option,
    connect,
    emit,
    err,
    fmt_time,
    output_options,
    run_option,
)
from runstream_agent.files import Refused, safe_file_name

__all__ = ["asset", "models", "promote"]

LINK_VERSION = 1


@click.command()
@run_option
@click.option("--artifact-path", required=True, help="The run's file, e.g. outputs/model.pkl.")
@click.option("--name", required=True, help="The model's name, e.g. model.pkl.")
@click.option("--link-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("assets"), show_default=True,
              help="Where to write <name>.link, which `asset download` reads.")
@client_option
def promote(run_id: str, artifact_path: str, name: str, link_dir: Path, url: str | None) -> None:
    """Promote a run's file to the next version of a named model, and write its link file."""
    client = connect(url)
    with api_errors():
        version = client.send_json("POST", "/api/models",
                                   {"run_id": run_id, "path": artifact_path, "name": name})
    link = {"link": LINK_VERSION, "server": client.url, "model": version["name"],
            "version": version["version"], "sha256": version["sha256"], "size": version["size"],
            "run_id": version["run_id"], "path": version["path"]}
    link_dir.mkdir(parents=True, exist_ok=True)
    try:
        link_file = link_dir / f"{safe_file_name(version['name'])}.link"
    except Refused as exc:
        raise click.ClickException(str(exc)) from None
    link_file.write_text(json.dumps(link, indent=2) + "\n")
    err.print(f"{name} version {version['version']} from run {version['run_id']}; "
              f"link written to {link_file}")


@click.group()
def asset() -> None:
    """Assets named by link files (written by `history promote`)."""


_SHA256 = re.compile(r"[0-9a-f]{64}")


def read_link(link_file: Path) -> tuple[str, int, str, str | None]:
    """A link file's model, version, sha256 and the server it names, checked."""
    try:
        link = json.loads(link_file.read_text())
        model, version, sha = link["model"], link["version"], link["sha256"]
        named = link.get("server")
        if not (isinstance(model, str) and model and isinstance(version, int)
                and not isinstance(version, bool) and version > 0 and isinstance(sha, str)
                and _SHA256.fullmatch(sha) and (named is None or isinstance(named, str))):
            raise ValueError("model must be a name, version a number from 1, sha256 64 hex "
                             "digits")
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise click.ClickException(
            f"{link_file} is not a runstream link file ({exc}); write one with "
            "`runstream history promote`") from None
    return model, version, sha, named


@asset.command("download")
@click.option("--link-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              required=True, help="A .link file, e.g. assets/model.pkl.link.")
@click.option("-d", "--directory", "dest", type=click.Path(file_okay=False, path_type=Path),
              default=Path("."), show_default=True, help="Where to write the file.")
@client_option
def download(link_file: Path, dest: Path, url: str | None) -> None:
    """Download the model version a link file names, and verify its sha256.

    The file is fetched from your server (--url or RUNSTREAM_URL), never from the one the
    link file names: a link file could come from anyone, and your RUNSTREAM_TOKEN goes to
    the server you chose. The sha256 check makes sure it is the same file."""
    model, version, sha, named = read_link(link_file)
    client = connect(url)
    if named and named.rstrip("/") != client.url:
        err.print(f"note: {link_file} names the server {named!r}; downloading from your "
                  f"server {client.url} instead (pass --url to choose another)")
    try:
        target = dest / safe_file_name(model)
        with api_errors():
            client.download(f"/api/models/{Client.quote(model)}/versions/{version}/download",
                            target, sha256=sha)
    except DownloadError as exc:
        raise click.ClickException(
            f"{model} version {version}: {exc}. Is the link file from this server?") from None
    except Refused as exc:
        raise click.ClickException(f"{link_file}: {exc}") from None
    err.print(f"{model} version {version} written to {target} (sha256 verified)")


def models_table(data: list[dict[str, Any]]) -> Table:
    table = Table(title="Models", title_justify="left")
    for col in ("Name", "Latest version", "Versions", "Updated"):
        table.add_column(col)
    for m in data:
        table.add_row(m["name"], str(m["latest"]), str(m["versions"]), fmt_time(m["updated"]))
    return table


def versions_table(data: dict[str, Any]) -> Table:
    table = Table(title=f"Model {data['name']}", title_justify="left")
    for col in ("Version", "Run", "File", "Size", "sha256", "Created"):
        table.add_column(col)
    for v in data["versions"]:
        table.add_row(str(v["version"]), v["run_id"], v["path"], str(v["size"]),
                      v["sha256"][:16] + "…", fmt_time(v["created"]))
    return table


@click.group()
def models() -> None:
    """Registered models and their versions."""


@models.command("list")
@output_options
@client_option
def list_models(output: str, query: str | None, url: str | None) -> None:
    """List registered models."""
    with api_errors():
        data = connect(url).get_json("/api/models")
    emit(data, output, query, models_table)


@models.command()
@click.argument("name")
@output_options
@client_option
def show(name: str, output: str, query: str | None, url: str | None) -> None:
    """Show a model's versions."""
    with api_errors():
        data = connect(url).get_json(f"/api/models/{Client.quote(name)}")
    emit(data, output, query, versions_table)
