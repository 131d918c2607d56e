"""The process's session: the one logger ``get_logger()`` returns, made on first use.

Like ``logging.getLogger()``'s root logger, a script's metrics go to one
process-wide logger. Its state lives in one explicit object, :data:`SESSION`,
rather than in module lists: the settings are read once (``RUNSTREAM_*``), when
the logger is first asked for, and a test can :meth:`Session.reset` it.
"""

from __future__ import annotations

import atexit
import sys
import threading
from collections.abc import Callable

from runstream.logger import Logger, Outlet
from runstream.settings import SdkSettings

__all__ = ["SESSION", "Session", "get_logger", "open_outlet"]

# Set by the run agent: the parameters given to `runstream submit --param` (a JSON
# object), so the script's logger keeps them fixed too.
SUBMITTED_PARAMS = "RUNSTREAM_SUBMITTED_PARAMS"


class Session:
    """Makes the process's logger on first use, from ``settings()`` and ``argv()``;
    its ``close`` runs at interpreter exit (completing a standalone run)."""

    def __init__(self, settings: Callable[[], SdkSettings] = SdkSettings.from_env,
                 argv: Callable[[], list[str]] = lambda: sys.argv) -> None:
        self._settings = settings
        self._argv = argv
        self._lock = threading.Lock()
        self._logger: Logger | None = None

    def logger(self) -> Logger:
        with self._lock:
            if self._logger is None:
                settings = self._settings()
                logger = Logger(open_outlet(settings, self._argv()), strict=settings.strict,
                                params=dict(settings.submitted_params))
                atexit.register(logger.close)
                self._logger = logger
            return self._logger

    def reset(self) -> None:
        """Close the logger (if one was made) and forget it: the next :meth:`logger`
        makes a new one. For tests; a script has one logger for its whole life."""
        with self._lock:
            logger, self._logger = self._logger, None
        if logger is not None:
            atexit.unregister(logger.close)
            logger.close()


SESSION = Session()  # the process's one session: all of get_logger()'s state


def get_logger() -> Logger:
    """The process's logger, created on first use from ``RUNSTREAM_*`` variables.

    Under ``runstream submit`` it sends to the run agent; run on its own
    (``python script.py``) it creates a run, sends to ``RUNSTREAM_URL`` (or, when
    ``RUNSTREAM_KAFKA=host:port`` is set, to that broker's ``RUNSTREAM_KAFKA_TOPIC``,
    files still to ``RUNSTREAM_URL``), keeps what cannot be sent in a spool for
    ``runstream sync``, and completes the run at exit (failed if an exception
    ended the script)."""
    return SESSION.logger()


def open_outlet(settings: SdkSettings, argv: list[str]) -> Outlet:
    """The agent's channel when ``settings`` name its socket, else a standalone run of
    the script ``argv`` names; an outlet that records nothing (saying why) if neither
    can be opened."""
    if settings.agent_socket:
        from runstream.channel import AgentChannel

        try:
            return AgentChannel.connect(settings.agent_socket, settings.run_id)
        except OSError as exc:
            return _Unrecorded(settings.run_id, f"cannot reach the run agent at "
                                                f"{settings.agent_socket} ({exc})")
    from runstream.standalone import StandaloneRun

    try:
        return StandaloneRun.start(settings, argv)
    except OSError as exc:
        return _Unrecorded("", f"cannot create a spool in {settings.spool_dir} ({exc}); "
                               "set RUNSTREAM_SPOOL_DIR to a writable folder")


class _Unrecorded:
    """The outlet when none could be opened: drops points, says so once."""

    def __init__(self, run_id: str, reason: str) -> None:
        self.run_id = run_id
        print(f"runstream: {reason}; metrics of this process are not recorded",
              file=sys.stderr, flush=True)

    def emit(self, type_: str, v: int, data: bytes, ts: float) -> None:
        return None

    def when_stored(self, done: Callable[[bool], None]) -> None:
        done(False)

    def close(self, lost: int = 0, reason: str = "") -> None:
        return None
