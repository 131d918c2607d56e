"""MLflow's run filter language: tokenizer, parser, errors with a caret, and the compiled
SQL on real SQLite and PostgreSQL (``engine`` runs each test on both)."""

from __future__ import annotations

import re
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, insert

from runstream_server.projections.runs import RunView, runs_table
from runstream_server.search import (
    Comparison,
    SearchError,
    parse_filter,
    parse_order_by,
    parse_order_list,
    tokenize,
)
from runstream_server.search_sql import JSON_NUMBER, search_runs


def C(kind: str, key: str, op: str, value: Any, at: int) -> Comparison:
    return Comparison(kind, key, op, value, at)  # type: ignore[arg-type]


def test_a_filter_parses_into_anded_comparisons_of_each_kind() -> None:
    text = ("metrics.Accuracy > 0.75 and params.reg = '1' AND tags.`team name` LIKE 'ml%' "
            "And attributes.status IN ('RUNNING', 'FINISHED')")
    assert parse_filter(text) == [
        C("metric", "Accuracy", ">", 0.75, 0),
        C("param", "reg", "=", "1", 28),
        C("tag", "team name", "LIKE", "ml%", 49),
        C("attribute", "status", "IN", ("RUNNING", "FINISHED"), 81),
    ]


def test_aliases_quoting_numbers_and_null_checks() -> None:
    parsed = parse_filter('metric."my metric" <= -1.5e-3 and param.`a.b` != "x" and '
                          "tag.t IS NOT NULL and params.p is null and run_name ILIKE '%A%' "
                          "and created >= 17 and run.run_id NOT IN ('a') and metrics.m = .5 "
                          "and attr.user_id = 'me' and params.a.b = 'dotted'")
    assert [(c.kind, c.key, c.op, c.value) for c in parsed] == [
        ("metric", "my metric", "<=", -1.5e-3), ("param", "a.b", "!=", "x"),
        ("tag", "t", "IS NOT NULL", None), ("param", "p", "IS NULL", None),
        ("attribute", "run_name", "ILIKE", "%A%"), ("attribute", "start_time", ">=", 17),
        ("attribute", "run_id", "NOT IN", ("a",)), ("metric", "m", "=", 0.5),
        ("attribute", "user_id", "=", "me"), ("param", "a.b", "=", "dotted"),
    ]
    assert isinstance(parsed[5].value, int)


def test_blank_filter_is_no_condition() -> None:
    assert parse_filter("") == [] and parse_filter("   ") == []


def test_tokens_record_their_offsets() -> None:
    tokens = tokenize("metrics.a>=2 and 'it''s'")
    assert [(t.kind, t.at) for t in tokens] == [("ident", 0), ("op", 9), ("number", 11),
                                                ("word", 13), ("string", 17), ("string", 21),
                                                ("end", 24)]


@pytest.mark.parametrize(("text", "offset", "says"), [
    ("metrics.Accuracy >> 0.5", 18, "unexpected `>` at column 18: expected a value"),
    ("metrics.a > 1 or metrics.b > 2", 14, "OR is not supported"),
    ("metrics.a > 1 metrics.b > 2", 14, "expected AND"),
    ("metrics.a > 'high'", 10, "compares numbers"),
    ("params.lr = 0.1", 10, "quote the value"),
    ("params.lr > '1'", 10, "params.lr compares numbers"),
    ("metrics.a LIKE '1%'", 10, "LIKE cannot compare"),
    ("metric.a IN (1, 2)", 9, "IN cannot compare"),
    ("colour = 'red'", 0, "unknown attribute `colour`"),
    ("attributes.artifact_uri > 1", 24, "> cannot compare"),
    ("foo.bar = 'x'", 0, "unknown kind `foo`"),
    ("datasets.name = 'iris'", 0, "dataset filters are not supported"),
    ("params.x = 'open", 11, "unterminated"),
    ("metrics. > 1", 8, "missing name after `metrics.`"),
    ("metrics.a > 1 and", 17, "at the end: expected a name"),
    ("metrics.a >", 11, "expected a value"),
    ("metrics.a ! 1", 10, "write != "),
    ("metrics.a = 1e", 13, "malformed exponent"),
    ("metrics.a = 12abc", 14, "in a number"),
    ("attributes.status IN 'RUNNING'", 21, "( to start a list"),
    ("attributes.status IN ('a' 'b')", 26, ", or ) in the list"),
    ("tags.t IS 'x'", 10, "NULL after IS"),
    ("params.p NOT LIKE 'x'", 13, "IN after NOT"),
    ("attributes.archived = 'maybe'", 20, "true or false"),
    ("start_time > '2024'", 11, "compares numbers"),
    ("metrics.a = 1 ; drop table runs", 14, "unexpected `;`"),
    ("and metrics.a = 1", 0, "expected a name"),
    ("metrics.a 1", 10, "expected a comparison"),
])
def test_a_bad_filter_points_at_the_offending_token(text: str, offset: int, says: str) -> None:
    with pytest.raises(SearchError) as caught:
        parse_filter(text)
    err = caught.value
    assert err.offset == offset and says in str(err), str(err)
    assert str(err).splitlines()[-2:] == [f"  {text}", "  " + " " * offset + "^"]
    assert isinstance(err, ValueError)


def test_order_by_clauses() -> None:
    parsed = parse_order_by(["metrics.loss DESC", "params.`lr`", "start_time asc", "number"])
    assert [(o.kind, o.key, o.ascending) for o in parsed] == [
        ("metric", "loss", False), ("param", "lr", True), ("attribute", "start_time", True),
        ("attribute", "number", True)]
    for bad, says in [("metrics.loss sideways", "expected ASC, DESC"),
                      ("", "empty order_by"), ("bogus", "unknown attribute")]:
        with pytest.raises(SearchError, match=says):
            parse_order_by([bad])


def test_order_by_as_one_comma_separated_string() -> None:
    parsed = parse_order_list('metrics.loss DESC, params."a, b" asc,start_time')
    assert [(o.kind, o.key, o.ascending) for o in parsed] == [
        ("metric", "loss", False), ("param", "a, b", True), ("attribute", "start_time", True)]
    assert parse_order_list("  ") == []
    with pytest.raises(SearchError) as caught:
        parse_order_list("metrics.loss DESC params.lr")
    assert caught.value.offset == 18 and "expected ASC, DESC, a comma" in str(caught.value)


def _runs(engine: Engine, views: list[RunView]) -> None:
    rows = [msgspec.structs.asdict(v) for v in views]
    for row in rows:
        del row["number"]
    with engine.begin() as conn:
        conn.execute(insert(runs_table), rows)


def _view(run_id: str, submitted: float, **kw: Any) -> RunView:
    return RunView(run_id=run_id, project=kw.pop("project", "iris"), submitted=submitted, **kw)


FLEET = [
    _view("r1", 1.0, status="completed", started=2.0, ended=9.0, name="alpha",
          metrics={"Accuracy": 0.9, "loss": 0.1}, params={"reg": "0.5", "lr": "0.01"},
          tags={"team": "ml"}, user="ann"),
    _view("r2", 2.0, status="failed", started=3.0, ended=4.0, name="Beta",
          metrics={"Accuracy": 0.6, "loss": "NaN"}, params={"reg": "2"},
          tags={"team": "ML-ops"}, user="bob"),
    _view("r3", 3.0, status="running", started=4.0, name="gamma",
          metrics={"Accuracy": "high", "loss": 0.3}, params={"lr": "0.1"}, user="ann"),
    _view("r4", 4.0, status="submitted", name="", metrics={"Accuracy": 0.8}, project="mnist"),
    _view("r5", 5.0, status="canceled", started=6.0, ended=7.0, name="alphabet",
          metrics={"Accuracy": 1, "loss": "Infinity"}, params={"reg": "0.5"},
          tags={"team": "ml_x"}, archived=True),
]


def _ids(engine: Engine, text: str, order: list[str] | None = None, **kw: Any) -> list[str]:
    with engine.connect() as conn:
        order = ["attributes.run_id"] if order is None else order
        views, token = search_runs(conn, text, order, 100, None,
                                   archived=kw.pop("archived", "include"), **kw)
    assert token is None
    return [v.run_id for v in views]


@pytest.mark.parametrize(("text", "expected"), [
    ("metrics.Accuracy > 0.75", ["r1", "r4", "r5"]),
    ("metrics.Accuracy != 0.6", ["r1", "r4", "r5"]),  # r3's string value and missing keys: no
    ("metrics.loss < 100", ["r1", "r3"]),  # "NaN" and "Infinity" are not numbers
    ("metrics.Accuracy >= 1 and metrics.Accuracy <= 1", ["r5"]),
    ("metrics.Accuracy > 0.75 and params.reg = '0.5'", ["r1", "r5"]),
    ("params.reg != '2'", ["r1", "r5"]),  # a run without reg never matches
    # Beyond MLflow: a number compares the values that are numbers.
    ("metrics.Accuracy > 0.75 and params.reg < 1", ["r1", "r5"]),
    ("params.reg >= 2", ["r2"]),
    ("params.lr <= 0.01", ["r1"]),
    ("params.lr IS NULL", ["r2", "r4", "r5"]),
    ("params.lr IS NOT NULL", ["r1", "r3"]),
    ("tags.team LIKE 'ml%'", ["r1", "r5"]),  # LIKE is case-sensitive on both databases
    ("tags.team LIKE 'ml_x'", ["r5"]),
    ("tags.team ILIKE 'ml%'", ["r1", "r2", "r5"]),
    ("tags.team IN ('ml', 'ML-ops')", ["r1", "r2"]),
    ("attributes.run_name = 'alpha'", ["r1"]),
    ("attributes.run_name LIKE 'alpha%'", ["r1", "r5"]),
    ("`Run name` ILIKE 'beta'", ["r2"]),
    ("status = 'RUNNING'", ["r3"]),
    ("attributes.status IN ('FINISHED', 'KILLED')", ["r1", "r5"]),
    ("attributes.status != 'SCHEDULED'", ["r1", "r2", "r3", "r5"]),
    ("attributes.status = 'completed'", ["r1"]),  # runstream's own names too
    ("attributes.status LIKE 'FAIL%'", ["r2"]),
    ("attributes.start_time >= 3000", ["r2", "r3", "r5"]),
    ("attributes.end_time < 5000", ["r2"]),  # runs not ended never match
    ("attributes.user_id = 'ann'", ["r1", "r3"]),
    ("attributes.run_id NOT IN ('r1', 'r2')", ["r3", "r4", "r5"]),
    ("attributes.project = 'mnist'", ["r4"]),
    ("attributes.archived = 'true'", ["r5"]),
    ("attributes.archived != 'true'", ["r1", "r2", "r3", "r4"]),
    ("attributes.number = 2", ["r2"]),  # numbered within its project: r4 is mnist's first
    ("attributes.number = 1", ["r1", "r4"]),
    ("params.`reg` = \"0.5\" and tags.team = 'ml'", ["r1"]),
    ("", ["r1", "r2", "r3", "r4", "r5"]),
])
def test_filters_match_the_same_runs_on_sqlite_and_postgresql(
        engine: Engine, text: str, expected: list[str]) -> None:
    _runs(engine, FLEET)
    assert _ids(engine, text) == expected


def test_any_key_can_be_named_quotes_backslashes_and_path_characters_too(
        engine: Engine) -> None:
    odd = ['a"b', "x\\y", "$.z[0]", "it's", "with space"]
    _runs(engine, [_view("k1", 1.0, metrics=dict.fromkeys(odd, 2),
                         params=dict.fromkeys(odd, "v"), tags={"a.b": "c"}),
                   _view("k2", 2.0)])
    for key in odd:
        quoted = "`" + key.replace("\\", "\\\\") + "`"
        assert _ids(engine, f"metrics.{quoted} > 1 and params.{quoted} = 'v'") == ["k1"], key
        assert _ids(engine, f"params.{quoted} LIKE 'v'", [f"metrics.{quoted} DESC"]) == ["k1"]
    assert _ids(engine, "tags.a.b = 'c'") == ["k1"]


def test_archived_runs_are_hidden_unless_asked_and_projects_scope(engine: Engine) -> None:
    _runs(engine, FLEET)
    assert _ids(engine, "params.reg = '0.5'", archived="hide") == ["r1"]
    assert _ids(engine, "params.reg = '0.5'", archived="only") == ["r5"]
    assert _ids(engine, "", projects=["mnist"]) == ["r4"]


@pytest.mark.parametrize(("order", "expected"), [
    (["metrics.Accuracy DESC"], ["r5", "r1", "r4", "r2", "r3"]),  # r3: a string, last
    (["metrics.Accuracy ASC"], ["r2", "r4", "r1", "r5", "r3"]),
    (["metrics.loss"], ["r1", "r3", "r5", "r4", "r2"]),  # missing and non-numbers last,
    (["metrics.loss DESC"], ["r3", "r1", "r5", "r4", "r2"]),  # then newest first
    (["params.reg DESC", "attributes.run_id DESC"], ["r2", "r5", "r1", "r4", "r3"]),
    (["params.lr"], ["r1", "r3", "r5", "r4", "r2"]),
    (["tags.team"], ["r2", "r1", "r5", "r4", "r3"]),  # byte order: upper case first
    (["attributes.run_name"], ["r4", "r2", "r1", "r5", "r3"]),
    (["attributes.end_time DESC"], ["r1", "r5", "r2", "r4", "r3"]),
    (["start_time"], ["r1", "r2", "r3", "r5", "r4"]),
    ([], ["r5", "r4", "r3", "r2", "r1"]),  # newest first
])
def test_ordering_puts_missing_keys_last_in_both_directions(
        engine: Engine, order: list[str], expected: list[str]) -> None:
    _runs(engine, FLEET)
    assert _ids(engine, "", order) == expected


def test_paging_through_three_pages_with_tokens(engine: Engine) -> None:
    _runs(engine, [_view(f"p{i:02}", float(i % 3), metrics={"m": i}) for i in range(7)])
    seen, token, pages = [], None, 0
    with engine.connect() as conn:
        while True:
            views, token = search_runs(conn, "metrics.m >= 0", ["metrics.m DESC"], 3, token)
            seen += [v.run_id for v in views]
            pages += 1
            if token is None:
                break
        assert pages == 3 and seen == [f"p{i:02}" for i in range(6, -1, -1)]
        _, first = search_runs(conn, "metrics.m >= 0", ["metrics.m DESC"], 3, None)
        assert first is not None
        with pytest.raises(SearchError, match="belongs to another search"):
            search_runs(conn, "metrics.m >= 1", ["metrics.m DESC"], 3, first)
        with pytest.raises(SearchError, match="not one this server issued"):
            search_runs(conn, "", [], 3, "garbage!")
        with pytest.raises(SearchError, match="max_results is 0"):
            search_runs(conn, "", [], 0, None)
        numbered, _ = search_runs(conn, "", ["attributes.run_id"], 7, None)
        assert [v.number for v in numbered] == [1, 4, 6, 2, 5, 7, 3]  # by submission


# A tiny evaluator of the same comparisons over the views: the SQL must agree with it.
def _py_match(view: RunView, c: Comparison) -> bool:
    sources: dict[str, dict[str, Any]] = {"metric": view.metrics, "param": view.params,
                                          "tag": view.tags}
    source = sources[c.kind]
    have = source.get(c.key)
    if c.op == "IS NULL":
        return have is None
    if c.op == "IS NOT NULL":
        return have is not None
    if c.kind != "metric" and c.op in ("<", "<=", ">", ">="):
        have = float(have) if isinstance(have, str) and _JSON_NUMBER.match(have) else None
    if have is None or (c.kind == "metric" and not isinstance(have, int | float)):
        return False
    if c.op == "IN":
        return have in c.value  # type: ignore[operator]
    ops: dict[str, Any] = {"=": lambda a, b: a == b, "!=": lambda a, b: a != b,
                           "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
                           ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
    return bool(ops[c.op](have, c.value))


_JSON_NUMBER = re.compile(JSON_NUMBER)
_WORDS = st.sampled_from(["a", "b", "B", "ab", "0.5", "-2", "1e-3", "10", "01", "1.", "+1",
                          "1.2.3", "nan", ""])
_CLAUSE = st.one_of(
    st.tuples(st.just("metrics.m"), st.sampled_from(["=", "!=", "<", "<=", ">", ">="]),
              st.integers(-2, 2).map(str)),
    st.tuples(st.sampled_from(["params.p", "tags.t"]), st.sampled_from(["=", "!="]),
              _WORDS.map(lambda w: f"'{w}'")),
    st.tuples(st.sampled_from(["params.p", "tags.t"]), st.sampled_from(["<", "<=", ">", ">="]),
              st.sampled_from(["0", "0.5", "-1", "1e-3", "10"])),
    st.tuples(st.sampled_from(["params.p", "tags.t"]), st.sampled_from(["IS NULL",
                                                                        "IS NOT NULL"]),
              st.just("")),
    st.tuples(st.sampled_from(["params.p", "tags.t"]), st.just("IN"),
              st.lists(_WORDS, min_size=1, max_size=2).map(
                  lambda ws: "(" + ", ".join(f"'{w}'" for w in ws) + ")")),
)
_METRIC = st.one_of(st.none(), st.integers(-2, 2), st.sampled_from(["NaN", "x"]))
_TEXT = st.one_of(st.none(), _WORDS)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(clauses=st.lists(_CLAUSE, min_size=1, max_size=3),
       cells=st.lists(st.tuples(_METRIC, _TEXT, _TEXT), min_size=6, max_size=6))
def test_sql_agrees_with_a_python_evaluator(
        engine: Engine, clauses: list[tuple[str, str, str]],
        cells: list[tuple[Any, str | None, str | None]]) -> None:
    views = [_view(f"h{i}", float(i), metrics={} if m is None else {"m": m},
                   params={} if p is None else {"p": p}, tags={} if t is None else {"t": t})
             for i, (m, p, t) in enumerate(cells)]
    with engine.begin() as conn:
        conn.execute(runs_table.delete())
    _runs(engine, views)
    text = " and ".join(f"{i} {op} {v}".strip() for i, op, v in clauses)
    comparisons = parse_filter(text)
    expected = [v.run_id for v in views if all(_py_match(v, c) for c in comparisons)]
    assert _ids(engine, text) == expected, text


def test_mlflow_attributes_and_scopes_on_both_databases(engine: Engine) -> None:
    from runstream_server.projections.experiments import experiments_table

    _runs(engine, [_view("m1", 1.0, experiment_id="1", name="alpha", started=1.0004),
                   _view("m2", 2.0, experiment_id="1", name="", archived=True),
                   _view("m3", 3.0, experiment_id="2", name="gamma")])
    with engine.begin() as conn:
        conn.execute(insert(experiments_table), [{
            "experiment_id": "2", "ordinal": 2, "name": "gone", "former_names": [],
            "artifact_location": "", "lifecycle_stage": "deleted", "tags": {}, "created": 0.0,
            "updated": 0.0, "position": 1}])

    def ids(text: str, **kw: Any) -> list[str]:
        with engine.connect() as conn:
            views, _ = search_runs(conn, text, ["attributes.run_id"], 10, None,
                                   archived=kw.pop("archived", "include"), **kw)
        return [v.run_id for v in views]

    assert ids("attributes.artifact_uri = 'mlflow-artifacts:/1/m1/artifacts'") == ["m1"]
    assert ids("attributes.artifact_uri LIKE 'mlflow-artifacts:/2/%'") == ["m3"]
    assert ids("attributes.lifecycle_stage = 'deleted'") == ["m2", "m3"]  # archived; deleted exp
    assert ids("attributes.experiment_id = '1'") == ["m1", "m2"]
    assert ids("tags.`mlflow.runName` = 'gamma'") == ["m3"]  # the run's name
    assert ids("tags.`mlflow.runName` IS NULL") == ["m2"]  # no name
    assert ids("attributes.start_time = 1000") == ["m1"]  # whole milliseconds
    assert ids("", experiment_ids=["1"]) == ["m1", "m2"]
    assert ids("", experiment_ids=["1", "2"], archived="hide", lifecycle=True) == ["m1"]
    assert ids("", experiment_ids=["2"], archived="only", lifecycle=True) == ["m3"]
    with engine.connect() as conn:
        views, _ = search_runs(conn, "", [], 10, None, lifecycle=True, archived="include")
        assert {v.number for v in views} == {0}  # not numbered unless asked
        views, _ = search_runs(conn, "attributes.number = 1", [], 10, None, lifecycle=True,
                               archived="include")
        assert [v.run_id for v in views] == ["m1"]  # numbered when the filter asks (one project)
