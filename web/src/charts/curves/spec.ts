// The overlay chart's Vega-Lite spec, built here rather than fetched from the server: its
// axes' scale types follow the chart's own controls (log x, log y, what x is), which change
// with a click, and a spec per combination would cost a round trip each. What changes
// often — the zoomed x range, the smoothing weight, the highlighted runs — are parameters
// the browser sets on the live view (`view.signal`), so they never rebuild the chart.
//
// Rows (dataset "curves"): run_id, label, color, x, step, value, smooth (CurveRow).

import type { Spec } from "../specs";
import type { XMode } from "./store";

export const CURVES = "curves";
const HEIGHT = 260;
const HIGHLIGHTED = "indexof(highlight, datum.run_id) >= 0";

export interface CurveSpecOptions {
  metric: string;
  mode: XMode;
  logX: boolean;
  logY: boolean;
}

export function xTitle(mode: XMode): string {
  return mode === "step" ? "step" : mode === "time" ? "time" : "time since the run started (s)";
}

export function curveSpec({ metric, mode, logX, logY }: CurveSpecOptions): Spec {
  const yScale = { type: logY ? "log" : "linear", zero: false };
  const width = { condition: { test: HIGHLIGHTED, value: 3 }, value: 1.4 };
  const visible = (field: string) => (logY ? `isValid(datum.${field}) && datum.${field} > 0` : `isValid(datum.${field})`);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    width: "container",
    height: HEIGHT,
    autosize: { type: "fit-x", contains: "padding", resize: true },
    title: metric,
    // Rows come typed from the store: no parsing formula per row.
    data: { name: CURVES, format: { parse: null } },
    params: [
      { name: "highlight", value: [] },
      // [x0, x1] of the zoomed range, null for the whole series.
      { name: "xzoom", value: null },
      { name: "smoothing", value: 0 },
    ],
    transform: [
      { filter: "xzoom == null || (datum.x >= xzoom[0] && datum.x <= xzoom[1])" },
      ...(logX ? [{ filter: "datum.x > 0" }] : []),
    ],
    encoding: {
      x: {
        field: "x", type: "quantitative", title: xTitle(mode),
        scale: { type: logX ? "log" : "linear", zero: false, nice: false, domainRaw: { expr: "xzoom" } },
        axis: mode === "time" ? { labelExpr: "timeFormat(datum.value * 1000, '%H:%M:%S')" } : {},
      },
      color: { field: "color", type: "nominal", scale: null },
      detail: { field: "run_id", type: "nominal" },
    },
    layer: [
      {
        // The raw points: faint behind the smoothed line when smoothing is on.
        transform: [{ filter: visible("value") }],
        mark: { type: "line", clip: true, aria: false, interpolate: "linear", opacity: { expr: "smoothing > 0 ? 0.25 : 1" } },
        encoding: { y: { field: "value", type: "quantitative", title: metric, scale: yScale }, strokeWidth: width },
      },
      {
        transform: [{ filter: `smoothing > 0 && ${visible("smooth")}` }],
        mark: { type: "line", clip: true, aria: false, interpolate: "linear" },
        encoding: { y: { field: "smooth", type: "quantitative", title: metric, scale: yScale }, strokeWidth: width },
      },
    ],
    config: {
      // No ARIA description per point: formatting one for each of 100,000s of points
      // costs seconds; the chart's summary and legend are text beside it.
      aria: false,
      view: { stroke: null },
      axis: { labelFontSize: 11, titleFontSize: 11, grid: true, gridColor: "#eef0f3" },
      title: { fontSize: 13, anchor: "start" },
    },
    usermeta: { runstream: { kind: "series", dataset: CURVES, key: "run_id" } },
  };
}
