"""Preparing a docker target's image: once per recipe, reused while it is unchanged.

``ensure_image`` looks the run image's tag up on the engine (checking its
``runstream.recipe`` label) and builds only what is missing: the dependencies
image (probe the base image, download the wheels on the host, build from a
context of the Dockerfile and the wheels), then the run image on top of it
(runstream's code). Builds use ``pull=False`` (the base must be on the engine)
and are followed by a prune of the dangling images they left (the wheels
stage). One build at a time per machine (a lock file in the cache), so
concurrent submits of the same recipe build it once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runstream_agent.containers.options import DockerOptions
from runstream_agent.containers.recipe import (
    RECIPE_LABEL,
    DepsRecipe,
    Recipe,
    make_recipe,
    write_runstream_tree,
)
from runstream_agent.containers.wheels import (
    WheelsError,
    cache_root,
    download_wheels,
    probe_platform,
)

__all__ = ["BuildFailed", "ImageError", "PreparedImage", "ensure_image"]

Report = Callable[[str], None]


class ImageError(RuntimeError):
    """The image cannot be prepared; the message says why and what to do."""


class BuildFailed(ImageError):
    """The build (or the download of its wheels) failed; ``log`` is its whole log."""

    def __init__(self, message: str, log: str) -> None:
        super().__init__(message)
        self.log = log


@dataclass(frozen=True)
class PreparedImage:
    tag: str
    id: str
    recipe: str  # the recipe's sha256
    built: bool  # False: an existing image was reused
    seconds: float  # time spent preparing


def _quiet(_text: str) -> None:
    pass


def ensure_image(client: Any, options: DockerOptions, python: str, *,
                 on_step: Report = _quiet, on_log: Report = _quiet,
                 force: bool = False) -> PreparedImage:
    """The run image of this target's recipe, built if the engine does not have it
    (``force``: built again, dependencies included)."""
    started = time.monotonic()
    recipe = make_recipe(options, python, _base_id(client, options.image))
    image = None if force else _existing(client, recipe.tag, recipe.digest)
    if image is not None:
        return PreparedImage(recipe.tag, image.id, recipe.digest, False,
                             time.monotonic() - started)
    built = False
    with _build_lock(on_step):
        image = None if force else _existing(client, recipe.tag, recipe.digest)
        if image is None:  # not built while we waited for the lock
            try:
                _ensure_deps(client, recipe.deps, on_step, on_log, force)
                image = _build_run_image(client, recipe, on_step, on_log)
            finally:
                _prune(client)
            built = True
    return PreparedImage(recipe.tag, image.id, recipe.digest, built,
                         time.monotonic() - started)


def _base_id(client: Any, name: str) -> str:
    from docker.errors import APIError, ImageNotFound

    try:
        return str(client.images.get(name).id)
    except ImageNotFound:
        raise ImageError(
            f"the base image {name!r} is not on the container engine, and runstream does "
            f"not pull images: pull or build it first (e.g. `docker pull {name}`), or set "
            "`image` in the target to one the engine has (`docker images` lists them)"
        ) from None
    except APIError as exc:
        raise ImageError(f"the engine cannot look up the base image {name!r}: {exc}") from None


def _existing(client: Any, tag: str, digest: str) -> Any:
    from docker.errors import APIError, ImageNotFound

    try:
        image = client.images.get(tag)
    except (ImageNotFound, APIError):
        return None
    return image if (image.labels or {}).get(RECIPE_LABEL) == digest else None


@contextlib.contextmanager
def _build_lock(on_step: Report) -> Iterator[None]:
    folder = cache_root() / "images"
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / ".build.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_step("waiting for another image build on this machine")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _ensure_deps(client: Any, deps: DepsRecipe, on_step: Report, on_log: Report,
                 force: bool) -> None:
    if not force and _existing(client, deps.tag, deps.digest) is not None:
        return
    on_step(f"probing {deps.python} in {deps.base}")
    try:
        platform = probe_platform(client, deps.base, deps.python)
        on_step(f"wheels for Python {platform.python_version} ({platform.machine})")
        wheels = download_wheels(deps, platform, on_log=on_log)
    except WheelsError as exc:
        raise BuildFailed(str(exc), exc.log) from None
    with _context(deps.dockerfile) as context:
        (context / "wheels").mkdir()
        for wheel in wheels.glob("*.whl"):
            try:
                os.link(wheel, context / "wheels" / wheel.name)
            except OSError:
                shutil.copyfile(wheel, context / "wheels" / wheel.name)
        on_step(f"building {deps.tag} (dependencies)")
        _run_build(client, context, deps.tag, deps.labels(), on_log)


def _build_run_image(client: Any, recipe: Recipe, on_step: Report, on_log: Report) -> Any:
    with _context(recipe.dockerfile) as context:
        write_runstream_tree(context / "runstream")
        on_step(f"building {recipe.tag}")
        return _run_build(client, context, recipe.tag, recipe.labels(), on_log)


@contextlib.contextmanager
def _context(dockerfile: str) -> Iterator[Path]:
    context = Path(tempfile.mkdtemp(prefix="runstream-build-"))
    try:
        (context / "Dockerfile").write_text(dockerfile)
        yield context
    finally:
        shutil.rmtree(context, ignore_errors=True)


def _run_build(client: Any, context: Path, tag: str, labels: dict[str, str],
               on_log: Report) -> Any:
    from docker.errors import APIError, ImageNotFound

    log: list[str] = []
    error = ""
    try:
        for chunk in client.api.build(path=str(context), tag=tag, labels=labels, pull=False,
                                      rm=True, forcerm=True, decode=True):
            text = chunk.get("stream") or chunk.get("status") or ""
            for line in text.splitlines():
                log.append(line)
                on_log(line)
            if "error" in chunk or "errorDetail" in chunk:
                error = str(chunk.get("error") or chunk["errorDetail"].get("message", ""))
                log.append(error)
                on_log(error)
    except APIError as exc:
        error = str(exc)
        log.append(error)
    if not error:
        try:
            return client.images.get(tag)
        except (ImageNotFound, APIError) as exc:
            error = f"the engine reported success but has no image {tag}: {exc}"
            log.append(error)
    step = next((line for line in reversed(log) if "STEP " in line), "")
    raise BuildFailed(f"building the image {tag} failed"
                      + (f" at {step.strip()}" if step else "") + f": {error.strip()}",
                      "\n".join(log))


def _prune(client: Any) -> None:
    from docker.errors import APIError

    with contextlib.suppress(APIError):
        client.images.prune(filters={"dangling": True})
