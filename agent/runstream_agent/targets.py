"""Compute targets: where ``runstream submit -c NAME`` runs a script.

Targets are tables of the project's ``runstream.toml``::

    [targets.local]             # the built-in target; this table is optional
    python = ".venv/bin/python" # the interpreter (default: the one running runstream)

    [targets.fast]
    type = "local"
    env = { OMP_NUM_THREADS = "8" }

    [targets.cluster]
    kafka = "kafka-1:9092"      # ship the run's events through this Kafka broker
    topic = "runstream.events"  # optional; the default topic

    [targets.docker-python]     # runs in a container: see runstream_agent.containers.options
    type = "docker"
    image = "python:3.11-slim"
    requirements = "requirements.txt"

``local`` exists without any configuration. A ``docker`` target's ``python`` is
the interpreter inside its image (default ``python3``).

Where a run's events go: to the Kafka broker of the target's ``kafka`` key when
the table has one (``kafka = ""`` forces HTTP), else to ``RUNSTREAM_KAFKA`` when
that is set, else over HTTP to the server (``RUNSTREAM_URL``, the default).
Files (``outputs/``, the snapshot) always go to the server over HTTP.
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runstream_agent.containers.options import (
    DEFAULT_PYTHON,
    DOCKER_KEYS,
    DockerOptions,
    OptionsError,
    parse_docker_options,
)

__all__ = ["CONFIG_FILE", "Target", "TargetError", "load_target", "load_targets"]

CONFIG_FILE = "runstream.toml"
RUNNABLE_TYPES = ("local", "docker")


class TargetError(ValueError):
    """A target that does not exist or is badly configured; the message says how to fix it."""


@dataclass(frozen=True)
class Target:
    name: str
    type: str = "local"
    python: str = field(default_factory=lambda: sys.executable)
    env: dict[str, str] = field(default_factory=dict)
    kafka: str | None = None  # a broker for the events; None: as RUNSTREAM_KAFKA says
    topic: str | None = None  # None: as RUNSTREAM_KAFKA_TOPIC says (or the default)
    docker: DockerOptions | None = None  # set for ``type = "docker"``


def load_targets(project_dir: Path) -> dict[str, Target]:
    """Every target of the project: the built-in ``local`` and those of runstream.toml."""
    targets = {"local": Target("local")}
    path = project_dir / CONFIG_FILE
    if not path.is_file():
        return targets
    try:
        config = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise TargetError(f"{path} is not valid TOML: {exc}") from None
    tables = config.get("targets", {})
    if not isinstance(tables, dict):
        raise TargetError(f"{path}: `targets` must be a table of targets, e.g. [targets.local]")
    for name, table in tables.items():
        targets[name] = _target(path, name, table, project_dir)
    return targets


def load_target(project_dir: Path, name: str) -> Target:
    targets = load_targets(project_dir)
    if name not in targets:
        known = ", ".join(sorted(targets))
        raise TargetError(f"no compute target {name!r}; known targets: {known}. Define one "
                          f"as [targets.{name}] in {project_dir / CONFIG_FILE}")
    target = targets[name]
    if target.type not in RUNNABLE_TYPES:
        raise TargetError(f"target {name!r} is of type {target.type!r}, which this agent "
                          f"cannot run (it runs: {', '.join(RUNNABLE_TYPES)})")
    return target


def _target(path: Path, name: str, table: Any, project_dir: Path) -> Target:
    where = f"{path} [targets.{name}]"
    if not isinstance(table, dict):
        raise TargetError(f"{where} must be a table")
    kind = table.get("type", "local")
    known = {"type", "python", "env", "kafka", "topic"} | (DOCKER_KEYS if kind == "docker"
                                                           else set())
    unknown = set(table) - known
    if unknown:
        raise TargetError(f"{where}: unknown keys {', '.join(sorted(unknown))} "
                          f"(known: {', '.join(sorted(known))})")
    python = table.get("python", DEFAULT_PYTHON if kind == "docker" else sys.executable)
    env = table.get("env", {})
    kafka = table.get("kafka")
    topic = table.get("topic")
    if not isinstance(kind, str) or not isinstance(python, str):
        raise TargetError(f"{where}: `type` and `python` must be strings")
    if kafka is not None and not isinstance(kafka, str):
        raise TargetError(f"{where}: `kafka` must be a string, e.g. kafka = \"host:9092\"")
    if topic is not None and (not isinstance(topic, str) or not topic):
        raise TargetError(f"{where}: `topic` must be a topic name, e.g. "
                          "topic = \"runstream.events\"")
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise TargetError(f"{where}: `env` must be a table of strings, e.g. env = {{ A = \"1\" }}")
    docker = None
    if kind == "docker":
        try:
            docker = parse_docker_options(where, table, project_dir)
        except OptionsError as exc:
            raise TargetError(str(exc)) from None
    elif "/" in python and not Path(python).is_absolute():
        python = str((project_dir / python).resolve())
    return Target(name, kind, python, dict(env), kafka.strip() if kafka is not None else None,
                  topic, docker)
