"""The Python packages of an image, as binary wheels downloaded on the host.

Builds then need no network (pip inside a build step may not reach PyPI, or
verify its TLS): the host's pip downloads, for the image's Python and
platform (probed by running the base image once), every wheel that runstream's
agent and the project's requirements resolve to, and the build installs them
with ``--no-index``. Downloads are cached by what was asked for, in
``$RUNSTREAM_CACHE/wheels`` (default ``~/.cache/runstream``), so an image
rebuilt because runstream's code changed downloads nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runstream_agent.containers.recipe import DepsRecipe

__all__ = ["Platform", "WheelsError", "cache_root", "download_wheels", "probe_platform"]

COMPLETE = ".complete"
_PROBE = ("import platform, sys; print(sys.implementation.name, "
          "'%d.%d' % sys.version_info[:2], platform.machine(), *platform.libc_ver())")


class WheelsError(RuntimeError):
    """The wheels could not be had; ``log`` is what pip (or the probe) said."""

    def __init__(self, message: str, log: str) -> None:
        super().__init__(message)
        self.log = log


@dataclass(frozen=True)
class Platform:
    implementation: str  # "cpython"
    python_version: str  # "3.11"
    machine: str  # "x86_64"
    libc: str  # "glibc" or "" (musl)
    libc_version: str  # "2.36"

    def pip_args(self) -> list[str]:
        """pip's options to download for this platform. Every manylinux tag up to the
        image's glibc is listed: older pips take ``--platform`` literally."""
        machine = self.machine
        if self.libc == "glibc" and self.libc_version:
            major, _, minor = self.libc_version.partition(".")
            tags = [f"manylinux_{major}_{m}_{machine}" for m in range(int(minor), 4, -1)]
            legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
            tags += [f"{name}_{machine}" for m, name in legacy.items() if m <= int(minor)]
            tags.append(f"linux_{machine}")
        else:
            tags = [f"musllinux_1_2_{self.machine}", f"linux_{self.machine}"]
        implementation = "cp" if self.implementation == "cpython" else "pp"
        out = ["--only-binary=:all:", "--python-version", self.python_version,
               "--implementation", implementation]
        for tag in tags:
            out += ["--platform", tag]
        return out


def cache_root() -> Path:
    configured = os.environ.get("RUNSTREAM_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "runstream"


def probe_platform(client: Any, image: str, python: str) -> Platform:
    """Run ``python`` of ``image`` once to learn its version, machine and C library."""
    from docker.errors import DockerException

    log = ""
    try:
        container = client.containers.run(image, [python, "-c", _PROBE], detach=True,
                                          network_mode="none", labels={"runstream.probe": "1"})
        try:
            code = container.wait().get("StatusCode")
            try:
                log = container.logs().decode(errors="replace").strip()
            except DockerException:
                log = ""
        finally:
            container.remove(force=True)
    except DockerException as exc:
        raise WheelsError(f"cannot run {python} in the base image {image}: {exc}", log) from None
    fields = log.split()
    if code != 0 or len(fields) < 3:
        raise WheelsError(f"`{python}` does not run in the base image {image} (exit code "
                          f"{code}); set `python` in the target to its interpreter, or add "
                          "one with `setup`", log)
    libc, version = (fields[3], fields[4]) if len(fields) >= 5 else ("", "")
    return Platform(fields[0], fields[1], fields[2], libc, version)


def download_wheels(recipe: DepsRecipe, platform: Platform, *,
                    on_log: Callable[[str], None] | None = None,
                    root: Path | None = None) -> Path:
    """The folder of wheels for ``recipe`` on ``platform`` (downloaded unless cached)."""
    root = (root or cache_root()) / "wheels"
    key = hashlib.sha256(json.dumps({
        "requirements": [text for _path, text in recipe.requirements],
        "wanted": list(recipe.wanted), "platform": platform.pip_args(),
    }, sort_keys=True).encode()).hexdigest()[:24]
    folder = root / key
    if (folder / COMPLETE).is_file():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root))
    command = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
               "--progress-bar", "off", *platform.pip_args(), "-d", str(tmp),
               *recipe.wanted]
    for path, _text in recipe.requirements:
        command += ["-r", path]
    lines: list[str] = []
    try:
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, text=True, errors="replace") as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line.rstrip("\n"))
                if on_log is not None:
                    on_log(lines[-1])
        if proc.returncode != 0:
            raise WheelsError(
                "pip could not download the image's Python packages as wheels for Python "
                f"{platform.python_version} on {platform.machine} (see pip's output above); "
                "a requirement that has no binary wheel for that platform cannot go into "
                "the image", "\n".join(lines))
        (tmp / COMPLETE).write_text(" ".join(command))
        if folder.exists() and not (folder / COMPLETE).is_file():
            shutil.rmtree(folder, ignore_errors=True)  # left by an interrupted download
        try:
            os.rename(tmp, folder)
        except OSError:  # another process downloaded the same meanwhile
            if not (folder / COMPLETE).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder
