"""Runs whose writer died: the script must not outlive its agent, and the run must end.

Three pieces, used by the agent and by ``runstream sync``:

- :func:`guarded_command` starts the script through a tiny wrapper that asks
  Linux to SIGKILL it when the agent dies (``PR_SET_PDEATHSIG``; it survives
  the ``exec`` into the script), so a SIGKILLed or OOM-killed agent leaves no
  script running unwatched.
- :func:`record_script` notes in the spool which process group the script
  leads, with what proves it is the same one later (boot id, pid namespace, the
  run id in its environment); :func:`stop_leftovers` kills what is left of it
  (children the script started live on after it, in its group).
- :func:`end_orphan`: a spool that is unfinished and unlocked has no writer
  any more (the flock proves it), so whoever opened it may become the writer
  and end the run as failed, "agent lost".

A spool may also be *watched* by a process that does not write it: the host
side of a docker target holds :data:`WATCH_FILE` while it starts and waits for
the container whose agent writes the spool. Nobody takes such a spool over.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import sys
import time
from pathlib import Path

import msgspec

from runstream.codec import EventError, decode_batch, decode_payload, join_encoded
from runstream.events import RunCompleted
from runstream.spool import Spool
from runstream.writer import StreamWriter
from runstream_agent.outcome import Outcome

__all__ = ["LOST", "SCRIPT_FILE", "WATCH_FILE", "LaunchGate", "ScriptRecord", "end_orphan",
           "guarded_command", "hold_watch", "is_watched", "last_completed", "record_script",
           "stop_leftovers"]

SCRIPT_FILE = "script.json"
WATCH_FILE = "watch"
LOST = "agent lost"

# Run by the target's Python before the script: ask for SIGKILL when the agent (its
# parent) dies, check the agent did not die before that, wait at the gate if there is
# one (a byte on that descriptor opens it; its end without one, or Ctrl-C, means never),
# then become the script. No site imports: this costs about 15 ms, once per run.
_WRAPPER = (
    "import os,sys\n"
    "try:\n"
    " import ctypes;ctypes.CDLL(None).prctl(1,9)\n"  # PR_SET_PDEATHSIG, SIGKILL
    "except Exception:\n"
    " pass\n"
    "if os.getppid()!=int(sys.argv[1]):os._exit(137)\n"
    "g=int(sys.argv[2])\n"
    "if g>=0:\n"
    " try:\n"
    "  if not os.read(g,1):os._exit(137)\n"
    " except KeyboardInterrupt:\n"
    "  os._exit(130)\n"
    " os.close(g)\n"
    "os.execv(sys.executable,[sys.executable]+sys.argv[3:])\n"
)


def guarded_command(python: str, args: list[str], gate: int | None = None) -> list[str]:
    """The command that runs ``python *args`` and dies with this process (on Linux;
    elsewhere, without a gate, the command itself, and ``runstream sync`` stops what
    is left). With ``gate``, the read end of a pipe the child inherits, the script
    starts only once a byte is written to the pipe (see :class:`LaunchGate`): the
    process, and so its pid, exists before the script runs."""
    if gate is None and not sys.platform.startswith("linux"):
        return [python, *args]
    return [python, "-S", "-c", _WRAPPER, str(os.getpid()), str(-1 if gate is None else gate),
            *args]


class LaunchGate:
    """A pipe that holds the script (started by :func:`guarded_command` with
    ``gate=read_fd``) until :meth:`open`; :meth:`close` without opening stops it."""

    def __init__(self) -> None:
        self.read_fd, self._write_fd = os.pipe()
        os.set_inheritable(self.read_fd, True)

    def started(self) -> None:
        """The child has its copy of the read end: drop ours."""
        if self.read_fd >= 0:
            os.close(self.read_fd)
            self.read_fd = -1

    def open(self) -> None:
        """Let the script start (harmless when the child is gone)."""
        if self._write_fd >= 0:
            with contextlib.suppress(OSError):  # BrokenPipeError: it died waiting
                os.write(self._write_fd, b"\x01")
        self.close()

    def close(self) -> None:
        self.started()
        if self._write_fd >= 0:
            os.close(self._write_fd)
            self._write_fd = -1


# -- which process group is the script's ------------------------------------

class ScriptRecord(msgspec.Struct, frozen=True):
    pid: int  # also its process group: the agent starts it in a new session
    run_id: str  # in RUNSTREAM_RUN_ID of its environment, and its children's
    boot: str = ""  # the kernel's boot id: after a reboot nothing is left to stop
    pidns: int = 0  # the pid namespace: a container's pids mean nothing outside


def record_script(spool_dir: Path, pid: int, run_id: str) -> None:
    record = ScriptRecord(pid, run_id, _boot_id(), _pid_namespace())
    tmp = spool_dir / f".{SCRIPT_FILE}.tmp"
    tmp.write_bytes(msgspec.json.encode(record))
    os.replace(tmp, spool_dir / SCRIPT_FILE)


def stop_leftovers(spool_dir: Path, patience: float = 2.0) -> list[int]:
    """SIGKILL what is left of the recorded script's process group: only processes of
    that group, of this boot and pid namespace, whose environment names the run.
    Returns their pids (none where /proc cannot tell)."""
    try:
        record = msgspec.json.decode((spool_dir / SCRIPT_FILE).read_bytes(), type=ScriptRecord)
    except (OSError, msgspec.DecodeError):
        return []
    if not record.boot or record.boot != _boot_id() or record.pidns != _pid_namespace():
        return []
    mark = f"RUNSTREAM_RUN_ID={record.run_id}".encode()
    members = [pid for pid in _group(record.pid) if mark in _environ(pid)]
    for pid in members:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline and any(_alive(pid) for pid in members):
        time.sleep(0.02)
    return members


def _group(pgid: int) -> list[int]:
    found: list[int] = []
    if not Path("/proc/self/stat").exists():
        return found
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses.
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != b"Z":
            found.append(int(entry.name))
    return found


def _environ(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return state[state.rfind(b")") + 2:][:1] != b"Z"  # a zombie is dead, only unreaped


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _pid_namespace() -> int:
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


# -- watching a spool without writing it -----------------------------------

def hold_watch(spool_dir: Path) -> int:
    """Lock the spool's watch file (for as long as the returned descriptor is open)."""
    fd = os.open(spool_dir / WATCH_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def is_watched(spool_dir: Path) -> bool:
    """Whether a live process holds the spool's watch file."""
    try:
        fd = os.open(spool_dir / WATCH_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


# -- ending a run nobody writes --------------------------------------------

def end_orphan(spool: Spool, found_by: str) -> str:
    """Become the writer of ``spool``, an unfinished spool nobody holds: stop what is
    left of its script, end the run as failed (unless its last event already ends
    it) and mark the spool finished. Returns what was done, for the user."""
    done = []
    stopped = stop_leftovers(spool.path)
    if stopped:
        done.append(f"stopped {len(stopped)} leftover process(es) of its script "
                    f"(pid {', '.join(map(str, stopped))})")
    if spool.next_seq == 0:
        done.append("nothing of the run was recorded")
    elif last_completed(spool) is None:
        who = "its agent" if (spool.path / SCRIPT_FILE).exists() else "its agent or script"
        StreamWriter(spool).append([RunCompleted(
            status="failed", reason=f"{LOST}: {who} stopped without recording the end of the "
                                    f"run (ended by {found_by})")],
            use_reserve=True)  # the run's last event: room for it even on a full disk
        done.append("nothing was writing it any more, so it was ended as failed "
                    f"({LOST})")
    spool.mark_finished()
    return "; ".join(done)


def last_completed(spool: Spool) -> Outcome | None:
    """The ``run.completed`` the stream ends with, if its last event is still in the spool."""
    if spool.last_seq < 0:
        return None
    try:
        records = spool.read(spool.last_seq - 1, 1, 1 << 20)
    except (OSError, ValueError):
        return None
    if not records:
        return None
    try:
        payload = decode_payload(decode_batch(join_encoded([records[-1].data]))[0])
    except EventError:  # an undecodable tail says nothing about the outcome
        return None
    if isinstance(payload, RunCompleted):
        return Outcome(payload.status, payload.exit_code, payload.reason)
    return None
