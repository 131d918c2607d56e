"""One filter language for every listing: the grammars of experiments, logged models and
the registry are the run filter's parser with other names allowed, and ``holds`` /
``sort_by`` are the one Python meaning of a comparison and an order."""

from __future__ import annotations

import pytest

from runstream_server.mlflow.logged_models import LOGGED_MODELS
from runstream_server.mlflow.registry import MODEL_VERSIONS, REGISTERED_MODELS
from runstream_server.search import (
    EXPERIMENTS,
    Comparison,
    Ordering,
    SearchError,
    holds,
    parse_filter,
    parse_order_by,
    sort_by,
)


@pytest.mark.parametrize(("grammar", "text", "at", "says"), [
    (LOGGED_MODELS, "name = 'm' and metrics.loss < 1", 15, "unknown kind `metrics`"),
    (LOGGED_MODELS, "creation_timestamp > 'yesterday'", 19, "compares numbers"),
    (LOGGED_MODELS, "color = 'red'", 0, "unknown attribute `color`"),
    (REGISTERED_MODELS, "name IN ('a')", 5, "IN cannot compare name"),
    (REGISTERED_MODELS, "params.x = '1'", 0, "unknown kind `params`"),
    (MODEL_VERSIONS, "version_number > 1 or name = 'x'", 19, "OR is not supported"),
    (EXPERIMENTS, "metrics.a > 1", 0, "unknown kind `metrics`"),
])
def test_a_bad_filter_of_any_listing_points_at_its_token(grammar: object, text: str, at: int,
                                                         says: str) -> None:
    with pytest.raises(SearchError) as caught:
        parse_filter(text, grammar)  # type: ignore[arg-type]
    assert says in str(caught.value)
    assert caught.value.offset == at


def test_the_listings_take_their_own_names() -> None:
    [c] = parse_filter("creation_time >= 1700000000000", LOGGED_MODELS)
    assert (c.kind, c.key, c.op, c.value) == ("attribute", "created", ">=", 1700000000000)
    [c] = parse_filter("tag.`mlflow.prompt.is_prompt` != 'true'", REGISTERED_MODELS)
    assert (c.kind, c.key) == ("tag", "mlflow.prompt.is_prompt")
    [c] = parse_filter("version_number IN ('1', 2)", MODEL_VERSIONS)  # quoted or not
    assert c.value == ("1", 2)
    [o] = parse_order_by(["timestamp DESC"], parse_order_grammar())
    assert (o.key, o.ascending) == ("last_updated_timestamp", False)


def parse_order_grammar() -> object:
    from runstream_server.mlflow.registry import _VERSION_ORDER

    return _VERSION_ORDER


def c(op: str, value: object = None, kind: str = "tag") -> Comparison:
    return Comparison(kind, "k", op, value, 0)  # type: ignore[arg-type]


def test_holds_gives_one_meaning_to_every_comparison() -> None:
    assert holds(c("=", "a"), "a") and not holds(c("=", "a"), "b")
    assert holds(c("LIKE", "a%"), "abc") and not holds(c("LIKE", "A%"), "abc")
    assert holds(c("ILIKE", "A%"), "abc")
    assert holds(c("IN", ("x", "y")), "y") and holds(c("NOT IN", ("x",)), "y")
    assert holds(c(">", 2, "attribute"), 3) and not holds(c(">", 2, "attribute"), 2)
    assert not holds(c(">", "2", "attribute"), 3)  # no number against text
    assert holds(c("IS NULL"), None) and not holds(c("IS NOT NULL"), None)
    # A missing tag matches nothing, except where a missing value differs from any value.
    assert not holds(c("!=", "true"), None)
    assert holds(c("!=", "true"), None, missing_differs=True)
    assert not holds(c("=", "true"), None, missing_differs=True)


def test_sort_by_orders_by_each_key_and_puts_missing_values_last() -> None:
    items = [{"a": 2, "b": "x"}, {"a": None, "b": "y"}, {"a": 1, "b": "y"}, {"a": 2, "b": "a"}]
    orders = [Ordering("attribute", "a", False), Ordering("attribute", "b", True)]
    got = sort_by(items, orders, lambda item, o: item[o.key])
    assert got == [{"a": 2, "b": "a"}, {"a": 2, "b": "x"}, {"a": 1, "b": "y"},
                   {"a": None, "b": "y"}]
