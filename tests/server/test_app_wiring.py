"""The server is wired explicitly: collaborators passed to create_app are the ones used,
and the ones left out are built from the settings before the application starts."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Engine

from runstream.client import IngestReply
from runstream.events import Envelope
from runstream_server.app import create_app
from runstream_server.blobs import LocalBlobStore
from runstream_server.eventlog import EmbeddedLog, LogUnavailable, MakePayload
from runstream_server.eventstore import StoredEvent
from runstream_server.kafka.log import KafkaLog
from runstream_server.services import services_key
from runstream_server.settings import Settings
from tests.server.api import ClientFactory, post
from tests.server.history import RunWriter


class RecordingLog:
    """An event log that keeps what it is given, and stores nothing."""

    def __init__(self) -> None:
        self.accepted: list[Envelope] = []
        self.written: list[str] = []

    async def accept(self, events: Sequence[Envelope]) -> IngestReply:
        self.accepted += events
        return IngestReply(stored=len(events))

    async def write(self, stream: str, make: MakePayload) -> StoredEvent:
        self.written.append(stream)
        raise LogUnavailable("a recording log writes nothing")


async def test_the_event_log_and_blob_store_given_are_the_ones_used(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    log, blobs = RecordingLog(), LocalBlobStore(tmp_path / "elsewhere")
    app = create_app(Settings(data_dir=tmp_path / "data", lease_check=0), event_log=log,
                     blobs=blobs, engine=engine)
    assert app[services_key].log is log and app[services_key].blobs is blobs
    client = await aiohttp_client(app)
    w = RunWriter("iris_1")
    w.submitted()
    assert (await post(client, w.events))["stored"] == 1
    assert [e.id for e in log.accepted] == [w.events[0].id]
    assert (await client.get("/api/runs/iris_1")).status == 404  # the log stored nothing
    data = b"weights"
    sha = hashlib.sha256(data).hexdigest()
    assert (await client.put(f"/api/blobs/{sha}", data=data)).status == 201
    assert blobs.exists(sha) and not (tmp_path / "data" / "blobs").exists()


async def test_left_out_the_event_log_is_the_embedded_one(
        engine: Engine, tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path), engine=engine)
    assert isinstance(app[services_key].log, EmbeddedLog)
    assert isinstance(app[services_key].blobs, LocalBlobStore)


async def test_in_kafka_mode_the_event_log_is_made_with_the_app_not_at_its_start(
        engine: Engine, tmp_path: Path) -> None:
    # No broker at this address: making the app contacts none (the producer connects at
    # the first write), and the lease watch, started after, finds the final log.
    settings = Settings(data_dir=tmp_path, kafka="127.0.0.1:9", kafka_topic="t.wiring")
    app = create_app(settings, engine=engine)
    log = app[services_key].log
    assert isinstance(log, KafkaLog)
    assert (log.settings.bootstrap, log.settings.topic) == ("127.0.0.1:9", "t.wiring")
    assert log.settings.group == "runstream-projector.t.wiring"
