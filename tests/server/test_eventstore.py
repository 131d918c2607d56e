"""The event store's contract, run on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from runstream.events import RunStarted, new_event, run_stream
from runstream_server.eventstore import (
    ConcurrencyError,
    append,
    head_position,
    read_events,
    stream_head,
)
from tests.server.history import RunWriter


def test_appended_events_get_increasing_global_positions(engine: Engine) -> None:
    a, b = RunWriter("p_1"), RunWriter("p_2")
    a.submitted()
    b.submitted()
    a.started()
    with engine.begin() as conn:
        result = append(conn, [*a.events, *b.events])
    assert [e.position for e in result.stored] == sorted(e.position for e in result.stored)
    assert len({e.position for e in result.stored}) == 3
    with engine.connect() as conn:
        assert head_position(conn) == result.stored[-1].position
        assert stream_head(conn, run_stream("p_1")) == 1
        assert stream_head(conn, run_stream("nope")) == -1
        assert [e.id for e in read_events(conn)] == [e.id for e in result.stored]


def test_resending_stored_events_is_a_reported_no_op(engine: Engine) -> None:
    w = RunWriter("p_1")
    w.submitted()
    w.started()
    with engine.begin() as conn:
        append(conn, w.events)
    w.lines("hello")
    with engine.begin() as conn:
        result = append(conn, w.events)  # the first two again, plus one new
    assert result.duplicates == [e.id for e in w.events[:2]]
    assert [e.id for e in result.stored] == [w.events[2].id]
    with engine.connect() as conn:
        assert len(read_events(conn)) == 3


def test_a_gap_in_a_stream_is_refused(engine: Engine) -> None:
    w = RunWriter("p_1")
    w.submitted()
    w.started()
    with engine.begin() as conn, pytest.raises(ConcurrencyError, match="expected seq 0, got 1"):
        append(conn, w.events[1:])


def test_a_second_writer_at_a_taken_seq_is_refused(engine: Engine) -> None:
    w = RunWriter("p_1")
    w.submitted()
    with engine.begin() as conn:
        append(conn, w.events)
    other = new_event(run_stream("p_1"), 0, RunStarted())
    with engine.begin() as conn, pytest.raises(ConcurrencyError, match="exactly one writer"):
        append(conn, [other])


def test_a_refused_batch_leaves_nothing_behind(engine: Engine) -> None:
    good, bad = RunWriter("p_1"), RunWriter("p_2")
    good.submitted()
    bad.submitted()
    bad.started()
    with pytest.raises(ConcurrencyError), engine.begin() as conn:
        append(conn, [good.events[0], bad.events[1]])
    with engine.connect() as conn:
        assert read_events(conn) == []
        assert stream_head(conn, run_stream("p_1")) == -1


def test_read_events_filters_by_stream_type_and_range(engine: Engine) -> None:
    a, b = RunWriter("p_1"), RunWriter("p_2")
    a.submitted()
    b.submitted()
    a.lines("x")
    with engine.begin() as conn:
        stored = append(conn, [*a.events, *b.events]).stored
    with engine.connect() as conn:
        only_a = read_events(conn, streams=[run_stream("p_1")])
        assert [e.stream for e in only_a] == [run_stream("p_1")] * 2
        assert [e.type for e in read_events(conn, types=["log.lines"])] == ["log.lines"]
        assert len(read_events(conn, stored[0].position)) == 2
        assert len(read_events(conn, 0, until=stored[0].position)) == 1
        assert len(read_events(conn, 0, limit=1)) == 1


def test_a_tailing_reader_misses_nothing_while_writers_append_concurrently(
        engine: Engine) -> None:
    """Positions become visible in order, so "everything after the last one I saw" is a
    complete resume point even with several writers (server replicas) at once."""
    import threading

    from sqlalchemy.exc import OperationalError

    writers = [RunWriter(f"p_{i}") for i in range(3)]
    for w in writers:
        w.submitted()
        for n in range(60):
            w.lines(f"line {n}")
    total = sum(len(w.events) for w in writers)
    done = threading.Event()

    def write(w: RunWriter) -> None:
        for i in range(0, len(w.events), 3):
            while True:
                try:
                    with engine.begin() as conn:
                        append(conn, w.events[i:i + 3])
                    break
                except OperationalError:  # SQLite: database is locked; try again
                    continue

    seen: list[int] = []

    def tail() -> None:
        last = 0
        while not done.is_set() or last < total:
            with engine.connect() as conn:
                batch = read_events(conn, last)
            if batch:
                seen.extend(e.position for e in batch)
                last = batch[-1].position

    threads = [threading.Thread(target=write, args=(w,)) for w in writers]
    reader = threading.Thread(target=tail)
    reader.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join(timeout=30)
    with engine.connect() as conn:
        assert seen == [e.position for e in read_events(conn, limit=total)]
    assert len(seen) == total
