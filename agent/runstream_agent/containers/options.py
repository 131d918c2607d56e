"""A docker target's table of ``runstream.toml``, read and checked (no Docker needed)::

    [targets.docker-python]
    type = "docker"
    image = "python:3.11-slim"            # the base image (must be on the engine: not pulled)
    python = "python3"                    # the interpreter inside the image
    requirements = "requirements.txt"     # pip requirement files of the project (or a list)
    packages = ["pyarrow>=15"]            # more requirements, inline
    setup = ["apt-get install -y libgomp1"]  # shell commands run while building (as root)
    env = { OMP_NUM_THREADS = "2" }       # the script's environment
    memory = "4g"                         # memory limit, swap included (none by default)
    cpus = 2                              # CPU limit (none by default)
    network = "host"                      # the container's network (default host)
    kafka = "127.0.0.1:9092"              # optional: the agent inside ships to Kafka

Requirements are installed from binary wheels downloaded on the host, so the
build needs no network; a requirement without a wheel for the image's Python
fails at download, with pip's explanation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = ["DEFAULT_IMAGE", "DEFAULT_PYTHON", "DOCKER_KEYS", "DockerOptions", "OptionsError",
           "parse_docker_options", "parse_memory"]

DEFAULT_IMAGE = "python:3.11-slim"
DEFAULT_PYTHON = "python3"
DOCKER_KEYS = frozenset({"image", "requirements", "packages", "setup", "memory", "cpus",
                         "network"})
_UNITS = MappingProxyType({"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40})
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$", re.IGNORECASE)
MIN_MEMORY = 6 << 20  # engines refuse less


class OptionsError(ValueError):
    pass


@dataclass(frozen=True)
class DockerOptions:
    image: str = DEFAULT_IMAGE
    requirements: tuple[Path, ...] = ()  # absolute paths of requirement files
    packages: tuple[str, ...] = ()
    setup: tuple[str, ...] = ()
    memory: int | None = None  # bytes
    cpus: float | None = None
    network: str = "host"


def parse_memory(value: object) -> int:
    """Bytes from ``"512m"``, ``"2g"``, ``"1.5GiB"`` or a number of bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        match = _MEMORY.match(str(value).strip()) if isinstance(value, str) else None
        if match is None:
            raise OptionsError(f"`memory` must be a size such as \"512m\" or \"4g\", "
                               f"not {value!r}")
        number = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if number < MIN_MEMORY:
        raise OptionsError(f"`memory` = {value!r} is below the {MIN_MEMORY >> 20} MiB "
                           "that container engines accept")
    return number


def parse_docker_options(where: str, table: dict[str, Any], project_dir: Path) -> DockerOptions:
    """The options of a ``type = "docker"`` table; raises OptionsError naming the key."""
    try:
        return _parse(table, project_dir)
    except OptionsError as exc:
        raise OptionsError(f"{where}: {exc}") from None


def _parse(table: dict[str, Any], project_dir: Path) -> DockerOptions:
    image = table.get("image", DEFAULT_IMAGE)
    if not isinstance(image, str) or not image.strip():
        raise OptionsError("`image` must name the base image, e.g. image = \"python:3.11-slim\"")
    requirements = table.get("requirements", [])
    if isinstance(requirements, str):
        requirements = [requirements]
    if not isinstance(requirements, list) or not all(isinstance(r, str) for r in requirements):
        raise OptionsError("`requirements` must be a file (or a list of files) of the "
                           "project, e.g. requirements = \"requirements.txt\"")
    files = []
    for name in requirements:
        path = (project_dir / name).resolve()
        if not path.is_file():
            raise OptionsError(f"the requirements file {name!r} does not exist in {project_dir}")
        files.append(path)
    packages = _strings(table, "packages", "packages = [\"numpy>=1.26\"]")
    setup = _strings(table, "setup", "setup = [\"apt-get update\", \"apt-get install -y git\"]")
    memory = parse_memory(table["memory"]) if "memory" in table else None
    cpus = table.get("cpus")
    if cpus is not None and (isinstance(cpus, bool) or not isinstance(cpus, int | float)
                             or cpus <= 0):
        raise OptionsError("`cpus` must be a positive number, e.g. cpus = 2 or cpus = 0.5")
    network = table.get("network", "host")
    if not isinstance(network, str) or not network:
        raise OptionsError("`network` must name a network mode, e.g. network = \"host\"")
    return DockerOptions(image=image.strip(), requirements=tuple(files),
                         packages=tuple(packages), setup=tuple(setup), memory=memory,
                         cpus=float(cpus) if cpus is not None else None, network=network)


def _strings(table: dict[str, Any], key: str, example: str) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise OptionsError(f"`{key}` must be a list of strings, e.g. {example}")
    return list(value)
