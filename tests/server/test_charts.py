"""Chart specs for the web UI, and the runs as of a past position (the time slider)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import altair as alt
import pytest
from sqlalchemy import Engine

from runstream_server import charts
from tests.server.api import ClientFactory, make_app, post
from tests.server.history import RunWriter, finished_run


@pytest.mark.parametrize("kind", ["scalar", "status", "array", "series"])
def test_every_chart_is_valid_vega_lite_with_a_named_dataset_and_highlight(kind: str) -> None:
    spec = charts.chart(kind, "MaxFscore")  # type: ignore[arg-type]
    alt.Chart.from_dict(spec, validate=True)  # raises on an invalid spec
    meta = spec["usermeta"]["runstream"]
    assert spec["data"] == {"name": meta["dataset"]}
    assert "values" not in spec["data"] and "datasets" not in spec  # data comes as changesets
    assert {"name": "highlight", "value": []} in spec["params"]
    assert spec["autosize"]["resize"] is True


def test_metric_names_are_titles_never_field_names() -> None:
    spec = charts.scalar_chart("loss.val[0]")
    assert spec["encoding"]["y"]["field"] == "value"
    assert spec["encoding"]["y"]["title"] == "loss.val[0]"


def test_a_metric_chart_needs_a_metric() -> None:
    with pytest.raises(ValueError, match="needs a metric"):
        charts.chart("array")


async def test_chart_routes_serve_specs_and_say_what_is_wrong(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    resp = await client.get("/api/charts/scalar", params={"metric": "Accuracy"})
    assert resp.status == 200
    assert (await resp.json())["title"] == "Accuracy"
    assert (await (await client.get("/api/charts/status")).json())["usermeta"]["runstream"][
        "kind"] == "status"
    missing = await client.get("/api/charts/array")
    assert missing.status == 400 and "metric" in (await missing.json())["error"]
    unknown = await client.get("/api/charts/pie")
    assert unknown.status == 404 and "scalar" in (await unknown.json())["error"]


async def _runs(client: Any, **params: str) -> Any:
    resp = await client.get("/api/asof/runs", params=params)
    body = await resp.json()
    assert resp.status == 200, body
    return body


async def test_runs_as_of_the_head_equal_the_live_view(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    for i, acc in enumerate([0.5, 0.9, 0.7]):
        await post(client, finished_run(f"iris_{i}", accuracy=acc))
    other = RunWriter("mnist_1", project="mnist")
    other.submitted()
    other.started()
    other.lines("epoch 1")
    await post(client, other.events)
    await client.post("/api/runs/iris_0/archive")
    head = (await (await client.get("/api")).json())["position"]

    live = (await (await client.get("/api/runs", params={"archived": "include"})).json())["runs"]
    past = await _runs(client, until=str(head), archived="include")
    assert past["position"] == head and past["head"] == head and past["time"] is not None
    by_id = lambda r: r["run_id"]  # noqa: E731
    assert sorted(past["runs"], key=by_id) == sorted(live, key=by_id)
    hidden = await _runs(client, until=str(head))
    assert "iris_0" not in [r["run_id"] for r in hidden["runs"]]


async def test_runs_as_of_an_earlier_position_are_fewer_and_younger(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    first = finished_run("iris_a", accuracy=0.5)
    await post(client, first)
    await post(client, finished_run("iris_b", accuracy=0.9))
    # After run a's first two events (submitted, started): one run, running, no metrics.
    past = await _runs(client, until="2")
    assert [(r["run_id"], r["status"], r["metrics"]) for r in past["runs"]] == [
        ("iris_a", "running", {})]
    assert (await _runs(client, until=str(len(first))))["total"] == 1
    assert (await _runs(client, until="0"))["runs"] == []
    assert (await _runs(client, until="999999"))["total"] == 2  # clamped to the head


async def test_runs_as_of_refuses_a_missing_position(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    resp = await client.get("/api/asof/runs", params={"until": "yesterday"})
    assert resp.status == 400 and "`until`" in (await resp.json())["error"]
