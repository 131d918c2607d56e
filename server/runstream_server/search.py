"""MLflow's run filter language, parsed once: a recursive-descent parser over the tokens
of ``runstream_server.search_tokens`` that turns ``metrics.Accuracy > 0.75 and params.reg
= '1'`` into a list of ``Comparison`` (the clauses are ANDed; MLflow has no OR), and
``order_by`` strings (``"metrics.loss DESC"``) into ``Ordering``.
``runstream_server.search_sql`` compiles both to SQL.

Grammar (keywords case-insensitive)::

    filter     := [ comparison { AND comparison } ]
    comparison := ident ( op value | [NOT] IN list | IS [NOT] NULL )
    ident      := [ kind "." ] key            kind: metrics | params | tags | attributes (+ aliases)
    key        := word | `quoted` | "quoted"
    op         := = | != | < | <= | > | >= | LIKE | ILIKE
    value      := 'string' | "string" | number
    list       := "(" value { "," value } ")"

An identifier without a kind is an attribute (``status = 'RUNNING'``), as in MLflow.
Every error is a ``SearchError`` that names the offending token and shows the filter
with a caret under it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from runstream_server.search_tokens import SearchError, Token, Value, column_of, describe, tokenize

__all__ = ["ATTRIBUTES", "EXPERIMENTS", "EXPERIMENT_ATTRIBUTES", "RUNS", "Comparison", "Grammar",
           "Kind", "Ordering", "SearchError", "Type", "holds", "keyed", "like",
           "parse_experiment_filter", "parse_experiment_order_by", "parse_filter",
           "parse_order_by", "parse_order_list", "sort_by", "tokenize"]

Kind = Literal["metric", "param", "tag", "attribute"]
T = TypeVar("T")

_KINDS: dict[str, Kind] = {
    "metric": "metric", "metrics": "metric",
    "param": "param", "params": "param", "parameter": "param", "parameters": "param",
    "tag": "tag", "tags": "tag",
    "attribute": "attribute", "attributes": "attribute", "attr": "attribute", "run": "attribute",
}

# Attribute name (MLflow's, its aliases and runstream's own) → (canonical name, type).
ATTRIBUTES: dict[str, tuple[str, Literal["string", "number", "bool"]]] = {
    "run_id": ("run_id", "string"), "run_name": ("run_name", "string"),
    "run name": ("run_name", "string"), "Run name": ("run_name", "string"),
    "Run Name": ("run_name", "string"), "name": ("run_name", "string"),
    "status": ("status", "string"), "user_id": ("user_id", "string"),
    "user": ("user_id", "string"), "start_time": ("start_time", "number"),
    "created": ("start_time", "number"), "Created": ("start_time", "number"),
    "end_time": ("end_time", "number"), "project": ("project", "string"),
    "experiment_id": ("experiment_id", "string"), "script": ("script", "string"),
    "target": ("target", "string"), "host": ("host", "string"),
    "number": ("number", "number"), "archived": ("archived", "bool"),
    # MLflow's: derived from the experiment and the run id (mlflow-artifacts:/<exp>/<run>/
    # artifacts), and "deleted" for an archived run or a run of a deleted experiment.
    "artifact_uri": ("artifact_uri", "string"), "lifecycle_stage": ("lifecycle_stage", "string"),
}

# An experiment's attributes (MLflow's ``search_experiments``): name, id, times in ms.
EXPERIMENT_ATTRIBUTES: dict[str, tuple[str, Literal["string", "number", "bool"]]] = {
    "name": ("name", "string"), "experiment_id": ("experiment_id", "string"),
    "creation_time": ("creation_time", "number"),
    "last_update_time": ("last_update_time", "number"),
}
_EXPERIMENT_TAG_OPS = frozenset({"=", "!=", "LIKE", "ILIKE", "IS NULL", "IS NOT NULL"})

_NUMERIC_OPS = frozenset({"=", "!=", "<", "<=", ">", ">="})
_STRING_OPS = frozenset({"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"})
_KEYED_OPS = _STRING_OPS | {"IS NULL", "IS NOT NULL"}
ORDERING_OPS = frozenset({"<", "<=", ">", ">="})


@dataclass(frozen=True)
class Comparison:
    kind: Kind
    key: str  # a metric/param/tag name, or an attribute's canonical name
    op: str  # =, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL, IS NOT NULL
    value: Value | tuple[Value, ...] | None
    at: int  # where the identifier starts


@dataclass(frozen=True)
class Ordering:
    kind: Kind
    key: str
    ascending: bool


Type = Literal["string", "number", "bool", "any"]  # any: a string or a number
Rules = Callable[[Kind, str, str], tuple[frozenset[str], Type]]


@dataclass(frozen=True)
class Grammar:
    """What the filters and orderings of one listing may name: the same language (one
    parser) over runs, experiments, logged models, registered models, model versions.

    ``kinds``: the prefixes it knows (``tags.`` …) → kind; an identifier without one is
    an attribute, of ``attributes`` (name or alias → canonical name, type). ``rules``:
    the operators a (kind, key, op) allows and the type its values must have."""

    what: str  # "runs", "experiments", …: for messages
    kinds: Mapping[str, Kind]
    attributes: Mapping[str, tuple[str, Type]]
    rules: Rules
    example: str  # identifiers to suggest, e.g. "metrics.accuracy, params.lr or tags.team"

    def attribute(self, name: str, text: str, at: int) -> str:
        found = self.attributes.get(name) or self.attributes.get(name.lower())
        if found is None:
            known = ", ".join(sorted({canon for canon, _ in self.attributes.values()}))
            raise SearchError(f"unknown attribute `{name}` {column_of(text, at)}: {self.what} "
                              f"have {known}", text, at)
        return found[0]

    def type_of(self, key: str) -> Type:
        """The type of a canonical attribute."""
        return next((t for canon, t in self.attributes.values() if canon == key), "string")


def keyed(ops: frozenset[str], number_attributes_ops: frozenset[str] = _NUMERIC_OPS,
          string_attribute_ops: frozenset[str] = _STRING_OPS,
          attributes: Mapping[str, tuple[str, Type]] | None = None) -> Rules:
    """Rules for a listing whose params and tags take ``ops`` (string values) and whose
    attributes take ``number_attributes_ops`` or ``string_attribute_ops`` by type."""

    def rules(kind: Kind, key: str, op: str) -> tuple[frozenset[str], Type]:
        if kind != "attribute":
            return ops, "string"
        typ = next((t for canon, t in (attributes or {}).values() if canon == key), "string")
        if typ == "number":
            return number_attributes_ops, "number"
        return string_attribute_ops, "string"

    return rules


class _Parser:
    """A filter or an order_by of ``grammar``."""

    def __init__(self, text: str, grammar: Grammar) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.grammar = grammar

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def fail(self, tok: Token, expected: str) -> SearchError:
        return SearchError(f"unexpected {describe(tok)} {column_of(self.text, tok.at)}: "
                           f"expected {expected}", self.text, tok.at)

    def at_end(self) -> bool:
        return self.tok.kind == "end"

    def is_word(self, *words: str) -> bool:
        return self.tok.kind == "word" and self.tok.value in words

    def filter(self) -> list[Comparison]:
        if self.at_end():
            return []
        found = [self.comparison()]
        while not self.at_end():
            if self.is_word("OR"):
                raise SearchError(f"OR is not supported {column_of(self.text, self.tok.at)}: "
                                  "MLflow's filter language only joins comparisons with AND "
                                  "(run two searches instead)", self.text, self.tok.at)
            if not self.is_word("AND"):
                raise self.fail(self.tok, "AND between two comparisons")
            self.take()
            found.append(self.comparison())
        return found

    def identifier(self) -> tuple[Kind, str, Token]:
        g = self.grammar
        tok = self.take()
        if tok.kind not in ("ident", "word") or (tok.kind == "word" and tok.value in (
                "AND", "OR", "NOT", "IN", "IS", "LIKE", "ILIKE", "NULL")):
            raise self.fail(tok, f"a name such as {g.example}")
        if tok.kind == "word" or not tok.entity:
            kind: Kind = "attribute"
            key = tok.text if tok.kind == "word" else str(tok.value)
        else:
            found = g.kinds.get(tok.entity) or g.kinds.get(tok.entity.lower())
            if found is None and tok.entity.lower() in ("dataset", "datasets"):
                raise SearchError(
                    f"dataset filters are not supported {column_of(self.text, tok.at)}: runstream "
                    "does not record MLflow dataset inputs as searchable yet", self.text, tok.at)
            if found is None:
                known = sorted({k for k in g.kinds if k.endswith("s")} or set(g.kinds))
                raise SearchError(
                    f"unknown kind `{tok.entity}` {column_of(self.text, tok.at)}: {g.what} are "
                    f"searched by {', '.join(k + '.' for k in known)} or an attribute",
                    self.text, tok.at)
            kind, key = found, str(tok.value)
        if kind == "attribute":
            key = g.attribute(key, self.text, tok.at)
        return kind, key, tok

    def ordering(self) -> Ordering:
        kind, key, _ = self.identifier()
        ascending = True
        if self.is_word("ASC", "DESC"):
            ascending = self.take().value == "ASC"
        return Ordering(kind, key, ascending)

    def comparison(self) -> Comparison:
        kind, key, ident = self.identifier()
        at = self.tok
        if self.is_word("IS"):
            self.take()
            negate = self.is_word("NOT")
            if negate:
                self.take()
            if not self.is_word("NULL"):
                raise self.fail(self.tok, "NULL after IS" + (" NOT" if negate else ""))
            self.take()
            op, value = ("IS NOT NULL" if negate else "IS NULL"), None
            self.check(kind, key, op, value, at, ident)
            return Comparison(kind, key, op, value, ident.at)
        if self.is_word("NOT"):
            self.take()
            if not self.is_word("IN"):
                raise self.fail(self.tok, "IN after NOT")
            op = "NOT IN"
        elif self.is_word("IN", "LIKE", "ILIKE") or self.tok.kind == "op":
            op = str(self.tok.value)
        else:
            raise self.fail(self.tok, "a comparison (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, "
                                      "IS NULL)")
        self.take()
        val: Value | tuple[Value, ...]
        val = self.values() if op in ("IN", "NOT IN") else self.value()
        self.check(kind, key, op, val, at, ident)
        return Comparison(kind, key, op, val, ident.at)

    def value(self) -> Value:
        tok = self.take()
        if tok.kind in ("string", "number"):
            return tok.value
        raise self.fail(tok, "a value: a 'quoted string' or a number")

    def values(self) -> tuple[Value, ...]:
        tok = self.take()
        if tok.text != "(":
            raise self.fail(tok, "( to start a list such as ('a', 'b')")
        items = [self.value()]
        while self.tok.text == ",":
            self.take()
            items.append(self.value())
        tok = self.take()
        if tok.text != ")":
            raise self.fail(tok, ", or ) in the list")
        return tuple(items)

    def check(self, kind: Kind, key: str, op: str, value: Value | tuple[Value, ...] | None,
              at: Token, ident: Token) -> None:
        allowed, wants = self.grammar.rules(kind, key, op)
        if op not in allowed:
            shown = ", ".join(sorted(allowed))
            raise SearchError(f"{op} cannot compare {ident.text} {column_of(self.text, at.at)}: "
                              f"{_noun(kind, key)} allows {shown}", self.text, at.at)
        items = value if isinstance(value, tuple) else (() if value is None else (value,))
        for item in items if wants != "any" else ():
            if wants == "number" and not isinstance(item, int | float):
                raise SearchError(f"{ident.text} compares numbers, not {item!r} "
                                  f"{column_of(self.text, at.at)}: write e.g. {ident.text} "
                                  f"{op} 0.5", self.text, at.at)
            if wants == "string" and not isinstance(item, str):
                raise SearchError(f"{ident.text} compares strings {column_of(self.text, at.at)}: "
                                  f"quote the value, e.g. {ident.text} {op} '{item}'",
                                  self.text, at.at)
            if wants == "bool" and str(item).lower() not in ("true", "false", "1", "0"):
                raise SearchError(f"{ident.text} is true or false, not {item!r} "
                                  f"{column_of(self.text, at.at)}", self.text, at.at)


def _noun(kind: Kind, key: str) -> str:
    if kind == "attribute":
        return f"the attribute {key}"
    return {"metric": "a metric", "param": "a parameter", "tag": "a tag"}[kind]


def _rules(kind: Kind, key: str, op: str = "") -> tuple[frozenset[str], Type]:
    if kind == "metric":
        return _NUMERIC_OPS, "number"
    if kind in ("param", "tag"):
        # Beyond MLflow: `params.reg < 1` compares the values that are numbers (JSON's
        # number grammar, e.g. "0.5", "-2", "1e-3"); other values never match.
        return _KEYED_OPS | ORDERING_OPS, "number" if op in ORDERING_OPS else "string"
    kind_of = ATTRIBUTES[key][1] if key in ATTRIBUTES else "string"
    if kind_of == "number":
        return _NUMERIC_OPS, "number"
    if kind_of == "bool":
        return frozenset({"=", "!="}), "bool"
    return _STRING_OPS, "string"


def _experiment_rules(kind: Kind, key: str, op: str = "") -> tuple[frozenset[str], Type]:
    if kind == "tag":
        return _EXPERIMENT_TAG_OPS, "string"
    if EXPERIMENT_ATTRIBUTES[key][1] == "number":
        return _NUMERIC_OPS, "number"
    if key == "experiment_id":
        return _STRING_OPS, "string"
    return _STRING_OPS - {"IN", "NOT IN"}, "string"


RUNS = Grammar("runs", _KINDS, ATTRIBUTES, _rules,
               "metrics.accuracy, params.lr, tags.team or attributes.status")
EXPERIMENTS = Grammar(
    "experiments", {k: v for k, v in _KINDS.items() if v in ("tag", "attribute")},
    EXPERIMENT_ATTRIBUTES, _experiment_rules, "name, creation_time or tags.team")


def parse_filter(text: str, grammar: Grammar = RUNS) -> list[Comparison]:
    """The ANDed comparisons of a filter ("" or blanks: none); a run filter by default."""
    return _Parser(text, grammar).filter()


def parse_experiment_filter(text: str) -> list[Comparison]:
    """The ANDed comparisons of an MLflow experiment filter (``name LIKE 'iris%' and
    tags.team = 'ml'``; attributes name, experiment_id, creation_time, last_update_time)."""
    return parse_filter(text, EXPERIMENTS)


def parse_experiment_order_by(clauses: Sequence[str]) -> list[Ordering]:
    """``search_experiments``' ``order_by``: attributes only (``creation_time DESC``)."""
    found = parse_order_by(clauses, EXPERIMENTS)
    for o in found:
        if o.kind != "attribute":
            raise SearchError(f"experiments are ordered by an attribute (name, experiment_id, "
                              f"creation_time, last_update_time), not by {o.kind} {o.key!r}")
    return found


def holds(c: Comparison, have: Value | None, *, missing_differs: bool = False) -> bool:
    """Whether a value (``None``: the item has no such param, tag or attribute) passes
    ``c``, for listings matched in Python (experiments, logged models, the registry);
    runs are matched in SQL (``search_sql``) with the same meaning. A missing value
    passes IS NULL only, unless ``missing_differs``: then it also passes != and NOT IN
    (the registry's: MLflow's client adds ``tags.`mlflow.prompt.is_prompt` != 'true'``
    to every model search)."""
    if c.op in ("IS NULL", "IS NOT NULL"):
        return (have is None) == (c.op == "IS NULL")
    if have is None:
        return missing_differs and c.op in ("!=", "NOT IN")
    if c.op in ("IN", "NOT IN"):
        inside = have in (c.value if isinstance(c.value, tuple) else (c.value,))
        return inside == (c.op == "IN")
    if c.op in ("LIKE", "ILIKE"):
        return like(str(have), str(c.value), ignore_case=c.op == "ILIKE")
    want = c.value
    if isinstance(have, int | float) and not isinstance(want, int | float):
        return False  # the parser makes numbers of a number attribute's values
    if c.op == "=":
        return have == want
    if c.op == "!=":
        return have != want
    try:
        return bool({"<": have < want, "<=": have <= want, ">": have > want,  # type: ignore[operator]
                     ">=": have >= want}[c.op])  # type: ignore[operator]
    except TypeError:
        return False


def sort_by(items: Sequence[T], orderings: Sequence[Ordering],
            field: Callable[[T, Ordering], Any]) -> list[T]:
    """``items`` in ``orderings``' order (the first the most significant; items keep
    their given order between equals), those without a field's value last, as MLflow
    orders them."""
    result = list(items)
    for o in reversed(orderings):
        have = [i for i in result if field(i, o) is not None]
        rest = [i for i in result if field(i, o) is None]
        have.sort(key=lambda i, o=o: field(i, o), reverse=not o.ascending)  # type: ignore[misc]
        result = have + rest
    return result


def like(text: str, pattern: str, *, ignore_case: bool = False) -> bool:
    """SQL's LIKE in Python: ``%`` any run of characters, ``_`` one character."""
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch)
                    for ch in pattern)
    return re.fullmatch(regex, text, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) \
        is not None


def parse_order_by(clauses: Sequence[str], grammar: Grammar = RUNS) -> list[Ordering]:
    """MLflow's ``order_by``: each ``"<ident> [ASC|DESC]"`` (ascending by default)."""
    found = []
    for clause in clauses:
        p = _Parser(clause, grammar)
        if p.at_end():
            raise SearchError("empty order_by clause: write e.g. metrics.loss DESC")
        found.append(p.ordering())
        if not p.at_end():
            raise p.fail(p.tok, "ASC, DESC or the end of the order_by clause")
    return found


def parse_order_list(text: str) -> list[Ordering]:
    """Comma-separated ``order_by`` clauses in one string (``"metrics.loss DESC,
    params.lr"``), as the CLI and ``GET /api/runs`` take them ("": none)."""
    p = _Parser(text, RUNS)
    if p.at_end():
        return []
    found = [p.ordering()]
    while p.tok.text == "," and p.tok.kind == "punct":
        p.take()
        found.append(p.ordering())
    if not p.at_end():
        raise p.fail(p.tok, "ASC, DESC, a comma or the end of order_by")
    return found
