"""Reaching the container engine: Docker, or any Docker-compatible API (Podman's).

The engine is found as the Docker SDK finds it: ``DOCKER_HOST`` (e.g.
``unix:///run/user/1000/podman/podman.sock``), else the default socket
``/var/run/docker.sock``. When none answers, the error says how to point at one.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["EngineError", "EngineUnavailable", "connect", "engine_address"]

PING_TIMEOUT = 10


class EngineError(RuntimeError):
    """The engine answered, but not as needed; the message says what to do."""


class EngineUnavailable(EngineError):
    """No engine answers at the configured address."""


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock (the default)"


def connect(timeout: int = 120) -> Any:
    """A ``docker.DockerClient`` that answered a ping; raises EngineUnavailable."""
    try:
        import docker
        from docker.constants import DEFAULT_DOCKER_API_VERSION
        from docker.errors import APIError, DockerException
    except ImportError:
        raise EngineError("the docker target needs the Docker SDK for Python: "
                          "pip install 'runstream[docker]'") from None
    try:
        # A fixed API version spares the version negotiation (Podman answers it in
        # ~0.4 s, a good part of a run's start); an older engine gets it negotiated.
        client = docker.from_env(version=DEFAULT_DOCKER_API_VERSION, timeout=timeout)
        try:
            client.ping()
        except APIError:
            client.close()
            client = docker.from_env(version="auto", timeout=timeout)
            client.ping()
    except (DockerException, OSError) as exc:  # requests' errors are OSErrors
        raise EngineUnavailable(
            f"no container engine is reachable at {engine_address()}: {_short(exc)}.\n"
            "Start Docker, or point DOCKER_HOST at a Docker-compatible API, e.g. Podman's:\n"
            "  podman system service --time=0 unix:///tmp/podman.sock &\n"
            "  export DOCKER_HOST=unix:///tmp/podman.sock\n"
            "(in runstream's repository: export DOCKER_HOST=$(scripts/services/podman start))"
        ) from None
    return client


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) < 300 else text[:300] + "…"
