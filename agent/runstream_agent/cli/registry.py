"""The model registry from the terminal: promote a run's file, list models (made by
promote or by MLflow's client), download a version by link file or by name."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
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
from runstream_agent.files import Refused, move_into_place, safe_file_name, safe_relative, staging

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
    """Model versions, named by link files (written by `history promote`) or by name."""


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


_MODEL_SPEC = re.compile(
    r"(?P<name>[^/@]+)(?:/(?P<version>[1-9][0-9]*|latest)|@(?P<alias>[\w-]+))?")


def parse_model_spec(spec: str) -> tuple[str, str]:
    """``NAME``, ``NAME/VERSION`` (a number or ``latest``) or ``NAME@ALIAS`` as the model
    name and the version path part the server reads (``3``, ``latest``, ``@champion``)."""
    match = _MODEL_SPEC.fullmatch(spec)
    if match is None:
        raise click.BadParameter(
            f"{spec!r} names no model version: write NAME, NAME/VERSION (e.g. clf/3, "
            "clf/latest) or NAME@ALIAS (e.g. clf@champion)", param_hint="--model")
    if match["alias"]:
        return match["name"], "@" + match["alias"]
    return match["name"], match["version"] or "latest"


@contextmanager
def refusals() -> Iterator[None]:
    """A name the server sent that would write outside the destination: a clear error."""
    try:
        yield
    except Refused as exc:
        raise click.ClickException(str(exc)) from None


@asset.command("download")
@click.option("--link-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A .link file, e.g. assets/model.pkl.link.")
@click.option("--model", "spec", metavar="NAME[/VERSION|@ALIAS]",
              help="A registered model's version, no link file needed: clf (its latest), "
                   "clf/3, clf@champion.")
@click.option("-d", "--directory", "dest", type=click.Path(file_okay=False, path_type=Path),
              default=Path("."), show_default=True, help="Where to write the file.")
@client_option
def download(link_file: Path | None, spec: str | None, dest: Path, url: str | None) -> None:
    """Download a model version, named by a link file or by --model, and verify its sha256.

    A file version (`history promote`) is written as -d/<model name>; a directory
    version (an MLflow model: MLmodel, model.pkl, …) as its files under -d/<model name>/,
    each checked against its sha256 — all of them, or none.

    A link file's version is fetched from your server (--url or RUNSTREAM_URL), never
    from the one the link file names: a link file could come from anyone, and your
    RUNSTREAM_TOKEN goes to the server you chose. The sha256 check makes sure it is the
    same file."""
    if (link_file is None) == (spec is None):
        raise click.UsageError("name the version with either --link-file or --model "
                               "(e.g. --model clf@champion), not both or neither")
    if link_file is not None:
        _download_link(link_file, dest, url)
        return
    assert spec is not None
    name, ref = parse_model_spec(spec)
    client = connect(url)
    with api_errors(), refusals():
        base = f"/api/models/{Client.quote(name)}/versions/{Client.quote(ref)}"
        version = client.get_json(base)
        number = version["version"]
        if version.get("kind", "file") == "directory":
            _download_directory(client, version, dest)
            return
        target = dest / safe_file_name(version["name"])
        try:
            client.download(f"/api/models/{Client.quote(name)}/versions/{number}/download",
                            target, sha256=version["sha256"])
        except DownloadError as exc:
            raise click.ClickException(f"{name} version {number}: {exc}") from None
    err.print(f"{name} version {number} written to {target} (sha256 verified)")


def _download_directory(client: Client, version: dict[str, Any], dest: Path) -> None:
    """A directory version's files under ``dest``/<name>/, staged and moved into place
    only once every file has hashed right."""
    name, number = version["name"], version["version"]
    base = f"/api/models/{Client.quote(name)}/versions/{number}"
    files = client.get_json(base + "/files")
    # Every name is checked before the first byte is written.
    paths = [safe_relative(f["path"], "file") for f in files]
    if len(set(paths)) < len(paths):
        raise Refused(f"{name} version {number} lists a file twice; nothing was written")
    if not all(isinstance(f.get("sha256"), str) and _SHA256.fullmatch(f["sha256"])
               for f in files):
        raise Refused(f"{name} version {number} lists a file without a sha256; nothing was "
                      "written")
    root = dest / safe_file_name(name)
    total = sum(int(f["size"]) for f in files)
    try:
        with staging(root) as tmp, Progress(
                "{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                console=err) as bar:
            task = bar.add_task(f"{name} v{number}", total=total)
            for f, rel in zip(files, paths, strict=True):
                client.download(f"{base}/files/{Client.quote_path(f['path'])}", tmp / rel,
                                progress=lambda n: bar.advance(task, n), sha256=f["sha256"])
            move_into_place(tmp, root)
    except DownloadError as exc:
        raise click.ClickException(f"{name} version {number}: {exc}") from None
    err.print(f"{name} version {number}: {len(files)} files written to {root} "
              "(sha256 verified)")


def _download_link(link_file: Path, dest: Path, url: str | None) -> None:
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
    for col in ("Name", "Latest version", "Versions", "Aliases", "Updated"):
        table.add_column(col)
    for m in data:
        aliases = ", ".join(f"@{a}→{v}" for a, v in sorted(m.get("aliases", {}).items()))
        table.add_row(m["name"], str(m["latest"] or "—"), str(m["versions"]), aliases,
                      fmt_time(m["updated"]))
    return table


def versions_table(data: dict[str, Any]) -> Table:
    table = Table(title=f"Model {data['name']}", title_justify="left")
    for col in ("Version", "Aliases", "Run", "Files", "Size", "sha256", "Created"):
        table.add_column(col)
    for v in data["versions"]:
        # A directory version (an MLflow model) is its folder, shown with a slash.
        files = (f"{v['path'] or '.'}/ (directory)" if v.get("kind") == "directory"
                 else v["path"])
        table.add_row(str(v["version"]), ", ".join(f"@{a}" for a in v.get("aliases", [])),
                      v["run_id"], files, str(v["size"]), v["sha256"][:16] + "…",
                      fmt_time(v["created"]))
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
