"""Reading charts in the page: where each point of a Vega chart is drawn."""

from __future__ import annotations

from typing import Any

# Walks the chart's scenegraph, adding up group offsets, to the page coordinates
# of every clickable point (symbol marks with a run id).
POINTS_JS = """(name) => {
  const view = window.__runstreamCharts && window.__runstreamCharts.get(name);
  if (!view) return null;
  const out = [];
  const walk = (mark, dx, dy) => {
    for (const item of mark.items || []) {
      if (mark.marktype === "group") {
        for (const child of item.items || []) walk(child, dx + (item.x || 0), dy + (item.y || 0));
      } else if (item.datum && typeof item.datum.run_id === "string" && item.x !== undefined) {
        out.push({x: dx + item.x, y: dy + item.y, datum: item.datum});
      }
    }
  };
  walk(view.scenegraph().root, 0, 0);
  const rect = view.container().querySelector("canvas").getBoundingClientRect();
  const [ox, oy] = view.origin();  // the plot's origin, inside the view's padding
  const pad = view.padding();
  const left = rect.left + pad.left + ox;
  const top = rect.top + pad.top + oy;
  return out.map((p) => ({x: left + p.x, y: top + p.y, datum: p.datum}));
}"""


def chart_points(page: Any, name: str) -> list[dict[str, Any]]:
    points: list[dict[str, Any]] | None = page.evaluate(POINTS_JS, name)
    return points or []


def click_point(page: Any, point: dict[str, Any], *, add: bool = False) -> None:
    if add:
        page.keyboard.down("Control")
    page.mouse.click(point["x"], point["y"])
    if add:
        page.keyboard.up("Control")
