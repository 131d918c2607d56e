"""The consumer group's path from records to the store (``apply_records``), fed records
in-process: dead letters keep the original record and can be fed again; events of a
version this server cannot read are stored and reported, and the consumer goes on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select

from runstream.codec import encode_batch
from runstream.events import Envelope, RunStarted, partition_key
from runstream_server import deadletters
from runstream_server.eventstore import events_table
from runstream_server.kafka.source import Record, apply_records, redeliver
from runstream_server.ledger import Ledger
from runstream_server.projections.runner import Projector
from runstream_server.projections.runs import runs_table
from tests.server.history import RunWriter

TOPIC = "runstream.events"


@pytest.fixture
def ledger(engine: Engine) -> Iterator[Ledger]:
    projector = Projector()
    projector.prepare(engine)
    ledger = Ledger(engine, projector)
    yield ledger
    ledger.close()


def record(offset: int, events: list[Envelope], partition: int = 0) -> Record:
    return Record(TOPIC, partition, offset, partition_key(events[0].stream).encode(),
                  encode_batch(events))


def stored(engine: Engine, stream: str) -> list[tuple[int, str, str]]:
    t = events_table.c
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(  # type: ignore[misc]
            select(t.seq, t.id, t.type).where(t.stream == stream).order_by(t.seq))]


def status(engine: Engine, run_id: str) -> str:
    with engine.connect() as conn:
        return str(conn.execute(select(runs_table.c.status)
                                .where(runs_table.c.run_id == run_id)).scalar_one())


def test_a_record_out_of_order_is_dead_lettered_whole_and_applies_when_fed_again(
        engine: Engine, ledger: Ledger) -> None:
    w = RunWriter("iris_1")
    w.submitted()
    w.started()
    w.lines("a", "b")
    w.completed()
    early, late = w.events[:2], w.events[2:]
    apply_records(ledger, engine, [record(0, early[:1])])
    # seq 2.. arrives before seq 1: a concurrency error, the record is dead-lettered.
    assert apply_records(ledger, engine, [record(1, late)]) == 0
    with engine.connect() as conn:
        [letter] = deadletters.recent(conn)
        original = deadletters.original(conn, letter.id)
    assert "expected seq 1, got 2" in letter.reason
    assert (original.topic, original.partition, original.offset) == (TOPIC, 0, 1)
    assert original.key == "run/iris_1"
    assert original.value == encode_batch(late)  # the record as produced, not its payloads
    apply_records(ledger, engine, [record(2, early[1:])])
    assert redeliver(ledger, engine, letter.id) == len(late)
    assert stored(engine, "run/iris_1") == [(e.seq, e.id, e.type) for e in w.events]
    assert status(engine, "iris_1") == "completed"
    with engine.connect() as conn:
        assert deadletters.count(conn) == 0


def test_a_dead_letter_that_fails_again_is_kept(engine: Engine, ledger: Ledger) -> None:
    w = RunWriter("iris_1")
    w.submitted()
    w.started()
    apply_records(ledger, engine, [record(0, w.events[1:])])  # seq 1 with nothing before
    with engine.connect() as conn:
        [letter] = deadletters.recent(conn)
    assert redeliver(ledger, engine, letter.id) == 0
    with engine.connect() as conn:
        reasons = [d.reason for d in deadletters.recent(conn)]
    assert len(reasons) == 2 and all("expected seq 0, got 1" in r for r in reasons)


def test_an_unknown_dead_letter_is_named(engine: Engine, ledger: Ledger) -> None:
    with pytest.raises(LookupError, match="no dead letter 41"):
        redeliver(ledger, engine, 41)


def test_a_newer_version_is_stored_reported_and_the_consumer_goes_on(
        engine: Engine, ledger: Ledger) -> None:
    w = RunWriter("iris_1")
    w.submitted()
    newer = w.emit(RunStarted(pid=1))
    newer = Envelope(newer.id, newer.stream, newer.seq, newer.type, 99, newer.ts, newer.data)
    w.events[-1] = newer
    w.completed()
    assert apply_records(ledger, engine, [record(0, w.events[:2]), record(1, w.events[2:])]) == 3
    assert ledger.projector.unknown == {"run.started v99": 1}
    assert [seq for seq, _, _ in stored(engine, "run/iris_1")] == [0, 1, 2]
    assert status(engine, "iris_1") == "completed"  # the later event applied
    with engine.connect() as conn:
        assert deadletters.count(conn) == 0


def test_an_old_version_without_an_upgrade_is_stored_reported_and_the_consumer_goes_on(
        engine: Engine, ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    # This code "knows" run.started v2 but has no upgrade from v1: the v1 event is stored
    # and reported, never a KeyError out of the consumer.
    w = RunWriter("iris_1")
    w.submitted()
    w.started()
    w.completed()
    monkeypatch.setattr(RunStarted, "VERSION", 2)
    assert apply_records(ledger, engine, [record(0, w.events)]) == 3
    assert ledger.projector.unknown == {"run.started v1": 1}
    assert status(engine, "iris_1") == "completed"
    with engine.connect() as conn:
        assert deadletters.count(conn) == 0
