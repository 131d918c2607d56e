"""The agent's end of the SDK channel (see :mod:`runstream.channel`).

A Unix socket in a private folder; the script (and any process it starts) may
connect. Each connection has a thread that validates what the SDK emits and
appends it to the run's stream, so SDK events and printed lines share one seq
order; ``Sync`` is answered once the events are spooled, or stored. Points the
spool cannot keep (a full disk), and those the SDK says it lost (``Lost``), are
counted in ``losses``: the agent then ends the run failed, saying how many.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from runstream.channel import Ack, Emit, Lost, Message, Sync, read_message, write_message
from runstream.codec import EventError, UnknownEvent, decode_data
from runstream.events import MetricsLogged, ParamsLogged, RunRenamed, TagsDeleted, TagsSet
from runstream.shipper import Shipper
from runstream.writer import Losses, StreamWriter

__all__ = ["ChannelServer"]

# What a script may add to its run's stream; the agent writes everything else.
ACCEPTED = frozenset({MetricsLogged.TYPE, ParamsLogged.TYPE, TagsSet.TYPE, TagsDeleted.TYPE,
                      RunRenamed.TYPE})


class ChannelServer:
    def __init__(self, path: Path, writer: StreamWriter, shipper: Shipper,
                 losses: Losses | None = None) -> None:
        self.path = path
        self.emitted = 0  # events appended from the SDK
        self.losses = losses or Losses()
        self._writer = writer
        self._shipper = shipper
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(path))
        self._listener.listen(16)
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._acceptor = threading.Thread(target=self._accept, name="runstream-channel",
                                          daemon=True)

    def start(self) -> ChannelServer:
        self._acceptor.start()
        return self

    def finish(self, grace: float = 5.0) -> None:
        """Stop accepting, let connections drain (up to ``grace`` seconds), close them.

        Called once the script exited: its connections end when the kernel has
        delivered what it wrote, unless a process it started still holds one."""
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._acceptor.join(1.0)
        deadline = time.monotonic() + grace
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(1.0)
        self.path.unlink(missing_ok=True)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # finish() closed the listener
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True,
                                      name="runstream-channel-conn")
            with self._lock:
                self._conns.append(conn)
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        send_lock = threading.Lock()

        def reply(message: Message) -> None:
            with send_lock, contextlib.suppress(OSError):  # the script may be gone
                write_message(conn, message)

        reader = conn.makefile("rb")
        told: set[str] = set()  # each distinct problem is told to the script once
        try:
            while (message := read_message(reader)) is not None:
                if isinstance(message, Emit):
                    error = self._append(message)
                    if error and error not in told:
                        told.add(error)
                        reply(Ack(0, False, error))
                elif isinstance(message, Lost):
                    self.losses.lost(message.reason, points=max(0, message.points))
                elif isinstance(message, Sync):
                    if message.stored:
                        self._shipper.when_acked(self._writer.last_seq,
                                                 _acker(reply, message.token))
                    else:  # appends are fsync'd before they return: spooled already
                        reply(Ack(message.token, True))
        except (OSError, ValueError):
            pass  # a broken or garbled connection ends; what it sent before stays
        finally:
            reader.close()
            conn.close()

    def _append(self, message: Emit) -> str:
        if message.type not in ACCEPTED:
            return (f"the agent does not accept {message.type!r} events from a script "
                    f"(only {', '.join(sorted(ACCEPTED))}); it was dropped")
        try:
            payload = decode_data(message.type, message.v, message.data)
        except UnknownEvent:
            payload = None  # a newer SDK's version: kept as it came, like the server does
        except EventError as exc:
            return f"a {message.type} event was dropped: {exc}"
        points = len(payload.index) if isinstance(payload, MetricsLogged) else 0
        try:
            self._writer.append_encoded([(message.type, message.v, message.data, message.ts)])
        except OSError as exc:  # a full disk: count exactly, the run will end failed
            # A parameters/tags/name event lost counts as one: the run must end failed.
            self.losses.lost(f"{exc}", points=max(points, 1))
            return (f"the run agent could not keep points in its spool ({exc}); they are "
                    "counted and the run will end failed")
        self.emitted += 1
        self.losses.kept(points)
        return ""


def _acker(reply: Callable[[Message], None], token: int) -> Callable[[bool], None]:
    def acked(ok: bool) -> None:
        reply(Ack(token, ok))

    return acked
