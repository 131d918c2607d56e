"""Submitting a run: reserve its id, snapshot the project, then run it here or detached.

Everything that must reflect the project *as submitted* happens before
``submit`` returns: the snapshot archive (stashed in the run's spool for
upload) and the working copy the script will run in.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import msgspec

from runstream.events import MAX_NAME_CHARS, MAX_PARAM_CHARS, MAX_TAG_CHARS
from runstream.settings import SdkSettings, project_name
from runstream.spool import Spool
from runstream.standalone import create_run_spool
from runstream.values import BadValue, check_text
from runstream_agent.agent import RunSpec
from runstream_agent.snapshot import take_snapshot
from runstream_agent.targets import load_target

__all__ = ["SPEC_FILE", "SubmitError", "agent_log_dir", "launch_detached", "pairs", "prepare"]

SPEC_FILE = "agent.json"


class SubmitError(ValueError):
    pass


def pairs(option: str, items: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``KEY=VALUE`` items of ``--param``/``--tag`` (``option``) as a dict, checked as
    the SDK checks them; SubmitError says which item is wrong and how."""
    what, limit = ("parameter", MAX_PARAM_CHARS) if option == "--param" else \
        ("tag", MAX_TAG_CHARS)
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SubmitError(f"{option} {item!r}: give it as KEY=VALUE, e.g. {option} "
                              "lr=0.01")
        try:
            key, value = check_text(what, key, value, limit)
        except BadValue as exc:
            raise SubmitError(f"{option} {item[:60]!r}: {exc}") from None
        if what == "parameter" and out.get(key, value) != value:
            raise SubmitError(f"{option} {key}: given twice, as {out[key]!r} and {value!r}; "
                              "a parameter has one value")
        out[key] = value
    return out


def prepare(project_dir: Path, script: str, args: list[str], target_name: str,
            settings: SdkSettings, *, name: str = "", params: dict[str, str] | None = None,
            tags: dict[str, str] | None = None, mlflow: bool = False,
            system_metrics: bool = True) -> tuple[RunSpec, Spool]:
    """Check the submission, reserve a run id and take the snapshot.

    ``name``, ``params`` and ``tags`` are the run's name and those given at
    submission (see :func:`pairs`); ``mlflow`` points the script's MLflow client at
    the run (:mod:`runstream_agent.mlflow_env`); ``system_metrics`` has the agent
    sample the script's process tree (:mod:`runstream_agent.system`). Returns the
    run's spec and its (locked) spool, which holds the snapshot."""
    if len(name) > MAX_NAME_CHARS or "\x00" in name:
        raise SubmitError(f"--name: a run name is at most {MAX_NAME_CHARS} characters "
                          f"without NUL, not {len(name):,}; choose a shorter one")
    project_dir = project_dir.resolve()
    target = load_target(project_dir, target_name)
    script_path = (project_dir / script).resolve()
    if not script_path.is_file():
        raise SubmitError(f"no script {script!r} in {project_dir}")
    if project_dir not in script_path.parents:
        raise SubmitError(f"the script {script} is outside the project folder {project_dir}; "
                          "run `runstream submit` from the project folder")
    project = settings.project or project_name(project_dir)
    run_id, spool = create_run_spool(settings.spool_dir, project)
    workdir = Path(tempfile.mkdtemp(prefix=f"runstream-{run_id}-"))
    try:
        archive = spool.path / "snapshot.tar.gz"
        snapshot = take_snapshot(project_dir, archive, workdir)
        spool.stash_blob(archive, snapshot.sha256, move=True)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(spool.path, ignore_errors=True)
        spool.close()
        raise
    spec = RunSpec(
        run_id=run_id, project=project, script=script_path.relative_to(project_dir).as_posix(),
        args=list(args), target=target.name, python=target.python, env=target.env,
        workdir=str(workdir), url=settings.url,
        kafka=target.kafka if target.kafka is not None else settings.kafka,
        kafka_topic=target.topic if target.topic is not None else settings.kafka_topic,
        snapshot=snapshot.sha256, user=_user(), host=socket.gethostname(),
        lease=settings.lease, name=name, params=dict(params or {}), tags=dict(tags or {}),
        mlflow=mlflow, system_metrics=system_metrics)
    return spec, spool


def agent_log_dir(settings: SdkSettings) -> Path:
    """Where detached agents write what they print (inside the spool folder, which
    ``runstream sync`` only reads in subfolders that hold a stream)."""
    return settings.spool_dir / ".agents"


def launch_detached(spec: RunSpec, spool: Spool, log_dir: Path) -> Path:
    """Start the agent as a background process that outlives this one; returns its log.

    The spool's lock descriptor is inherited, so the stream never goes unlocked
    between this process and the agent (``runstream sync`` cannot take it)."""
    (spool.path / SPEC_FILE).write_bytes(msgspec.json.encode(spec))
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{spec.run_id}.log"
    with log.open("ab") as out:
        subprocess.Popen(
            [sys.executable, "-m", "runstream_agent.detached", str(spool.path),
             str(spool.lock_fd)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            pass_fds=(spool.lock_fd,), start_new_session=True, env=os.environ.copy())
    return log


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
