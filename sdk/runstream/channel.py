"""The channel between a script's SDK and its run agent: a local Unix socket.

The agent listens at ``RUNSTREAM_AGENT_SOCKET``. Frames are a big-endian u32
length and one MessagePack message:

- ``Emit`` (SDK → agent): one encoded payload (``metrics.logged``) to append to
  the run's stream. The agent validates it; the SDK never assigns seq.
- ``Sync`` (SDK → agent): answer with ``Ack`` of the same token once everything
  emitted before it is spooled on disk (``stored=False``) or acknowledged by
  the server (``stored=True``).
- ``Ack`` (agent → SDK): ``ok=False`` with ``error`` when that did not happen;
  token 0 carries an unsolicited error (a refused ``Emit``).
- ``Lost`` (SDK → agent, at close): ``points`` the SDK's logger could not hand
  over, ``reason`` the first failure; the agent then ends the run failed.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import struct
import sys
import threading
from collections.abc import Callable
from typing import BinaryIO

import msgspec

__all__ = ["Ack", "AgentChannel", "Emit", "Lost", "Message", "Sync", "read_message",
           "write_message"]

_LENGTH = struct.Struct(">I")
MAX_FRAME = 64 << 20


class Emit(msgspec.Struct, tag="emit", tag_field="op", array_like=True):
    type: str
    v: int
    data: bytes
    ts: float


class Sync(msgspec.Struct, tag="sync", tag_field="op", array_like=True):
    token: int
    stored: bool


class Ack(msgspec.Struct, tag="ack", tag_field="op", array_like=True):
    token: int
    ok: bool = True
    error: str = ""


class Lost(msgspec.Struct, tag="lost", tag_field="op", array_like=True):
    points: int
    reason: str


Message = Emit | Sync | Ack | Lost

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Message)


def write_message(sock: socket.socket, message: Message) -> None:
    body = _encoder.encode(message)
    sock.sendall(_LENGTH.pack(len(body)) + body)


def read_message(stream: BinaryIO) -> Message | None:
    """The next message, or None at the end of the stream. Raises ValueError on garbage."""
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(header)
    if length > MAX_FRAME:
        raise ValueError(f"a channel frame of {length} bytes is too large")
    body = stream.read(length)
    if len(body) < length:
        return None
    try:
        message: Message = _decoder.decode(body)
        return message
    except msgspec.DecodeError as exc:
        raise ValueError(f"not a channel message: {exc}") from None


class AgentChannel:
    """The SDK's end of the channel (an :class:`~runstream.logger.Outlet`)."""

    def __init__(self, sock: socket.socket, run_id: str) -> None:
        self.run_id = run_id
        self._sock = sock
        self._send_lock = threading.Lock()
        self._tokens = itertools.count(1)
        self._waiters: dict[int, Callable[[bool], None]] = {}
        self._waiters_lock = threading.Lock()
        self._broken = ""
        self._reader = threading.Thread(target=self._read, name="runstream-channel", daemon=True)
        self._reader.start()

    @classmethod
    def connect(cls, path: str, run_id: str, timeout: float = 5.0) -> AgentChannel:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except OSError:
            sock.close()
            raise
        sock.settimeout(None)
        return cls(sock, run_id)

    def emit(self, type_: str, v: int, data: bytes, ts: float) -> None:
        self._send(Emit(type_, v, data, ts))

    def when_stored(self, done: Callable[[bool], None]) -> None:
        self._sync(done, stored=True)

    def close(self, lost: int = 0, reason: str = "", *, timeout: float = 30.0) -> None:
        """Tell the agent about ``lost`` points (it ends the run failed), wait until
        it has spooled everything sent, then hang up."""
        if lost:
            with contextlib.suppress(OSError):  # a broken channel: the agent counts its own
                self._send(Lost(lost, reason))
        spooled = threading.Event()
        self._sync(lambda ok: spooled.set(), stored=False)
        spooled.wait(timeout)
        with contextlib.suppress(OSError):  # the agent may have hung up first
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()

    def _sync(self, done: Callable[[bool], None], *, stored: bool) -> None:
        token = next(self._tokens)
        with self._waiters_lock:
            self._waiters[token] = done
        try:
            self._send(Sync(token, stored))
        except OSError:
            self._fail_waiters()

    def _send(self, message: Message) -> None:
        if self._broken:
            raise ConnectionError(self._broken)
        try:
            with self._send_lock:
                write_message(self._sock, message)
        except OSError as exc:
            self._broken = f"the run agent's channel broke ({exc})"
            raise

    def _read(self) -> None:
        reader = self._sock.makefile("rb")
        try:
            while (message := read_message(reader)) is not None:
                if not isinstance(message, Ack):
                    continue
                if message.error:
                    print(f"runstream: the run agent says: {message.error}", file=sys.stderr,
                          flush=True)
                with self._waiters_lock:
                    done = self._waiters.pop(message.token, None)
                if done is not None:
                    done(message.ok)
        except (OSError, ValueError) as exc:
            self._broken = self._broken or f"the run agent's channel broke ({exc})"
        finally:
            reader.close()
            self._broken = self._broken or "the run agent closed the channel"
            self._fail_waiters()

    def _fail_waiters(self) -> None:
        with self._waiters_lock:
            waiters, self._waiters = list(self._waiters.values()), {}
        for done in waiters:
            done(False)
