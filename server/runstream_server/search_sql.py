"""MLflow run filters and orderings (``runstream_server.search``) compiled to SQL over the
runs view, the same on SQLite and PostgreSQL, and ``search_runs``: a filtered, ordered
page of numbered run views with an opaque token for the next page.

Semantics follow MLflow: a run without a metric, parameter or tag never matches a
comparison on it (``!=`` included); numeric comparisons match numbers only (a metric
whose latest value is "NaN" or a string matches none); LIKE is case-sensitive, ILIKE
not; runs missing an ordering key sort last in both directions; ties are broken by
submission (newest first), then run id, so pages are stable.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from typing import Any, Literal

import msgspec
from sqlalchemy import (
    Connection,
    Float,
    Numeric,
    String,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB

from runstream_server.projections.experiments import experiments_table
from runstream_server.projections.runs import RunView, numbering, runs_table
from runstream_server.search import (
    ORDERING_OPS,
    Comparison,
    Ordering,
    SearchError,
    parse_filter,
    parse_order_by,
)

__all__ = ["RUN_NAME_TAG", "compile_filter", "compile_order_by", "decode_page_token",
           "deleted_experiments", "encode_page_token", "search_runs"]

Archived = Literal["hide", "only", "include"]

# runstream's run states as MLflow names them.
MLFLOW_STATUS = {"running": "RUNNING", "completed": "FINISHED", "failed": "FAILED",
                 "canceled": "KILLED", "submitted": "SCHEDULED"}
_STATUS_IN = {**{v: v for v in MLFLOW_STATUS.values()},
              **{k.upper(): v for k, v in MLFLOW_STATUS.items()}}
_FIELDS = frozenset(RunView.__struct_fields__)
# JSON's number grammar (RFC 8259), what SQLite's json_valid accepts as a number.
JSON_NUMBER = r"^-?(0|[1-9][0-9]*)([.][0-9]+)?([eE][-+]?[0-9]+)?$"
MAX_RESULTS = 50_000
RUN_NAME_TAG = "mlflow.runName"


def deleted_experiments() -> Any:
    """The ids of the deleted experiments, a subquery: their runs count as deleted."""
    e = experiments_table.c
    return select(e.experiment_id).where(e.lifecycle_stage == "deleted").scalar_subquery()


class _Columns:
    """The expressions a compiled filter reads: the runs table, the numbers, the dialect."""

    def __init__(self, number: Any, dialect: str) -> None:
        self.t, self.number, self.dialect = runs_table.c, number, dialect

    def json_text(self, column: Any, key: str) -> Any:
        """The string at ``key`` of a JSON object column, else NULL."""
        if self.dialect == "postgresql":
            return column.op("->>", return_type=String)(literal(key, String))
        return self._sqlite_member(column, key, ("text",))

    def json_number(self, column: Any, key: str) -> Any:
        """The value at ``key`` when it is a JSON number, else NULL (never a cast error)."""
        if self.dialect == "postgresql":
            typeof = (func.jsonb_typeof if isinstance(column.type, JSONB) else func.json_typeof)
            return case((typeof(column.op("->")(literal(key, String))) == "number",
                         cast(column.op("->>")(literal(key, String)), Float)))
        return self._sqlite_member(column, key, ("integer", "real"))

    def text_number(self, column: Any, key: str) -> Any:
        """The string at ``key`` as a number when it is one by JSON's number grammar (the
        same test on both databases: SQLite's json_valid, a regex of that grammar on
        PostgreSQL), else NULL (never a cast error)."""
        text = self.json_text(column, key)
        if self.dialect == "postgresql":
            return case((text.op("~")(JSON_NUMBER), cast(text, Numeric)))
        return case((and_(func.json_valid(text) == 1,
                          func.json_type(text).in_(("integer", "real"))), cast(text, Float)))

    @staticmethod
    def _sqlite_member(column: Any, key: str, types: tuple[str, ...]) -> Any:
        # json_each compares keys exactly: a JSON path cannot name every key (quotes).
        each = func.json_each(column).table_valued("key", "value", "type").alias()
        return (select(each.c.value).where(each.c.key == key, each.c.type.in_(types))
                .scalar_subquery())

    def attribute(self, key: str) -> Any:
        t = self.t
        if key == "artifact_uri":  # as convert.artifact_uri derives it
            return (literal("mlflow-artifacts:/", String) + t.experiment_id + "/" + t.run_id
                    + "/artifacts")
        if key == "lifecycle_stage":
            return case((or_(t.archived.is_(True), t.experiment_id.in_(deleted_experiments())),
                         "deleted"), else_="active")
        if key == "status":
            return case(*((t.status == ours, theirs) for ours, theirs in MLFLOW_STATUS.items()),
                        else_=func.upper(t.status))
        if key in ("start_time", "end_time"):
            # Whole milliseconds, as the MLflow API answers them (convert.run_info).
            return func.round((t.started if key == "start_time" else t.ended) * 1000)
        if key == "number":
            return self.number
        names = {"run_name": "name", "user_id": "user"}
        return t[names.get(key, key)]

    def of(self, kind: str, key: str) -> Any:
        if kind == "metric":
            return self.json_number(self.t.metrics, key)
        if kind == "tag" and key == RUN_NAME_TAG:  # MLflow's name tag is the run's name
            return case((self.t.name == "", None), else_=self.t.name)
        if kind in ("param", "tag"):
            return self.json_text(self.t.params if kind == "param" else self.t.tags, key)
        return self.attribute(key)

    def text_order(self, expr: Any) -> Any:
        """Byte order on both databases (PostgreSQL's default collation is not)."""
        return expr.collate("C") if self.dialect == "postgresql" else expr


def _like(expr: Any, pattern: str, dialect: str) -> Any:
    if dialect == "postgresql":
        return expr.like(pattern)
    # SQLite's LIKE ignores case: GLOB is its case-sensitive match.
    glob = "".join({"%": "*", "_": "?", "*": "[*]", "?": "[?]", "[": "[[]"}.get(ch, ch)
                   for ch in pattern)
    return expr.op("GLOB")(glob)


def _condition(c: Comparison, cols: _Columns) -> Any:
    if c.kind in ("param", "tag") and c.op in ORDERING_OPS:
        expr = cols.text_number(cols.t.params if c.kind == "param" else cols.t.tags, c.key)
    else:
        expr = cols.of(c.kind, c.key)
    op, value = c.op, c.value
    if c.kind == "attribute" and c.key == "archived":
        flag = str(value).lower() in ("true", "1")
        return expr.is_(true() if flag == (op == "=") else false())
    if c.kind == "attribute" and c.key == "status":
        def norm(v: Any) -> Any:
            return _STATUS_IN.get(str(v).upper(), str(v)) if op not in ("LIKE", "ILIKE") else v
        value = tuple(norm(v) for v in value) if isinstance(value, tuple) else norm(value)
    if op == "IS NULL":
        return expr.is_(None)
    if op == "IS NOT NULL":
        return expr.is_not(None)
    if op in ("IN", "NOT IN"):
        assert isinstance(value, tuple)
        inside = expr.in_(value)
        return and_(expr.is_not(None), inside if op == "IN" else not_(inside))
    if op == "LIKE":
        return _like(expr, str(value), cols.dialect)
    if op == "ILIKE":
        return expr.ilike(str(value))
    ops = {"=": expr.__eq__, "!=": expr.__ne__, "<": expr.__lt__, "<=": expr.__le__,
           ">": expr.__gt__, ">=": expr.__ge__}
    return ops[op](value)


def compile_filter(comparisons: Sequence[Comparison], number: Any, dialect: str) -> Any:
    """The WHERE clause of the comparisons (``None``: no condition)."""
    if not comparisons:
        return None
    cols = _Columns(number, dialect)
    return and_(*(_condition(c, cols) for c in comparisons))


def compile_order_by(orderings: Sequence[Ordering], number: Any, dialect: str) -> list[Any]:
    """ORDER BY terms: each key with its missing values last, then the stable tie-break."""
    cols, t, terms = _Columns(number, dialect), runs_table.c, []
    for o in orderings:
        expr = cols.of(o.kind, o.key)
        if o.kind in ("param", "tag") or (o.kind == "attribute" and o.key not in (
                "start_time", "end_time", "number", "archived", "status")):
            expr = cols.text_order(expr)
        terms.append(case((expr.is_(None), 1), else_=0))
        terms.append(expr.asc() if o.ascending else expr.desc())
    return [*terms, t.submitted.desc(), t.run_id]


class _Page(msgspec.Struct):
    o: int  # offset of the next page
    q: str  # the query's fingerprint


def _fingerprint(*parts: Any) -> str:
    raw = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def encode_page_token(offset: int, *query: Any) -> str:
    """An opaque token for the page at ``offset`` of the search ``query`` names."""
    return _encode_token(offset, _fingerprint(*query))


def decode_page_token(token: str, *query: Any) -> int:
    """The offset in ``token``; a ``SearchError`` if it was issued for another query."""
    return _decode_token(token, _fingerprint(*query))


def _encode_token(offset: int, fingerprint: str) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(_Page(offset, fingerprint))).decode()


def _decode_token(token: str, fingerprint: str) -> int:
    try:
        page = msgspec.json.decode(base64.urlsafe_b64decode(token.encode()), type=_Page)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise SearchError(f"page_token {token!r} is not one this server issued: pass the "
                          "next_page_token of the previous page unchanged") from None
    if page.q != fingerprint or page.o < 0:
        raise SearchError("page_token belongs to another search (its filter, order_by or "
                          "scope differ): repeat the search that issued it, or start again "
                          "without a page_token")
    return page.o


def search_runs(
    conn: Connection, filter: str, order_by: Sequence[str], max_results: int,
    page_token: str | None, *, projects: Sequence[str] | None = None,
    archived: Archived = "hide", experiment_ids: Sequence[str] | None = None,
    lifecycle: bool = False, keys_only: bool = False,
) -> tuple[list[Any], str | None]:
    """A page of the numbered run views matching ``filter`` in ``order_by``'s order, and
    the token of the next page (``None`` on the last). Raises ``SearchError``.
    ``keys_only``: the page's runs as (run id, position, experiment id), not views.

    ``experiment_ids``: only the runs of these experiments. ``lifecycle``: MLflow's
    deletion, where ``archived`` also counts the runs of deleted experiments as
    archived; and the runs are numbered only if the filter or the order asks for
    numbers (MLflow's clients never do, and numbering reads every run of the scope)."""
    if not 1 <= max_results <= MAX_RESULTS:
        raise SearchError(f"max_results is {max_results}: it must be between 1 and "
                          f"{MAX_RESULTS}")
    comparisons, orderings = parse_filter(filter), parse_order_by(order_by)
    scope = sorted(projects) if projects is not None else None
    experiments = sorted(experiment_ids) if experiment_ids is not None else None
    query_key: tuple[Any, ...] = (filter, list(order_by), scope, archived)
    if experiments is not None or lifecycle:
        query_key = (*query_key, experiments, lifecycle)
    fingerprint = _fingerprint(*query_key)
    offset = _decode_token(page_token, fingerprint) if page_token else 0
    numbers = not lifecycle or any(c.kind == "attribute" and c.key == "number"
                                   for c in comparisons) or any(
        o.kind == "attribute" and o.key == "number" for o in orderings)
    query, _ = numbered_query(conn, comparisons, orderings, projects=scope, archived=archived,
                              experiment_ids=experiments, lifecycle=lifecycle, numbers=numbers)
    if keys_only:  # the same page, each run as (run id, position): no view is decoded
        t = runs_table.c
        query = query.with_only_columns(t.run_id, t.position, t.experiment_id,
                                        maintain_column_froms=True)
    rows = conn.execute(query.limit(max_results + 1).offset(offset)).all()
    page = ([(r.run_id, r.position, r.experiment_id) for r in rows[:max_results]] if keys_only
            else [view_of(r) for r in rows[:max_results]])
    more = len(rows) > max_results
    return page, (_encode_token(offset + max_results, fingerprint) if more else None)


def numbered_query(conn: Connection, comparisons: Sequence[Comparison],
                   orderings: Sequence[Ordering], *, projects: Sequence[str] | None,
                   archived: Archived, experiment_ids: Sequence[str] | None = None,
                   lifecycle: bool = False, numbers: bool = True) -> tuple[Any, Any]:
    """The ordered SELECT of the matching runs with their numbers (over every run of
    their projects, whatever the filter shows; 0 each when not ``numbers``), and its
    WHERE clause."""
    t, dialect = runs_table.c, conn.dialect.name
    conds = []
    if experiment_ids is not None:
        conds.append(t.experiment_id.in_(experiment_ids))
    if projects is not None:
        conds.append(t.project.in_(projects))
    deleted: Any = t.archived.is_(True)
    if lifecycle:
        deleted = or_(deleted, t.experiment_id.in_(deleted_experiments()))
    if archived == "hide":
        conds.append(not_(deleted))
    elif archived == "only":
        conds.append(deleted)
    if numbers:
        counted = select(t.run_id, numbering())
        if projects is not None:
            counted = counted.where(t.project.in_(projects))
        numbered = counted.subquery("numbers")
        number: Any = numbered.c.number
        query = select(runs_table, number).join_from(runs_table, numbered,
                                                     numbered.c.run_id == t.run_id)
    else:
        number = literal(0).label("number")
        query = select(runs_table, number)
    compiled = compile_filter(comparisons, number, dialect)
    if compiled is not None:
        conds.append(compiled)
    where = and_(*conds) if conds else None
    if where is not None:
        query = query.where(where)
    return query.order_by(*compile_order_by(orderings, number, dialect)), where


def view_of(row: Any) -> RunView:
    return RunView(**{k: v for k, v in row._asdict().items() if k in _FIELDS})
