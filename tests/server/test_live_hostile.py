"""The live feed against hostile clients: one that never reads, bad subscribe messages,
resume positions that do not exist, random and mutated protocol input."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from runstream.codec import encode_batch
from runstream.events import INT64_MAX
from runstream_server.api import live as live_api
from runstream_server.live import MAX_TOPICS
from tests.conftest import ServerProcess
from tests.server.api import ClientFactory, make_app, post
from tests.server.history import RunWriter, finished_run

CLOSE = 0x8


class RawSocket:
    """A websocket client on a bare, blocking socket: it reads only when told to, so it
    can fall behind as far as a test wants (or never read at all)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect
        self.sock.settimeout(30)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET /api/ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        self.rest = b""

    def send_text(self, text: str) -> None:
        data, mask = text.encode(), os.urandom(4)
        length = (bytes([0x80 | len(data)]) if len(data) < 126
                  else bytes([0x80 | 126]) + struct.pack("!H", len(data)))
        self.sock.sendall(bytes([0x81]) + length + mask
                          + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _take(self, n: int) -> bytes:
        while len(self.rest) < n:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise EOFError
            self.rest += chunk
        out, self.rest = self.rest[:n], self.rest[n:]
        return out

    def frames(self) -> Iterator[tuple[int, bytes]]:
        """(opcode, payload) of each frame until the server's close frame or the end."""
        while True:
            try:
                b0, b1 = self._take(2)
                n = b1 & 0x7F
                if n == 126:
                    n = struct.unpack("!H", self._take(2))[0]
                elif n == 127:
                    n = struct.unpack("!Q", self._take(8))[0]
                op, payload = b0 & 0x0F, self._take(n)
            except (EOFError, ConnectionResetError):
                return
            yield op, payload
            if op == CLOSE:
                return


def rss_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no VmRSS")


def test_a_client_that_never_reads_is_dropped_and_the_server_stays_small(
        server: ServerProcess) -> None:
    assert server.proc is not None
    client = server.client()
    w = RunWriter("noisy")
    w.submitted()
    w.started()
    client.post_events(encode_batch(w.events))
    stuck = RawSocket(server.port)
    stuck.send_text(json.dumps({"subscribe": "log/noisy", "after": 0}))
    line = "x" * 999
    warm = 0
    for i in range(100):  # 200 MB of printed lines, 2 MB a request
        w.events.clear()
        w.lines(*[line] * 1000)
        w.lines(*[line] * 1000)
        client.post_events(encode_batch(w.events))
        if i == 9:
            warm = rss_mb(server.proc.pid)
    end = rss_mb(server.proc.pid)
    # One client may hold its buffer (16 MiB by default), not what it failed to read.
    assert end < 400 and end - warm < 150, f"server RSS {warm} MB -> {end} MB"
    # Dropped: the server ends the connection (with close code 4000, or cut after the
    # grace when the client takes not even that).
    ops = [op for op, _ in stuck.frames()]
    assert ops, "the connection was closed without a frame"
    assert "dropped a websocket client" in server.log.read_text()


def test_a_client_that_never_reads_does_not_hold_up_stopping_the_server(
        tmp_path: Path) -> None:
    # A buffer it never fills: the client is not dropped, it just does not read.
    server = ServerProcess(tmp_path / "server", env={"RUNSTREAM_CLIENT_BUFFER": str(1 << 30)})
    server.start()
    w = RunWriter("noisy")
    w.submitted()
    for _ in range(10):
        w.lines(*["x" * 999] * 1000)
    server.client().post_events(encode_batch(w.events))
    stuck = RawSocket(server.port)
    stuck.send_text(json.dumps({"subscribe": "log/noisy", "after": 0}))
    time.sleep(0.5)  # the backlog fills the socket's buffers
    started = time.monotonic()
    server.stop()
    assert server.proc is not None and server.proc.returncode == 0  # not killed after 10 s
    assert time.monotonic() - started < 8


def close_code(payload: bytes) -> tuple[int, str]:
    return struct.unpack("!H", payload[:2])[0], payload[2:].decode()


async def test_a_client_too_far_behind_is_closed_with_4000_and_resumes_without_gap(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_api, "CLOSE_GRACE", 60.0)  # the close frame waits for us
    client = await aiohttp_client(make_app(engine, tmp_path, client_buffer=64 << 10))
    assert client.server.port is not None
    w = RunWriter("iris_1")
    w.submitted()
    w.started()
    await post(client, w.events)
    slow = await asyncio.to_thread(RawSocket, client.server.port)
    await asyncio.to_thread(slow.send_text, json.dumps({"subscribe": "log/iris_1", "after": 0}))
    for _ in range(60):  # ~12 MB: more than the kernel's socket buffers and 64 KiB
        w.events.clear()
        w.lines(*["y" * 2000] * 100)
        await post(client, w.events)
    logged = [2 + k for k in range(60)]  # positions of the log.lines events

    def read_all() -> list[tuple[int, bytes]]:
        return list(slow.frames())

    frames = await asyncio.to_thread(read_all)
    assert frames[-1][0] == CLOSE
    code, reason = close_code(frames[-1][1])
    assert code == 4000 and "resume from your last position" in reason
    seen = [e["position"] for op, data in frames[:-1] if op == 1
            for e in json.loads(data)["events"]]
    assert seen and len(seen) < len(logged)
    ws = await client.ws_connect("/api/ws")
    await ws.send_json({"subscribe": "log/iris_1", "after": seen[-1]})
    async with asyncio.timeout(20):
        while True:
            got = json.loads((await ws.receive()).data)
            seen.extend(e["position"] for e in got["events"])
            if got.get("live"):
                break
    assert seen == [p + 1 for p in logged]  # positions 1.. are submitted, started
    await ws.close()


BAD = [
    ('{"subscribe": "jobs", "after": 1e400}', "after"),
    ('{"subscribe": "jobs", "after": 1180591620717411303424}', "after"),  # 2**70
    ('{"subscribe": "jobs", "after": -1}', "after"),
    ('{"subscribe": "jobs", "after": "5"}', "after"),
    ('{"subscribe": "jobs", "after": 2.5}', "after"),
    ('{"subscribe": "weather", "after": 0}', "subscribe"),
    ('{"subscribe": 7}', "subscribe"),
    ('{"subscribe": "jobs", "afterr": 3}', "afterr"),
    ("{}", "subscribe"),
    ("{not json", None),
    ("[1, 2]", None),
]


@pytest.mark.parametrize(("text", "field"), BAD, ids=[t for t, _ in BAD])
async def test_a_bad_subscribe_is_an_error_frame_naming_the_field_and_the_socket_stays_usable(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory, text: str,
        field: str | None) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    await post(client, finished_run("iris_1"))
    ws = await client.ws_connect("/api/ws")
    await ws.send_str(text)
    reply = json.loads((await ws.receive()).data)
    assert reply.get("field") == field and reply["error"]
    if field is not None:
        assert field in reply["error"]
    await ws.send_json({"subscribe": "jobs", "after": 0})
    got = json.loads((await ws.receive()).data)
    assert got["events"][0]["type"] == "run.submitted"
    await ws.close()


async def test_a_resume_position_past_the_end_is_an_error_not_a_silent_skip(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    await post(client, finished_run("iris_1"))  # positions 1..5
    ws = await client.ws_connect("/api/ws")
    await ws.send_json({"subscribe": "jobs", "after": 9})
    reply = json.loads((await ws.receive()).data)
    assert reply["field"] == "after" and reply["position"] == 5
    assert "past the end" in reply["error"]
    await ws.send_json({"subscribe": "jobs", "after": 5})
    assert json.loads((await ws.receive()).data)["live"] is True
    await post(client, finished_run("iris_2"))  # positions 6..8 (of jobs' types)
    got = json.loads((await ws.receive()).data)
    assert got["events"][0]["position"] == 6
    await ws.close()


async def test_one_connection_follows_a_bounded_number_of_topics(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    ws = await client.ws_connect("/api/ws")
    for i in range(MAX_TOPICS):
        await ws.send_json({"subscribe": f"run/r{i}", "after": 0})
        assert json.loads((await ws.receive()).data)["live"] is True
    await ws.send_json({"subscribe": "run/one-too-many", "after": 0})
    reply = json.loads((await ws.receive()).data)
    assert reply["field"] == "subscribe" and str(MAX_TOPICS) in reply["error"]
    await ws.send_json({"unsubscribe": "run/r0"})
    await ws.send_json({"subscribe": "run/one-too-many", "after": 0})
    assert json.loads((await ws.receive()).data)["live"] is True
    await ws.close()


# -- property: random and mutated messages ----------------------------------------------

TOPICS = st.one_of(
    st.sampled_from(["jobs", "all", "run/iris_1", "log/iris_1", "model/m", "run/", "log/",
                     "weather", "/x", "x" * 301, "run/" + "y" * 300]),
    st.text(max_size=12),
    st.builds(lambda kind, name: f"{kind}/{name}",
              st.sampled_from(["run", "log", "model", "review", "x"]), st.text(max_size=8)))
VALUES = st.one_of(
    st.integers(-3, 8), st.integers(-(2 ** 70), 2 ** 70),
    st.sampled_from([INT64_MAX, INT64_MAX + 1, 2 ** 64]),
    st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none(),
    st.text(max_size=4), st.lists(st.integers(0, 3), max_size=2))
MESSAGES = st.fixed_dictionaries({}, optional={
    "subscribe": st.one_of(TOPICS, VALUES), "unsubscribe": st.one_of(TOPICS, VALUES),
    "after": VALUES, "x": VALUES})


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A message's JSON with a few characters replaced, inserted or cut."""
    text = json.dumps(draw(MESSAGES))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        piece = draw(st.sampled_from([*'{}[]":,-.e0123456789 \\x', "\x00", "é", ""]))
        cut = draw(st.integers(0, 2))
        text = text[:at] + piece + text[at + cut:]
    return text


WIRE = st.one_of(
    MESSAGES.map(lambda m: ("json", m)),
    mutated().map(lambda t: ("text", t)),
    st.binary(max_size=40).map(lambda b: ("binary", b)))


def known_topic(topic: str) -> bool:
    kind, _, name = topic.partition("/")
    return topic in ("jobs", "all") or (bool(name) and kind in ("run", "log", "model"))


def expected(message: dict[str, Any], head: int) -> str:
    """What the protocol promises for a message: "error", "live" (a subscription) or
    "none" (an unsubscribe), written independently of the server's code."""
    if set(message) - {"subscribe", "unsubscribe", "after"}:
        return "error"
    sub, unsub = message.get("subscribe"), message.get("unsubscribe")
    if (sub is None) == (unsub is None):
        return "error"
    if any(v is not None and not (isinstance(v, str) and 1 <= len(v) <= 300)
           for v in (sub, unsub)):
        return "error"
    after = message.get("after", 0)
    if type(after) is not int or not 0 <= after <= INT64_MAX:
        return "error"
    if unsub is not None:
        return "none"
    return "live" if known_topic(sub) and after <= head else "error"


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(WIRE, min_size=1, max_size=8))
def test_random_and_mutated_messages_never_break_the_feed_or_change_the_store(
        populated: ServerProcess, wire: list[tuple[str, Any]]) -> None:
    from websockets.sync.client import connect

    client = populated.client()
    before = client.get_json("/api")["position"], client.get_json("/api/runs")
    with connect(populated.url.replace("http", "ws") + "/api/ws", max_size=None) as ws:
        for kind, message in wire:
            if kind == "binary":
                ws.send(message)
            else:
                ws.send(json.dumps(message) if kind == "json" else message)
            # A marker subscription after each message: every reply to the message comes
            # before the marker's live frame.
            marker = f"run/marker-{uuid.uuid4().hex}"
            ws.send(json.dumps({"subscribe": marker, "after": 0}))
            replies: list[dict[str, Any]] = []
            while True:
                frame = json.loads(ws.recv(timeout=20))
                if frame.get("topic") == marker and frame.get("live"):
                    break
                assert isinstance(frame.get("error"), str) or "events" in frame, frame
                replies.append(frame)
            ws.send(json.dumps({"unsubscribe": marker}))
            if kind == "json":
                want = expected(message, before[0])
                if want == "error":
                    assert len(replies) == 1 and "error" in replies[0], (message, replies)
                elif want == "none":
                    assert replies == [], (message, replies)
                else:
                    assert all("error" not in r for r in replies), (message, replies)
                    assert replies[-1]["live"] is True, (message, replies)
                    assert replies[-1]["topic"] == message["subscribe"]
    after = client.get_json("/api")["position"], client.get_json("/api/runs")
    assert after == before


@pytest.fixture
def populated(server: ServerProcess) -> ServerProcess:
    server.client().post_events(encode_batch(finished_run("iris_1")))
    return server
