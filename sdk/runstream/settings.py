"""The SDK's settings, read once from ``RUNSTREAM_*`` variables and passed in.

| variable | meaning |
|---|---|
| ``RUNSTREAM_URL`` | the server (default ``http://127.0.0.1:8787``) |
| ``RUNSTREAM_TOKEN`` | the bearer token of a server that requires one |
| ``RUNSTREAM_KAFKA`` | ``host:port`` of a Kafka broker: ship events to its topic, not over HTTP |
| ``RUNSTREAM_KAFKA_TOPIC`` | the event topic (default ``runstream.events``) |
| ``RUNSTREAM_KAFKA_COMPRESSION`` | ``zstd``, ``lz4`` or ``gzip`` records (default: none) |
| ``RUNSTREAM_AGENT_SOCKET`` | set by the run agent: the Unix socket to send metrics to |
| ``RUNSTREAM_RUN_ID`` | set by the run agent: the run this process belongs to |
| ``RUNSTREAM_PROJECT`` | project name of a standalone run (default: the script's folder) |
| ``RUNSTREAM_SPOOL_DIR`` | where unsent events wait (default ``~/.runstream/spool``) |
| ``RUNSTREAM_STRICT`` | ``1``: a value that cannot be logged raises TypeError, not a warning |
| ``RUNSTREAM_EXIT_PATIENCE`` | seconds a script or ``submit`` waits at the end for a down server |
| ``RUNSTREAM_LEASE`` | seconds between signs of life of a run (default 30; 0: never expired) |
| ``RUNSTREAM_SYSTEM_METRICS`` | ``0``: the run agent samples no ``sys/…`` series (default ``1``) |
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from runstream.client import DEFAULT_URL
from runstream.heartbeat import DEFAULT_LEASE

# Set by the run agent for the script: the `--param` values, a JSON object of strings.
SUBMITTED_PARAMS = "RUNSTREAM_SUBMITTED_PARAMS"

__all__ = ["SUBMITTED_PARAMS", "SdkSettings", "default_spool_dir", "project_name",
           "submitted_params"]


def default_spool_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    configured = env.get("RUNSTREAM_SPOOL_DIR")
    return Path(configured) if configured else Path.home() / ".runstream" / "spool"


def project_name(folder: Path) -> str:
    """A project name fit for a run id (``<project>_<epoch ms>_<suffix>``) from a folder name."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", folder.resolve().name).strip("-.")
    return name or "default"


@dataclass(frozen=True)
class SdkSettings:
    url: str
    spool_dir: Path
    kafka: str = ""  # a broker: events go to Kafka (blobs still to ``url``)
    kafka_topic: str = ""  # "" = the default topic
    kafka_compression: str = ""  # "" = none
    agent_socket: str = ""
    run_id: str = ""
    project: str = ""
    strict: bool = False
    exit_patience: float = 3.0
    lease: float = DEFAULT_LEASE  # promised in run.started; the heartbeat keeps it
    token: str = field(default="", repr=False)  # sent to ``url``; never printed
    # The run agent samples the script's CPU, memory, disk, network and GPUs (sys/… series).
    system_metrics: bool = True
    # The parameters given at submission (``runstream submit --param``), fixed for the
    # script's logger too: the agent passes them as a JSON object of strings.
    submitted_params: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SdkSettings:
        env = os.environ if env is None else env
        return cls(
            url=(env.get("RUNSTREAM_URL") or DEFAULT_URL).rstrip("/"),
            spool_dir=default_spool_dir(env),
            kafka=env.get("RUNSTREAM_KAFKA", "").strip(),
            kafka_topic=env.get("RUNSTREAM_KAFKA_TOPIC", "").strip(),
            kafka_compression=env.get("RUNSTREAM_KAFKA_COMPRESSION", "").strip().lower(),
            agent_socket=env.get("RUNSTREAM_AGENT_SOCKET", ""),
            run_id=env.get("RUNSTREAM_RUN_ID", ""),
            project=env.get("RUNSTREAM_PROJECT", ""),
            strict=env.get("RUNSTREAM_STRICT", "") not in ("", "0", "false", "no"),
            exit_patience=float(env.get("RUNSTREAM_EXIT_PATIENCE", "3")),
            lease=_lease(env.get("RUNSTREAM_LEASE", "")),
            token=env.get("RUNSTREAM_TOKEN", ""),
            system_metrics=_switch("RUNSTREAM_SYSTEM_METRICS",
                                   env.get("RUNSTREAM_SYSTEM_METRICS", "")),
            submitted_params=submitted_params(env.get(SUBMITTED_PARAMS, "")),
        )


def submitted_params(text: str) -> dict[str, str]:
    """The parameters the run agent says were given at submission (``{}`` if none, or if
    ``text`` is not a JSON object of strings: then the view alone keeps them fixed)."""
    try:
        given = json.loads(text or "{}")
    except ValueError:
        return {}
    if not isinstance(given, dict):
        return {}
    return {k: v for k, v in given.items() if isinstance(k, str) and isinstance(v, str)}


def _switch(name: str, text: str, default: bool = True) -> bool:
    """An on/off variable: 1/true/yes/on or 0/false/no/off (empty: ``default``)."""
    word = text.strip().lower()
    if not word:
        return default
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be 1 (on) or 0 (off), not {text!r}")


def _lease(text: str) -> float:
    if not text.strip():
        return DEFAULT_LEASE
    try:
        lease = float(text)
    except ValueError:
        lease = -1.0
    if not 0 <= lease < 1e9:  # NaN fails too
        raise ValueError(f"RUNSTREAM_LEASE must be seconds >= 0 (0: no lease), not {text!r}")
    return lease
