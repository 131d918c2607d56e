"""Where MLflow's files are, and what a run or a logged model holds.

MLflow names a file by an artifact URI, and runstream keeps each file as a blob (by
its sha256) named by an ``artifact.added`` event of the run (``run/<id>`` from an agent,
``mlflow/<id>`` from the MLflow API) or of the logged model (``logged-model/<id>``).
This module is the one translation between the two, used by the artifact proxy, the
logged models and the registry:

* ``parse_artifact_uri`` reads the URIs MLflow's client sends or stores
  (``mlflow-artifacts:/<exp>/<run>/artifacts/<path>``,
  ``mlflow-artifacts:/<exp>/models/<model id>/artifacts/<path>``, ``runs:/<run>/<path>``,
  ``models:/m-<id>/<path>``) into a ``Location``;
* ``artifact_uri_of_run`` and ``artifact_uri_of_model`` build the roots runstream hands
  out (``run.info.artifact_uri``, a logged model's ``artifact_uri``), which the client
  turns into ``<tracking uri>/api/2.0/mlflow-artifacts/artifacts/…`` requests;
* ``run_files`` and ``model_files`` are the files under a prefix, the latest upload of
  each path winning (a path uploaded twice shows its second content);
* ``entries`` is one directory level of such files, as MLflow lists them;
* ``clean_path`` refuses what must never name a file (``..``, absolute paths, NUL,
  backslashes), so no request can address a file outside its run or model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import msgspec
from sqlalchemy import Connection, Table, select

from runstream_server.mlflow.wire import ARTIFACTS_API, invalid
from runstream_server.projections.artifacts import artifacts_table
from runstream_server.projections.logged_models import logged_model_files

__all__ = ["MAX_PATH_CHARS", "Entry", "File", "Location", "artifact_uri_of_model",
           "artifact_uri_of_run", "clean_path", "entries", "model_files", "parse_artifact_uri",
           "parse_proxy_path", "run_files", "under"]

MAX_PATH_CHARS = 1000  # the artifacts view's path column
SCHEME = "mlflow-artifacts"
_MODEL_ID = re.compile(r"^m-[0-9a-f]{32}$")


class File(msgspec.Struct, frozen=True):
    """A stored file of a run or a logged model: its path there and its blob."""

    path: str
    sha256: str
    size: int
    media_type: str


class Entry(msgspec.Struct, frozen=True):
    """One name in a directory listing: a file (with its size) or a directory."""

    name: str
    is_dir: bool
    size: int | None = None


@dataclass(frozen=True)
class Location:
    """What an artifact URI points at: a run's or a logged model's files, at ``path``
    ("" for its root). ``experiment_id`` is what the URI said ("" when it says none:
    ``runs:/``, ``models:/``); runstream keys files by run or model alone."""

    kind: Literal["run", "model"]
    id: str
    path: str = ""
    experiment_id: str = ""


def clean_path(path: str, what: str = "artifact path") -> str:
    """``path`` as a file's path inside a run or model ("" for the root), or
    INVALID_PARAMETER_VALUE: no ``..`` or ``.`` segments, no absolute path, no NUL or
    backslash, no empty segment, at most ``MAX_PATH_CHARS``. One trailing slash (a
    directory as MLflow writes it) is dropped."""
    if "\x00" in path:
        raise invalid(f"the {what} {path!r} holds a NUL character: file paths cannot")
    if "\\" in path:
        raise invalid(f"the {what} {path!r} holds a backslash: write paths with '/' "
                      "(MLflow's artifact paths are POSIX paths)")
    if path.startswith("/"):
        raise invalid(f"the {what} {path!r} is absolute: give it relative to the run's or "
                      "model's artifact root, e.g. 'model/MLmodel'")
    path = path[:-1] if path.endswith("/") else path
    if not path:
        return ""
    if len(path) > MAX_PATH_CHARS:
        raise invalid(f"the {what} is {len(path)} characters long; at most "
                      f"{MAX_PATH_CHARS} are allowed")
    for part in path.split("/"):
        if part in ("..", "."):
            raise invalid(f"the {what} {path!r} has a '{part}' segment: paths stay inside "
                          "the run's or model's artifacts, name the file directly")
        if not part:
            raise invalid(f"the {what} {path!r} has an empty segment ('//'): remove it")
    return path


def artifact_uri_of_run(experiment_id: str, run_id: str) -> str:
    """A run's ``artifact_uri``: the client uploads under it through the proxy."""
    return f"{SCHEME}:/{experiment_id}/{run_id}/artifacts"


def artifact_uri_of_model(experiment_id: str, model_id: str) -> str:
    """A logged model's ``artifact_uri``."""
    return f"{SCHEME}:/{experiment_id}/models/{model_id}/artifacts"


def parse_proxy_path(path: str) -> Location:
    """A path of the artifact proxy (``<exp>/<run>/artifacts/<file>`` or
    ``<exp>/models/<model id>/artifacts/<file>``, as the client puts it after
    ``/api/2.0/mlflow-artifacts/artifacts/``) as a ``Location``."""
    path = clean_path(path)
    parts = path.split("/") if path else []
    if len(parts) >= 4 and parts[1] == "models" and parts[3] == "artifacts":
        exp, model_id, rest = parts[0], parts[2], parts[4:]
        return Location("model", model_id, "/".join(rest), exp)
    if len(parts) >= 3 and parts[2] == "artifacts":
        exp, run_id, rest = parts[0], parts[1], parts[3:]
        return Location("run", run_id, "/".join(rest), exp)
    raise invalid(f"the artifact path {path!r} is not inside a run or a logged model: "
                  "runstream's artifact paths are '<experiment id>/<run id>/artifacts/<file>' "
                  "or '<experiment id>/models/<model id>/artifacts/<file>' (the run's or "
                  "model's artifact_uri, then the file)")


def parse_artifact_uri(uri: str) -> Location:
    """Where ``uri`` points: ``mlflow-artifacts:/…`` (also with a host,
    ``mlflow-artifacts://host/…``), runstream's own ``http(s)://…/api/2.0/mlflow-artifacts/
    artifacts/…``, ``runs:/<run id>/<path>`` or ``models:/m-<id>/<path>`` (a logged
    model). Anything else is INVALID_PARAMETER_VALUE, named."""
    scheme, _, rest = uri.partition(":")
    scheme = scheme.lower()
    if not rest:
        raise invalid(f"{uri!r} is not an artifact URI: expected runs:/<run id>/<path>, "
                      "models:/m-<id>, or mlflow-artifacts:/<experiment id>/<run id>/artifacts")
    if scheme == SCHEME:
        return parse_proxy_path(_after_authority(rest))
    if scheme in ("http", "https"):
        path = unquote(urlsplit(uri).path)
        marker = ARTIFACTS_API + "/artifacts/"
        if marker not in path:
            raise invalid(f"{uri!r} is not an address of runstream's artifact proxy "
                          f"(…{marker}<experiment id>/<run id>/artifacts/<path>)")
        return parse_proxy_path(path.split(marker, 1)[1])
    if scheme == "runs":
        path = clean_path(_after_authority(rest), "runs:/ URI")
        run_id, _, inner = path.partition("/")
        if not run_id:
            raise invalid(f"{uri!r} names no run: write runs:/<run id>/<path>")
        return Location("run", run_id, inner)
    if scheme == "models":
        path = clean_path(_after_authority(rest), "models:/ URI")
        model_id, _, inner = path.partition("/")
        if not _MODEL_ID.match(model_id):
            raise invalid(f"{uri!r} does not name a logged model (models:/m-<32 hex digits>); "
                          "a registered model's models:/<name>/<version> URI is resolved by "
                          "the model registry")
        return Location("model", model_id, inner)
    raise invalid(f"{uri!r} uses the scheme {scheme!r}, which runstream does not store: "
                  "expected runs:/, models:/m-…, or mlflow-artifacts:/")


def _after_authority(rest: str) -> str:
    """The path of ``scheme:`` + ``rest`` without leading slashes or a ``//host``."""
    if rest.startswith("//"):
        _, _, rest = rest[2:].partition("/")
    return rest.lstrip("/")


def under(path: str, prefix: str) -> bool:
    """Is ``path`` ``prefix`` itself or inside it ("" holds everything)?"""
    return not prefix or path == prefix or path.startswith(prefix + "/")


def _latest(rows: Iterable[tuple[str, str, int, str]], prefix: str) -> list[File]:
    latest = {path: File(path, sha, size, media) for path, sha, size, media in rows
              if under(path, prefix)}
    return sorted(latest.values(), key=lambda f: f.path)


def _files(conn: Connection, table: Table, owner: Any, prefix: str) -> list[File]:
    """``table``'s files of ``owner`` (a condition on its owner column) at ``prefix`` or
    under it, by path; each path's latest upload."""
    c = table.c
    query = select(c.path, c.sha256, c.size, c.media_type).where(owner)
    if prefix:
        query = query.where((c.path == prefix) | c.path.startswith(prefix + "/",
                                                                   autoescape=True))
    rows = conn.execute(query.order_by(c.id)).tuples().all()
    return _latest(rows, prefix)


def run_files(conn: Connection, run_id: str, prefix: str = "") -> list[File]:
    """A run's files (from its agent and from MLflow alike) at ``prefix`` or under it."""
    return _files(conn, artifacts_table, artifacts_table.c.run_id == run_id, prefix)


def model_files(conn: Connection, model_id: str, prefix: str = "") -> list[File]:
    """A logged model's files at ``prefix`` or under it."""
    return _files(conn, logged_model_files, logged_model_files.c.model_id == model_id,
                  prefix)


def entries(files: Iterable[File], directory: str = "") -> list[Entry]:
    """The names directly in ``directory`` ("" the root), sorted: files with their
    size, and the directories that hold deeper files. A file's own path as
    ``directory`` lists nothing (MLflow lists files only inside directories)."""
    found: dict[str, Entry] = {}
    start = len(directory) + 1 if directory else 0
    for f in files:
        if not under(f.path, directory) or f.path == directory:
            continue
        name, slash, _ = f.path[start:].partition("/")
        if slash:
            found[name] = Entry(name, True)
        elif name not in found:
            found[name] = Entry(name, False, f.size)
    return [found[name] for name in sorted(found)]
