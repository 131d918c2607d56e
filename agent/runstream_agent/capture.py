"""Capturing a child's stdout and stderr as numbered, timestamped lines.

One loop reads both pipes (so the lines of both get one numbering, in the
order they arrive), stamps each line with the time it was read, and hands
``log.lines`` batches over at most ``window`` seconds after their first line
arrived, sooner when the output pauses for ``lull`` seconds (a lone line need
not wait for company) or when a batch is full.
"""

from __future__ import annotations

import os
import selectors
import time
from collections.abc import Callable, Mapping

from runstream.events import LogLines

__all__ = ["LineCapture"]

WINDOW = 0.02
LULL = 0.005
MAX_LINES = 2_000
MAX_BYTES = 1 << 20
MAX_LINE = 64 << 10  # a longer run of bytes without a newline is cut into lines
READ_SIZE = 1 << 16


class LineCapture:
    """Reads ``pipes`` (pipe fd -> 1 for stdout, 2 for stderr) until both end.

    ``on_batch`` gets each ``LogLines``; ``echo`` (if given) gets every chunk as
    read, for showing the output live; ``on_line`` sees every line (fd, text)."""

    def __init__(self, pipes: Mapping[int, int], on_batch: Callable[[LogLines], None], *,
                 echo: Callable[[int, bytes], None] | None = None,
                 on_line: Callable[[int, str], None] | None = None,
                 window: float = WINDOW, lull: float = LULL, max_lines: int = MAX_LINES,
                 max_bytes: int = MAX_BYTES, first: int = 0) -> None:
        self.pipes = dict(pipes)
        self.next_line = first
        self._on_batch = on_batch
        self._echo = echo
        self._on_line = on_line
        self._window = window
        self._lull = lull
        self._max_lines = max_lines
        self._max_bytes = max_bytes
        self._partial = {fd: b"" for fd in self.pipes}
        self._lines: list[str] = []
        self._times: list[float] = []
        self._fds: list[int] = []
        self._bytes = 0
        self._since = 0.0  # monotonic time the oldest pending line arrived
        self._last = 0.0  # monotonic time of the last read

    def run(self) -> int:
        """Capture until every pipe is closed by the child; returns the lines captured."""
        start = self.next_line
        with selectors.DefaultSelector() as selector:
            for fd in self.pipes:
                selector.register(fd, selectors.EVENT_READ)
            open_fds = len(self.pipes)
            while open_fds:
                timeout = None
                if self._lines:
                    due = min(self._since + self._window, self._last + self._lull)
                    timeout = max(0.0, due - time.monotonic())
                for key, _mask in selector.select(timeout):
                    fd = int(key.fd)
                    if not self._read(fd):
                        selector.unregister(fd)
                        open_fds -= 1
                now = time.monotonic()
                if self._lines and (now - self._since >= self._window
                                    or now - self._last >= self._lull):
                    self.flush()
        self.flush()
        return self.next_line - start

    def _read(self, fd: int) -> bool:
        try:
            chunk = os.read(fd, READ_SIZE)
        except OSError:
            chunk = b""
        now = time.time()
        self._last = time.monotonic()
        which = self.pipes[fd]
        if not chunk:  # the end of this pipe: its last line may lack a newline
            if self._partial[fd]:
                self._add(which, self._partial[fd], now)
                self._partial[fd] = b""
            return False
        if self._echo is not None:
            self._echo(which, chunk)
        data = self._partial[fd] + chunk
        *lines, rest = data.split(b"\n")
        for line in lines:
            while len(line) > MAX_LINE:
                self._add(which, line[:MAX_LINE], now)
                line = line[MAX_LINE:]
            self._add(which, line, now)
        while len(rest) > MAX_LINE:
            self._add(which, rest[:MAX_LINE], now)
            rest = rest[MAX_LINE:]
        self._partial[fd] = rest
        return True

    def _add(self, which: int, raw: bytes, when: float) -> None:
        text = raw.decode("utf-8", errors="replace")
        if text.endswith("\r"):
            text = text[:-1]
        if not self._lines:
            self._since = time.monotonic()
        self._lines.append(text)
        self._times.append(when)
        self._fds.append(which)
        self._bytes += len(raw)
        if self._on_line is not None:
            self._on_line(which, text)
        if len(self._lines) >= self._max_lines or self._bytes >= self._max_bytes:
            self.flush()

    def flush(self) -> None:
        """Hand over the pending lines now."""
        if not self._lines:
            return
        batch = LogLines(first=self.next_line, lines=self._lines, times=self._times,
                         fds=self._fds)
        self.next_line += len(self._lines)
        self._lines, self._times, self._fds, self._bytes = [], [], [], 0
        self._on_batch(batch)
