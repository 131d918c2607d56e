"""Replay: views rebuilt from the event store equal the incrementally built ones."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, inspect, select, text

from runstream.events import (
    EXPERIMENTS_STREAM,
    Envelope,
    ExperimentCreated,
    ExperimentRenamed,
    ExperimentTagsSet,
    RunArchived,
    RunRestored,
    new_event,
    review_stream,
)
from runstream_server import queries
from runstream_server.database import metadata
from runstream_server.eventstore import append
from runstream_server.projections.runner import Projector
from tests.server.history import RunWriter

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
values = st.one_of(finite, st.text(max_size=5), st.lists(finite, max_size=4))
names = st.sampled_from(["Accuracy", "loss", "Precision", "note"])


@st.composite
def histories(draw: st.DrawFn) -> list[list[Envelope]]:
    """Several runs' streams interleaved into batches, as a server would receive them."""
    writers = [RunWriter(f"{project}_{i}", project) for i, project in enumerate(
        draw(st.lists(st.sampled_from(["iris", "mnist"]), min_size=1, max_size=4)))]
    review_seq: dict[str, int] = {}
    events: list[Envelope] = []
    experiments: list[Envelope] = []  # one stream: the MLflow API's experiments
    projects = st.sampled_from(["iris", "mnist", "other"])
    for w in writers:
        w.submitted(args=(str(draw(st.integers(0, 9))),))
        w.started()
    for _ in range(draw(st.integers(0, 25))):
        w = draw(st.sampled_from(writers))
        kind = draw(st.sampled_from(["lines", "metrics", "artifact", "review", "complete",
                                     "params", "tags", "untag", "rename", "experiment"]))
        keys = st.sampled_from(["reg", "seed", "note"])
        # Text a writer may log (NUL is refused at the call, by the event's schema).
        texts = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)),
                        max_size=6)
        if kind == "experiment":
            # Created for a project (before or after its runs, as partitions interleave),
            # renamed to or from one, tagged; ids "1", "2", … by creation order.
            change = draw(st.sampled_from(["create", "create", "rename", "tag"]))
            payload: Any = (
                ExperimentCreated(name=draw(projects)) if change == "create" else
                ExperimentRenamed(experiment_id=draw(st.sampled_from(["0", "1", "2"])),
                                  name=draw(projects)) if change == "rename" else
                ExperimentTagsSet(experiment_id=draw(st.sampled_from(["0", "1", "2"])),
                                  tags={"team": draw(texts)}))
            experiments.append(new_event(EXPERIMENTS_STREAM, len(experiments), payload))
        elif kind == "params":
            w.params(**draw(st.dictionaries(keys, texts, min_size=1, max_size=2)))
        elif kind == "tags":
            w.tags(**draw(st.dictionaries(keys, texts, min_size=1, max_size=2)))
        elif kind == "untag":
            w.untag(*draw(st.lists(keys, min_size=1, max_size=2)))
        elif kind == "rename":
            w.renamed(draw(texts))
        elif kind == "lines":
            w.lines(*draw(st.lists(st.text(max_size=8), min_size=1, max_size=3)))
        elif kind == "metrics":
            w.metrics(draw(st.dictionaries(names, st.lists(values, min_size=1, max_size=3),
                                           min_size=1, max_size=3)))
        elif kind == "artifact":
            w.artifact(draw(st.sampled_from(["outputs/model.pkl", "outputs/cm.png"])))
        elif kind == "complete":
            w.completed(draw(st.sampled_from(["completed", "failed", "canceled"])))
        else:
            seq = review_seq.get(w.run_id, -1) + 1
            review_seq[w.run_id] = seq
            payload = RunArchived(w.run_id) if seq % 2 == 0 else RunRestored(w.run_id)
            events.append(new_event(review_stream(w.run_id), seq, payload))
    for w in writers:
        events.extend(w.events)
    events.extend(experiments)
    # Keep each stream in order but interleave streams, then cut into batches.
    order = draw(st.permutations(range(len(events))))
    by_stream: dict[str, list[Envelope]] = {}
    for e in sorted(events, key=lambda e: (e.stream, e.seq)):
        by_stream.setdefault(e.stream, []).append(e)
    streams = [s for s in (events[i].stream for i in order)]
    merged = causal([by_stream[s].pop(0) for s in streams])
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(merged) - 1)), max_size=5)))
    return [merged[a:b] for a, b in zip([0, *cuts], [*cuts, len(merged)], strict=True) if
            merged[a:b]]


def causal(events: list[Envelope]) -> list[Envelope]:
    """Move each review event after its run's submission: the server only archives
    runs it knows, and Kafka keeps them in order by putting both streams of a run in
    one partition."""
    out: list[Envelope] = []
    waiting: dict[str, list[Envelope]] = {}
    known: set[str] = set()
    for e in events:
        kind, _, run_id = e.stream.partition("/")
        if kind == "review" and run_id not in known:
            waiting.setdefault(run_id, []).append(e)
            continue
        out.append(e)
        if kind == "run" and run_id not in known:
            known.add(run_id)
            out.extend(waiting.pop(run_id, []))
    return out + [e for pending in waiting.values() for e in pending]


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every view's rows (not the event store), in a stable order. Surrogate ``id``
    columns only order rows; PostgreSQL's sequences don't restart, so they're left out."""
    views = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name in ("events", "streams", "projections"):
                continue
            columns = [c for c in table.c if c.name != "id"]
            views[table.name] = sorted(
                (tuple(r) for r in conn.execute(select(*columns))), key=repr)
        # Run numbers are derived when read, not stored: compare them as the API shows them.
        runs = queries.list_runs(conn, archived="include", limit=1_000_000).runs
        views["run numbers"] = sorted((r.run_id, r.number) for r in runs)
    return views


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories())
def test_rebuilt_views_equal_incrementally_built_views(engine: Engine,
                                                       history: list[list[Envelope]]) -> None:
    metadata.drop_all(engine)
    projector = Projector()
    projector.prepare(engine)
    for batch in history:
        with engine.begin() as conn:
            projector.apply(conn, append(conn, batch).stored)
    incremental = snapshot(engine)
    projector.rebuild(engine)
    assert snapshot(engine) == incremental
    assert sum(len(rows) for rows in incremental.values()) > 0


def test_a_changed_projection_version_is_rebuilt_at_start(engine: Engine) -> None:
    from runstream_server.projections.runs import RunsProjection

    projector = Projector()
    projector.prepare(engine)
    w = RunWriter("iris_1")
    w.submitted()
    with engine.begin() as conn:
        projector.apply(conn, append(conn, w.events).stored)
    before = snapshot(engine)
    with engine.begin() as conn:  # the view as an older version shaped it
        conn.execute(text("DROP INDEX ix_runs_project_submitted"))

    class RunsNext(RunsProjection):
        version = RunsProjection.version + 1

    projections = [RunsNext() if p.name == "runs" else p for p in Projector().projections]
    rebuilt = Projector(projections).prepare(engine)
    assert rebuilt == ["runs"]
    assert snapshot(engine) == before
    indexes = {i["name"] for i in inspect(engine).get_indexes("runs")}
    assert "ix_runs_project_submitted" in indexes  # the new shape, not just new rows


def without_positions(views: dict[str, list[tuple[Any, ...]]],
                      engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    out = {"run numbers": views["run numbers"]}
    for table in metadata.sorted_tables:
        if table.name in views:
            keep = [i for i, c in enumerate(c for c in table.c if c.name != "id")
                    if c.name != "position"]
            out[table.name] = sorted((tuple(r[i] for i in keep) for r in views[table.name]),
                                     key=repr)
    return out


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories(), seed=st.randoms(use_true_random=False))
def test_views_do_not_depend_on_how_streams_were_interleaved(
        engine: Engine, history: list[list[Envelope]], seed: Any) -> None:
    """Kafka keeps each stream's order but not the order between partitions: any
    interleaving of the same streams must give the same views, run numbers included
    (positions aside, which only say where each event landed)."""
    events = [e for batch in history for e in batch]
    streams: dict[str, list[Envelope]] = {}
    for e in events:
        streams.setdefault(e.stream, []).append(e)
    names = list(streams)
    other: list[Envelope] = []
    while names:
        name = seed.choice(names)
        other.append(streams[name].pop(0))
        if not streams[name]:
            names.remove(name)
    other = causal(other)
    results = []
    for order in (events, other):
        metadata.drop_all(engine)
        projector = Projector()
        projector.prepare(engine)
        for i in range(0, len(order), 3):
            with engine.begin() as conn:
                projector.apply(conn, append(conn, order[i:i + 3]).stored)
        results.append(without_positions(snapshot(engine), engine))
    assert results[0] == results[1]
