"""How a run ended: status, exit code and a one-line reason, from what the agent saw."""

from __future__ import annotations

import signal
from dataclasses import dataclass

from runstream.events import RunStatus

__all__ = ["Outcome", "TracebackWatch", "decide"]

_TRACEBACK = "Traceback (most recent call last):"


@dataclass(frozen=True)
class Outcome:
    status: RunStatus
    exit_code: int | None
    reason: str = ""

    @property
    def cli_exit_code(self) -> int:
        """What ``runstream submit`` exits with: the run's own code, 130 when canceled."""
        if self.status == "completed":
            return 0
        if self.status == "canceled":
            return 130
        return self.exit_code if self.exit_code and self.exit_code > 0 else 1


class TracebackWatch:
    """Remembers the exception line of the last Python traceback printed on stderr."""

    def __init__(self) -> None:
        self.last_error = ""
        self._inside = False

    def feed(self, fd: int, line: str) -> None:
        if fd != 2:
            return
        if line.startswith(_TRACEBACK):
            self._inside = True
        elif self._inside and line and not line[0].isspace():
            self.last_error = line.strip()
            self._inside = False


def decide(returncode: int, *, canceled: bool, watch: TracebackWatch) -> Outcome:
    if canceled:
        return Outcome("canceled", returncode, "canceled by the user")
    if returncode == 0:
        return Outcome("completed", 0)
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return Outcome("failed", returncode, f"killed by signal {name}")
    return Outcome("failed", returncode, watch.last_error or f"exit code {returncode}")
