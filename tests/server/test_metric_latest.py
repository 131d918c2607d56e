"""A run's latest metrics (MLflow's ``run.data.metrics``) from the ``metric_latest`` view
equal a brute-force reading of every point: the highest step, then the latest time, then
the one logged last — whatever the batches, steps out of order, ties and NaN."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from runstream.events import MetricsLogged
from runstream_server import queries
from runstream_server.database import metadata
from runstream_server.eventstore import append
from runstream_server.projections.runner import Projector
from tests.server.history import RunWriter

point = st.tuples(st.sampled_from(["loss", "acc"]), st.integers(0, 2),
                  st.sampled_from([1.0, 2.0]),  # ties are common: their rule is tested
                  st.one_of(st.floats(-5, 5), st.just(math.nan), st.just(math.inf),
                            st.sampled_from(["text", [1.0, 2.0]])))


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(point, min_size=1, max_size=6), min_size=1, max_size=5),
       together=st.booleans())
def test_latest_is_the_highest_step_then_the_latest_time_then_the_last_logged(
        engine: Engine, batches: list[list[tuple[str, int, float, object]]],
        together: bool) -> None:
    w = RunWriter("iris_1")
    w.submitted()
    for batch in batches:
        names = sorted({n for n, *_ in batch})
        w.emit(MetricsLogged(names=names, index=[names.index(n) for n, *_ in batch],
                             steps=[s for _, s, _, _ in batch],
                             times=[t for _, _, t, _ in batch],
                             values=[v for *_, v in batch]))  # type: ignore[misc]
    metadata.drop_all(engine)
    projector = Projector()
    projector.prepare(engine)
    parts = [w.events] if together else [[e] for e in w.events]
    for part in parts:
        with engine.begin() as conn:
            projector.apply(conn, append(conn, part).stored)
    with engine.connect() as conn:
        got = {m.key: (m.step, m.time, m.value)
               for m in queries.latest_metrics(conn, ["iris_1"]).get("iris_1", [])}
    expected: dict[str, tuple[int, float, float]] = {}
    for batch in batches:
        for name, step, time_, value in batch:
            if isinstance(value, str | list):
                continue  # arrays and strings are not MLflow metrics
            seen = expected.get(name)
            if seen is None or (step, time_) >= (seen[0], seen[1]):
                expected[name] = (step, time_, float(value))
    assert set(got) == set(expected)
    for name, (step, time_, value) in expected.items():
        g = got[name]
        assert (g[0], g[1]) == (step, time_)
        assert g[2] == value or (math.isnan(g[2]) and math.isnan(value))
