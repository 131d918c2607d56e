"""Runs, metrics, logs, artifacts, archive/restore and the model registry over HTTP."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from tests.server.api import ClientFactory, make_app, post, run_with_files
from tests.server.history import RunWriter, finished_run


async def test_runs_list_filters_sorts_pages_and_hides_archived(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    for i, acc in enumerate([0.5, 0.9, 0.7]):
        await post(client, finished_run(f"iris_{i}", accuracy=acc))
    running = RunWriter("iris_9")
    running.submitted()
    running.started()
    await post(client, running.events)

    listed = await (await client.get("/api/runs")).json()
    assert listed["total"] == 4
    assert [r["number"] for r in listed["runs"]] == [4, 3, 2, 1]
    by_acc = await (await client.get("/api/runs", params={"sort": "-Accuracy"})).json()
    assert [r["run_id"] for r in by_acc["runs"]] == ["iris_1", "iris_2", "iris_0", "iris_9"]
    page = await (await client.get("/api/runs", params={"sort": "number", "limit": "2",
                                                         "offset": "1"})).json()
    assert [r["number"] for r in page["runs"]] == [2, 3]
    only = await (await client.get("/api/runs", params={"status": "running"})).json()
    assert [r["run_id"] for r in only["runs"]] == ["iris_9"]

    archived = await (await client.post("/api/runs/iris_0/archive")).json()
    assert archived["archived"] is True
    listed = await (await client.get("/api/runs")).json()
    assert "iris_0" not in [r["run_id"] for r in listed["runs"]]
    shown = await (await client.get("/api/runs", params={"archived": "only"})).json()
    assert [r["run_id"] for r in shown["runs"]] == ["iris_0"]
    restored = await (await client.post("/api/runs/iris_0/restore")).json()
    assert restored["archived"] is False
    audit = await (await client.get("/api/runs/iris_0/events")).json()
    assert [a["stream"] for a in audit[-2:]] == ["review/iris_0"] * 2  # never the agent's stream
    bad = await client.get("/api/runs", params={"limit": "lots"})
    assert bad.status == 400 and "`limit`" in (await bad.json())["error"]


async def test_runs_list_takes_an_mlflow_filter_and_order_and_refuses_a_bad_one(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    for run_id, acc, team in [("iris_1", 0.6, "ml"), ("iris_2", 0.9, "ml"), ("iris_3", 0.8, "ops")]:
        w = RunWriter(run_id)
        w.submitted()
        w.tags(team=team)
        w.metrics({"Accuracy": [acc]})
        w.completed()
        await post(client, w.events)

    found = await (await client.get("/api/runs", params={
        "filter": "metrics.Accuracy > 0.7 and tags.team = 'ml'"})).json()
    assert [r["run_id"] for r in found["runs"]] == ["iris_2"] and found["total"] == 1
    ordered = await (await client.get("/api/runs", params={
        "filter": "attributes.status = 'FINISHED'", "order_by": "metrics.Accuracy DESC",
        "limit": "2"})).json()
    assert [r["run_id"] for r in ordered["runs"]] == ["iris_2", "iris_3"]
    assert ordered["total"] == 3
    numbered = await (await client.get("/api/runs", params={"filter": "number >= 2",
                                                            "project": "iris"})).json()
    assert [r["number"] for r in numbered["runs"]] == [3, 2] and numbered["total"] == 2

    bad = await client.get("/api/runs", params={"filter": "metrics.Accuracy >> 0.5"})
    body = await bad.json()
    assert bad.status == 400
    assert body["error"].splitlines() == [
        "unexpected `>` at column 18: expected a value: a 'quoted string' or a number",
        "  metrics.Accuracy >> 0.5", "  " + " " * 18 + "^"]
    bad_order = await client.get("/api/runs", params={"order_by": "metrics.a sideways"})
    assert bad_order.status == 400 and "expected ASC, DESC" in (await bad_order.json())["error"]


async def test_an_unknown_run_names_the_nearest(engine: Engine, tmp_path: Path,
                                                aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    await post(client, finished_run("iris_1764322000000"))
    resp = await client.get("/api/runs/iris_1764322000001")
    body = await resp.json()
    assert resp.status == 404
    assert body["nearest"] == ["iris_1764322000000"] and "Did you mean" in body["error"]


async def test_metric_series_arrays_and_strings(engine: Engine, tmp_path: Path,
                                                aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    w = RunWriter("iris_1")
    w.submitted()
    w.metrics({"loss": [3.0, 2.0, 1.0], "Precision": [[0.5, 0.25]], "phase": ["warmup"]})
    w.metrics({"loss": [0.5]}, first_step=3)
    await post(client, w.events)
    names = await (await client.get("/api/runs/iris_1/metrics")).json()
    assert names == {"scalars": ["loss"], "arrays": ["Precision"], "strings": ["phase"]}
    loss = await (await client.get("/api/runs/iris_1/metrics/loss")).json()
    assert loss["format"] == "series"
    assert loss["steps"] == [0, 1, 2, 3] and loss["values"] == [3.0, 2.0, 1.0, 0.5]
    prec = await (await client.get("/api/runs/iris_1/metrics/Precision")).json()
    assert prec["format"] == "values" and prec["points"][0]["value"] == [0.5, 0.25]
    missing = await client.get("/api/runs/iris_1/metrics/nope")
    assert missing.status == 404


async def test_logs_are_paged_by_line_and_whole_as_text(engine: Engine, tmp_path: Path,
                                                        aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    w = RunWriter("iris_1")
    w.submitted()
    for i in range(0, 30, 10):
        w.lines(*[f"line {n}" for n in range(i, i + 10)])
    await post(client, w.events)
    page = await (await client.get("/api/runs/iris_1/logs",
                                   params={"start": "8", "limit": "5"})).json()
    assert page["total"] == 30
    assert [line[0] for line in page["lines"]] == [8, 9, 10, 11, 12]
    assert page["lines"][0][3] == "line 8"
    text = await (await client.get("/api/runs/iris_1/driver_log")).text()
    assert text.splitlines() == [f"line {n}" for n in range(30)]


async def test_promote_creates_numbered_versions_that_download_verified(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(make_app(engine, tmp_path))
    data = b"pickled model"
    sha = await run_with_files(client, "iris_1", ["outputs/model.pkl"], data)

    artifacts = await (await client.get("/api/runs/iris_1/artifacts")).json()
    assert [a["path"] for a in artifacts] == ["outputs/model.pkl"]
    got = await client.get("/api/runs/iris_1/artifacts/outputs/model.pkl")
    assert await got.read() == data and got.headers["X-Content-SHA256"] == sha

    body = {"run_id": "iris_1", "path": "outputs/model.pkl", "name": "model.pkl"}
    first = await client.post("/api/models", json=body)
    second = await client.post("/api/models", json=body)
    assert first.status == second.status == 201
    assert [(await first.json())["version"], (await second.json())["version"]] == [1, 2]
    models = await (await client.get("/api/models")).json()
    assert [(m["name"], m["latest"], m["versions"]) for m in models] == [("model.pkl", 2, 2)]
    detail = await (await client.get("/api/models/model.pkl")).json()
    assert [v["run_id"] for v in detail["versions"]] == ["iris_1", "iris_1"]
    download = await client.get("/api/models/model.pkl/versions/latest/download")
    assert await download.read() == data

    missing = await client.post("/api/models", json={**body, "path": "outputs/nope.pkl"})
    assert missing.status == 404 and "outputs/model.pkl" in (await missing.json())["error"]
    invalid = await client.post("/api/models", json={"run_id": "iris_1"})
    assert invalid.status == 400 and "path" in (await invalid.json())["error"]
    assert (await client.get("/api/models/model.pkl/versions/9")).status == 404


async def test_a_series_in_binary_equals_its_json(engine: Engine, tmp_path: Path,
                                                  aiohttp_client: ClientFactory) -> None:
    import struct
    from array import array

    client = await aiohttp_client(make_app(engine, tmp_path))
    w = RunWriter("iris_1")
    w.submitted()
    w.metrics({"loss": [0.5 * i for i in range(1000)]})
    w.metrics({"loss": [-1.0, 2.0]}, first_step=1000)
    await post(client, w.events)
    as_json = await (await client.get("/api/runs/iris_1/metrics/loss")).json()
    raw = await (await client.get("/api/runs/iris_1/metrics/loss",
                                  params={"format": "binary"})).read()
    (n,) = struct.unpack_from("<Q", raw)
    steps, times, values = array("q"), array("d"), array("d")
    steps.frombytes(raw[8:8 + 8 * n])
    times.frombytes(raw[8 + 8 * n:8 + 16 * n])
    values.frombytes(raw[8 + 16 * n:])
    assert n == 1002
    assert steps.tolist() == as_json["steps"]
    assert times.tolist() == as_json["times"]
    assert values.tolist() == as_json["values"]


async def test_nan_and_infinities_are_stored_on_every_database(
        engine: Engine, tmp_path: Path, aiohttp_client: ClientFactory) -> None:
    """JSON has no NaN: PostgreSQL's json type refuses it, so arrays are kept in
    MessagePack; the API renders NaN and infinities as null."""
    client = await aiohttp_client(make_app(engine, tmp_path))
    w = RunWriter("iris_1")
    w.submitted()
    w.metrics({"curve": [[1.0, float("nan"), float("inf")]], "loss": [float("nan"), 0.5]})
    await post(client, w.events)
    curve = await (await client.get("/api/runs/iris_1/metrics/curve")).json()
    assert curve["points"][0]["value"] == [1.0, None, None]
    loss = await (await client.get("/api/runs/iris_1/metrics/loss")).json()
    assert loss["values"] == [None, 0.5]
    run = await (await client.get("/api/runs/iris_1")).json()
    assert run["metrics"] == {"loss": 0.5}
