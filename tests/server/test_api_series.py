"""GET /api/series on a real app and database: many runs in one request, bounded by the
budget, raw when few, refusals that name what was wrong, the same answer after a rebuild."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from runstream.events import MetricsLogged
from runstream_server.projections.runner import Projector
from tests.server.api import ClientFactory, make_app, post
from tests.server.history import RunWriter

T0 = 1_700_000_000.0


def run_with_loss(run_id: str, points: int, per_event: int, spike_at: int | None = None,
                  nan_at: int | None = None) -> RunWriter:
    w = RunWriter(run_id)
    w.submitted()
    w.started()
    for first in range(0, points, per_event):
        steps = list(range(first, min(points, first + per_event)))
        values = [math.sin(s / 500) for s in steps]
        for at, value in ((spike_at, 50.0), (nan_at, math.nan)):
            if at is not None and at in steps:
                values[steps.index(at)] = value
        w.emit(MetricsLogged(names=["loss"], index=[0] * len(steps), steps=steps,
                             times=[T0 + s / 10 for s in steps], values=values))
    return w


async def series(client: Any, **query: Any) -> Any:
    resp = await client.get("/api/series", params={k: str(v) for k, v in query.items()})
    body = await resp.json()
    assert resp.status == 200, body
    return body


async def test_one_request_answers_many_runs_in_order_within_the_budget(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    await post(client, run_with_loss("long", 30_000, 1000, spike_at=12_345, nan_at=20_000).events)
    await post(client, run_with_loss("short", 50, 7).events)
    quiet = RunWriter("quiet")
    quiet.submitted()
    await post(client, quiet.events)

    body = await series(client, metric="loss", runs="short,long,quiet", budget=100)
    assert body["metric"] == "loss" and body["x"] == "step" and body["budget"] == 100
    assert [s["run_id"] for s in body["series"]] == ["short", "long", "quiet"]
    short, long, none = body["series"]
    assert short["sampled"] is False and short["total"] == 50
    assert short["steps"] == list(range(50))  # raw, every point, by step
    assert long["sampled"] is True and long["total"] == 30_000
    assert 0 < len(long["steps"]) <= 100
    assert len(long["steps"]) == len(long["times"]) == len(long["values"])
    assert long["steps"] == sorted(long["steps"])
    assert 50.0 in long["values"]  # the spike survives a 300-fold reduction
    assert None in long["values"]  # and so does the NaN (null in JSON)
    assert none == {"run_id": "quiet", "total": 0, "sampled": False, "steps": [],
                    "times": [], "values": []}

    zoomed = await series(client, metric="loss", runs="long", start=12_000, end=12_099,
                          budget=2000)
    assert zoomed["start"] == 12_000 and zoomed["end"] == 12_099
    assert zoomed["series"][0]["sampled"] is False
    assert zoomed["series"][0]["steps"] == list(range(12_000, 12_100))

    by_time = await series(client, metric="loss", runs="long", x="time", start=T0 + 100,
                           end=T0 + 2000, budget=40)
    got = by_time["series"][0]
    assert got["total"] == 19_001 and got["sampled"] is True and len(got["times"]) <= 40
    assert all(T0 + 100 <= t <= T0 + 2000 for t in got["times"])
    assert got["times"] == sorted(got["times"])


async def test_unknown_runs_and_bad_parameters_are_refused_by_name(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    await post(client, run_with_loss("known", 10, 10).events)

    missing = await client.get("/api/series", params={"metric": "loss", "runs": "known,ghost"})
    assert missing.status == 404
    body = await missing.json()
    assert "'ghost'" in body["error"] and body["unknown"] == ["ghost"]

    for query, named in [
        ({"runs": "known"}, "`metric`"),
        ({"metric": "loss"}, "`runs`"),
        ({"metric": "loss", "runs": "known,,known"}, "`runs`"),
        ({"metric": "loss", "runs": ",".join(["known"] * 501)}, "`runs`"),
        ({"metric": "loss", "runs": "known", "budget": "7"}, "`budget`"),
        ({"metric": "loss", "runs": "known", "budget": "20001"}, "`budget`"),
        ({"metric": "loss", "runs": "known", "budget": "lots"}, "`budget`"),
        ({"metric": "loss", "runs": "known", "x": "epoch"}, "`x`"),
        ({"metric": "loss", "runs": "known", "start": "soon"}, "`start`"),
        ({"metric": "loss", "runs": "known", "end": "inf"}, "`end`"),
        ({"metric": "loss", "runs": "known", "start": "9", "end": "3"}, "`start`"),
    ]:
        resp = await client.get("/api/series", params=query)
        error = (await resp.json())["error"]
        assert resp.status == 400, (query, error)
        assert named in error, (query, error)
        given = [v for k, v in query.items() if f"`{k}`" == named]
        if given and len(given[0]) < 20:
            assert given[0] in error, (query, error)


async def test_the_answer_is_the_same_after_the_views_are_rebuilt(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    # Many small events (one point each, as MLflow's log_metric) and big ones, and a
    # run whose steps go back (a resumed run logging its steps again).
    await post(client, run_with_loss("ones", 3000, 1, spike_at=777).events)
    await post(client, run_with_loss("big", 20_000, 5000, nan_at=3).events)
    again = run_with_loss("again", 5000, 500)
    for first in (2000, 0):
        again.emit(MetricsLogged(names=["loss"], index=[0] * 1000,
                                 steps=list(range(first, first + 1000)),
                                 times=[T0 + 900 + i for i in range(1000)],
                                 values=[-1.0 - i / 1000 for i in range(1000)]))
    await post(client, again.events)

    asks = [{"budget": 200}, {"budget": 2000}, {"start": 1500, "end": 2600, "budget": 60},
            {"x": "time", "budget": 100}, {"x": "time", "start": T0 + 150.05, "budget": 30}]
    before = [await series(client, metric="loss", runs="ones,big,again", **a) for a in asks]
    assert before[0]["series"][0]["sampled"] and 50.0 in before[0]["series"][0]["values"]
    assert min(before[2]["series"][2]["values"]) <= -1.5  # the re-logged steps are there
    Projector().rebuild(engine)
    after = [await series(client, metric="loss", runs="ones,big,again", **a) for a in asks]
    assert after == before
