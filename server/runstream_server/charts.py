"""Chart specs for the web UI: Vega-Lite, written with vega-altair.

A spec carries no data. Each reads one *named dataset* whose rows the browser
inserts, and later updates, with Vega changesets — so a live chart is never
re-fetched or re-embedded. Every spec declares a ``highlight`` parameter (a
list of run ids) that the browser sets from its selection; marks of those runs
are drawn emphasised in every chart at once. ``usermeta`` tells the browser
which dataset to fill and which field keys a row.

Row shapes (fields are fixed, so metric names never need escaping):

* ``runs``   — one row per run: ``run_id, number, label, status, value`` (scalar
  charts) or ``duration`` (the status chart);
* ``values`` — one row per array element: ``run_id, label, index, value``;
* ``points`` — one row per logged step: ``run_id, label, step, value``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import altair as alt

__all__ = ["STATUS_COLORS", "ChartKind", "array_chart", "chart", "scalar_chart",
           "series_chart", "status_chart"]

ChartKind = Literal["scalar", "status", "array", "series"]

STATUS_COLORS: Mapping[str, str] = {
    "submitted": "#9aa5b1", "running": "#2f80ed", "completed": "#27ae60",
    "failed": "#d64545", "canceled": "#c69026",
}
HIGHLIGHT = "#ff7a00"
BASE = "#4c78a8"
HEIGHT = 170
IS_HIGHLIGHTED = "indexof(highlight, datum.run_id) >= 0"


def _highlight() -> Any:
    return alt.param(name="highlight", value=[])


def _finish(chart: Any, dataset: str, kind: ChartKind, title: str) -> dict[str, Any]:
    spec: dict[str, Any] = chart.properties(
        width="container", height=HEIGHT, title=title,
    ).configure_view(stroke=None).configure_axis(
        labelFontSize=11, titleFontSize=11, grid=True, gridColor="#eef0f3",
    ).configure_title(fontSize=13, anchor="start").to_dict()
    spec.pop("datasets", None)
    # Re-lay out when data arrives (axis labels change width): "resize" is needed
    # because rows are streamed in after the spec is embedded empty.
    spec["autosize"] = {"type": "fit-x", "contains": "padding", "resize": True}
    spec["usermeta"] = {"runstream": {"kind": kind, "dataset": dataset, "key": "run_id"}}
    return spec


def _tooltip(*extra: Any) -> list[Any]:
    return [alt.Tooltip("label:N", title="run"), *extra, alt.Tooltip("status:N")]


def scalar_chart(metric: str) -> dict[str, Any]:
    """A metric's latest value for every run, by run number; points are clickable."""
    chart = alt.Chart(alt.NamedData(name="runs")).mark_circle(
        cursor="pointer", opacity=0.85,
    ).encode(
        x=alt.X("number:Q", title="run number", axis=alt.Axis(format="d", tickMinStep=1),
                scale=alt.Scale(zero=False, nice=False, padding=8)),
        y=alt.Y("value:Q", title=metric, scale=alt.Scale(zero=False, padding=8)),
        color=alt.condition(IS_HIGHLIGHTED, alt.value(HIGHLIGHT), alt.value(BASE)),
        size=alt.condition(IS_HIGHLIGHTED, alt.value(150), alt.value(55)),
        stroke=alt.condition(IS_HIGHLIGHTED, alt.value("#222"), alt.value(None)),
        order=alt.condition(IS_HIGHLIGHTED, alt.value(1), alt.value(0)),
        tooltip=_tooltip(alt.Tooltip("value:Q", title=metric, format=".4~g")),
    ).add_params(_highlight())
    return _finish(chart, "runs", "scalar", metric)


def status_chart() -> dict[str, Any]:
    """Every run's duration by run number, coloured by status."""
    domain = list(STATUS_COLORS)
    chart = alt.Chart(alt.NamedData(name="runs")).mark_bar(cursor="pointer", continuousBandSize=5)
    chart = chart.encode(
        x=alt.X("number:Q", title="run number", axis=alt.Axis(format="d", tickMinStep=1),
                scale=alt.Scale(zero=False, nice=False, padding=8)),
        y=alt.Y("duration:Q", title="duration (s)"),
        color=alt.Color("status:N", scale=alt.Scale(domain=domain,
                                                    range=[STATUS_COLORS[s] for s in domain]),
                        legend=alt.Legend(orient="top", title=None)),
        opacity=alt.condition(IS_HIGHLIGHTED, alt.value(1.0), alt.value(0.75)),
        # Outlined in black: an orange outline would read as "canceled".
        stroke=alt.condition(IS_HIGHLIGHTED, alt.value("#222"), alt.value(None)),
        strokeWidth=alt.condition(IS_HIGHLIGHTED, alt.value(2), alt.value(0)),
        tooltip=_tooltip(alt.Tooltip("duration:Q", title="duration (s)", format=".1f")),
    ).add_params(_highlight())
    return _finish(chart, "runs", "status", "status and duration")


def _lines(dataset: str, x: str, x_title: str, metric: str, kind: ChartKind) -> dict[str, Any]:
    chart = alt.Chart(alt.NamedData(name=dataset)).mark_line(point=False, interpolate="linear")
    chart = chart.encode(
        x=alt.X(f"{x}:Q", title=x_title),
        y=alt.Y("value:Q", title=metric, scale=alt.Scale(zero=False)),
        color=alt.Color("label:N", title="run", legend=alt.Legend(orient="top")),
        strokeWidth=alt.condition(IS_HIGHLIGHTED, alt.value(3.5), alt.value(1.8)),
        detail="run_id:N",
        tooltip=[alt.Tooltip("label:N", title="run"), alt.Tooltip(f"{x}:Q", title=x_title),
                 alt.Tooltip("value:Q", title=metric, format=".4~g")],
    ).add_params(_highlight())
    return _finish(chart, dataset, kind, metric)


def array_chart(metric: str) -> dict[str, Any]:
    """An array metric (e.g. Precision over thresholds), one line per run (overlaid)."""
    return _lines("values", "index", "index", metric, "array")


def series_chart(metric: str) -> dict[str, Any]:
    """A stepped scalar series (e.g. loss per epoch), one line per run."""
    return _lines("points", "step", "step", metric, "series")


def chart(kind: ChartKind, metric: str = "") -> dict[str, Any]:
    if kind == "status":
        return status_chart()
    if not metric:
        raise ValueError(f"a {kind} chart needs a metric name")
    return {"scalar": scalar_chart, "array": array_chart, "series": series_chart}[kind](metric)
