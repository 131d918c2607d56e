// Curves across runs: one stepped metric, a line per run in the run's colour, overlaid.
// History comes from /api/series (downsampled by the server to about three points per
// pixel, for the range shown); live points come from each running run's topic and are
// added to the chart as changesets. Brushing an x range zooms (and asks the server for
// that range's detail); the zoom is a parameter of the live view, so arriving points
// never move it and never rebuild the chart.

import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import type { View } from "vega";
import type { LiveEvent, MetricsLoggedData } from "../api/types";
import { useModel } from "../app/context";
import { runColor } from "../charts/curves/colors";
import { curveSpec, xTitle } from "../charts/curves/spec";
import { CurveStore, type CurveRow, type RunValue, type XMode } from "../charts/curves/store";
import { ZoomState, brushed, type Range, type SeriesAnswer } from "../charts/curves/zoom";
import { VegaChart } from "../charts/VegaChart";
import { releaseCharts } from "../charts/vegaLib";
import { fmtValue } from "../lib/format";
import { FrameBatcher } from "../state/batch";
import { askSeries } from "./curvesFirst";

declare global {
  interface Window {
    /** When the overlay's last /api/series request was made, answered and stored (ms). */
    __runstreamCurves?: { asked: number; answered: number; stored: number };
  }
}

export interface CurveRunRef {
  run_id: string;
  number: number;
  status: string;
  /** Epoch seconds the run started (relative time counts from it). */
  started: number | null;
  /** The run view's position: live points are followed from there. */
  position: number;
}

/** Metric names that can be curves: numeric, and not the agent's system metrics. */
export function curveMetrics(names: Iterable<string>): string[] {
  return [...new Set(names)].filter((n) => !n.startsWith("sys/")).sort((a, b) => a.localeCompare(b));
}

const LIVE = new Set(["submitted", "running"]);
const HOVER_ROWS = 12;
const COMPACT_MS = 5_000;

interface Plot {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Where the plot is, in the chart box's pixels. */
function plotOf(view: View, box: HTMLElement): Plot | null {
  const canvas = box.querySelector("canvas");
  if (!canvas) return null;
  const [ox, oy] = view.origin();
  const p = view.padding();
  const pad = typeof p === "number" ? { left: p, top: p } : p;
  const b = box.getBoundingClientRect();
  const c = canvas.getBoundingClientRect();
  return { left: c.left - b.left + (pad.left ?? 0) + ox, top: c.top - b.top + (pad.top ?? 0) + oy,
    width: view.width(), height: view.height() };
}

export function Curves(props: {
  runs: readonly CurveRunRef[];
  metrics: readonly string[];
  metric: string;
  onMetric: (metric: string) => void;
  highlight?: readonly string[];
}) {
  const { runs, metrics, metric, onMetric, highlight } = props;
  const model = useModel();
  const [mode, setMode] = useState<XMode>("step");
  const [logX, setLogX] = useState(false);
  const [logY, setLogY] = useState(false);
  const [smoothing, setSmoothing] = useState(0);
  const [range, setRange] = useState<Range | null>(null);
  const [version, setVersion] = useState(0);
  const [expected, setExpected] = useState<number | null>(null);
  const [hover, setHover] = useState<{ px: number; x: number; values: RunValue[] } | null>(null);
  const [drag, setDrag] = useState<{ from: number; to: number } | null>(null);
  const box = useRef<HTMLDivElement>(null);
  const view = useRef<View | null>(null);
  const refs = useRef(runs);
  refs.current = runs;
  const ids = runs.map((r) => r.run_id).sort().join(","); // re-sorting the table asks nothing

  const store = useMemo(() => new CurveStore(refs.current.map((r) => ({
    run_id: r.run_id, label: `#${r.number}`, color: runColor(r.number), origin: r.started,
  })), mode), [ids, mode, metric]); // eslint-disable-line react-hooks/exhaustive-deps
  const zoom = useMemo(() => new ZoomState(metric, ids.split(",").filter(Boolean), mode), [metric, ids, mode]);
  const spec = useMemo(() => curveSpec({ metric, mode, logX, logY }), [metric, mode, logX, logY]);

  // The bound: live points are held as they come; once a run holds four times what the
  // server answers for the chart's width, the range is asked for again (downsampled), at
  // most every few seconds, so a long-watched chart stays as light as a fresh one.
  const budget = useRef(0);
  const compacted = useRef(0);
  const reload = useRef<() => void>(() => undefined);
  useEffect(() => store.subscribe(() => {
    setVersion((v) => v + 1);
    if (budget.current && store.most() > 4 * budget.current && performance.now() - compacted.current > COMPACT_MS) {
      compacted.current = performance.now();
      reload.current();
    }
  }), [store]);
  useEffect(() => void store.smooth(smoothing), [store, smoothing]);

  /** Ask the server for the zoomed range (or all) and put the answer in the store. */
  const load = useCallback((want: Range | null) => {
    zoom.zoom(want);
    if (!metric || !zoom.runIds.length) return;
    if (want && mode === "relative" && store.size) return; // each run's origin differs: narrow only
    const width = box.current?.clientWidth || globalThis.innerWidth || 800;
    const { query, ticket } = zoom.request(width);
    budget.current = query.budget;
    store.expect();
    setExpected(null);
    const asked = performance.now();
    askSeries(model.api, query).then((answer: SeriesAnswer) => {
      if (!zoom.current(ticket)) return;
      const answered = performance.now();
      const covers = zoom.covers(query);
      store.historyAll(answer.series, covers);
      store.settle();
      setExpected(store.size);
      // For the benchmark (bench/curves_browser.py): when it was asked, answered, stored.
      window.__runstreamCurves = { asked, answered, stored: performance.now() };
    }, (err: unknown) => model.errors.report(err, `curves of ${metric}`));
  }, [model, metric, mode, store, zoom]);

  useEffect(() => releaseCharts, []); // leaving: the page's other charts need not wait
  reload.current = () => load(zoom.range);
  // A layout effect: the request leaves in the commit that first shows the runs, before
  // the passive effects of the charts above (their spec requests would queue ahead of it
  // on the server), and before the browser paints the dashboard.
  useLayoutEffect(() => {
    setRange(null);
    load(null);
  }, [load]);

  // Live points of the runs still running: their topics, from each run's position.
  const liveIds = runs.filter((r) => LIVE.has(r.status)).map((r) => r.run_id).join(",");
  useEffect(() => {
    if (!metric || !liveIds) return;
    const batcher = new FrameBatcher<[string, LiveEvent]>((batch) => {
      const points = new Map<string, [number[], number[], unknown[]]>();
      for (const [runId, e] of batch) {
        if (e.type !== "metrics.logged") continue;
        const d = e.data as MetricsLoggedData;
        let p = points.get(runId);
        d.index.forEach((k, i) => {
          if (d.names[k] !== metric) return;
          if (!p) points.set(runId, (p = [[], [], []]));
          p[0].push(d.steps[i]!);
          p[1].push(d.times[i]!);
          p[2].push(d.values[i]);
        });
      }
      for (const [runId, [steps, times, values]] of points) store.live(runId, steps, times, values);
    });
    const stops = liveIds.split(",").map((id) => {
      const position = refs.current.find((r) => r.run_id === id)?.position ?? 0;
      return model.feed.subscribe(`run/${id}`, position, {
        onEvents: (events) => batcher.push(events.map((e): [string, LiveEvent] => [id, e])),
      }, `curves/${id}`);
    });
    return () => stops.forEach((stop) => stop());
  }, [model, metric, liveIds, store]);

  const onView = useCallback((v: View | null) => {
    view.current = v;
    if (!v) return;
    v.signal("xzoom", zoom.range ? [...zoom.range] : null);
    v.signal("smoothing", store.smoothing);
    void v.runAsync();
  }, [zoom, store]);

  useEffect(() => {
    const v = view.current;
    if (!v) return;
    v.signal("smoothing", smoothing);
    void v.runAsync();
  }, [smoothing]);

  const applyZoom = (want: Range | null) => {
    setRange(want);
    setHover(null);
    const v = view.current;
    if (v) {
      v.signal("xzoom", want ? [...want] : null);
      void v.runAsync();
    }
    load(want);
  };

  // Pointer: hover shows each run's value at x; a drag brushes the range to zoom to.
  const local = (e: React.PointerEvent): { px: number; plot: Plot } | null => {
    const v = view.current;
    if (!v || !box.current) return null;
    const plot = plotOf(v, box.current);
    if (!plot) return null;
    const b = box.current.getBoundingClientRect();
    const px = e.clientX - b.left - plot.left;
    const py = e.clientY - b.top - plot.top;
    if (px < 0 || px > plot.width || py < 0 || py > plot.height) return null;
    return { px, plot };
  };
  const invert = (px: number) => Number(view.current!.scale("x").invert(px));
  const onDown = (e: React.PointerEvent) => {
    const at = local(e);
    if (!at || e.button !== 0) return;
    setDrag({ from: at.px, to: at.px });
    (e.target as Element).setPointerCapture?.(e.pointerId);
  };
  const onMove = (e: React.PointerEvent) => {
    const at = local(e);
    if (drag) {
      const v = view.current!;
      const b = box.current!.getBoundingClientRect();
      const plot = plotOf(v, box.current!)!;
      setDrag({ ...drag, to: Math.max(0, Math.min(plot.width, e.clientX - b.left - plot.left)) });
    }
    if (!at) return setHover(null);
    const x = invert(at.px);
    setHover({ px: at.plot.left + at.px, x, values: store.at(x) });
  };
  const onUp = () => {
    if (!drag) return;
    setDrag(null);
    if (Math.abs(drag.to - drag.from) < 5) return;
    const want = brushed(invert(drag.from), invert(drag.to));
    if (want) applyZoom(want);
  };

  void version; // re-render on store changes (the notes below read it)
  const logNote = [logY && store.notPositive("y"), logX && store.notPositive("x")];
  const shown = runs.slice(0, 24);
  const plot = view.current && box.current ? plotOf(view.current, box.current) : null;
  const sampled = runs.filter((r) => store.info(r.run_id).sampled).length;
  const total = runs.reduce((n, r) => n + store.info(r.run_id).total, 0);
  const hoverRows = hover ? [...hover.values].sort((a, b) => (b.value ?? -Infinity) - (a.value ?? -Infinity)) : [];

  return (
    <section className="curves" data-testid="curves" data-metric={metric} data-mode={mode}
      data-zoom={range ? range.join(",") : ""} data-expected={expected ?? ""}>
      <div className="toolbar curves-toolbar">
        <h3>Curves</h3>
        <select aria-label="curve metric" value={metric} onChange={(e) => onMetric(e.target.value)}>
          <option value="">pick a metric…</option>
          {metrics.map((m) => <option key={m} value={m}>{m}</option>)}
        </select>
        <select aria-label="curve x" value={mode} onChange={(e) => setMode(e.target.value as XMode)}>
          <option value="step">x: step</option>
          <option value="time">x: time</option>
          <option value="relative">x: relative time</option>
        </select>
        <label className="toggle"><input type="checkbox" aria-label="log x" checked={logX}
          onChange={(e) => setLogX(e.target.checked)} />log x</label>
        <label className="toggle"><input type="checkbox" aria-label="log y" checked={logY}
          onChange={(e) => setLogY(e.target.checked)} />log y</label>
        <label className="toggle" title="exponential moving average; the raw line stays, faint">
          smoothing
          <input type="range" aria-label="smoothing" min={0} max={0.99} step={0.01} value={smoothing}
            onChange={(e) => setSmoothing(Number(e.target.value))} />
          <span className="count">{smoothing.toFixed(2)}</span>
        </label>
        <button type="button" disabled={!range} onClick={() => applyZoom(null)}
          title="reset the zoom: the whole series again">Full range</button>
        <span className="spacer" />
        {metric && (
          <span className="count" data-testid="curves-summary">
            {runs.length} runs · {total.toLocaleString()} points{sampled ? ` (${sampled} sampled by the server)` : ""}
          </span>
        )}
      </div>
      {!metric && <p className="muted">Pick a metric to draw it for {runs.length} runs, overlaid.</p>}
      {metric && (
        <div ref={box} className="curves-chart" style={{ position: "relative", userSelect: "none" }}
          onPointerDown={onDown} onPointerMove={onMove} onPointerUp={onUp}
          onPointerLeave={() => { if (!drag) setHover(null); }}>
          <VegaChart<CurveRow> kind="series" metric={metric} name={`curves:${metric}`} spec={spec}
            source={store} highlight={highlight} onView={onView} onReady={releaseCharts} empty={`no run here has logged ${metric}`} />
          {drag && plot && (
            <div className="curves-brush" style={{ position: "absolute", pointerEvents: "none",
              left: plot.left + Math.min(drag.from, drag.to), width: Math.abs(drag.to - drag.from),
              top: plot.top, height: plot.height, background: "rgba(47,128,237,0.15)" }} />
          )}
          {hover && plot && !drag && (
            <>
              <div className="curves-rule" style={{ position: "absolute", pointerEvents: "none", left: hover.px,
                top: plot.top, height: plot.height, width: 1, background: "#888" }} />
              <div className="curves-tooltip" role="tooltip" data-testid="curves-tooltip"
                style={{ position: "absolute", pointerEvents: "none", top: plot.top + 4, zIndex: 20,
                  ...(hover.px > plot.left + plot.width / 2 ? { right: `calc(100% - ${hover.px - 8}px)` } : { left: hover.px + 8 }),
                  background: "white", border: "1px solid #ccd", padding: "4px 6px", fontSize: 12 }}>
                <div className="muted">{xTitle(mode)} {mode === "time"
                  ? new Date(hover.x * 1000).toLocaleTimeString() : fmtValue(Number(hover.x.toPrecision(6)))}</div>
                {hoverRows.slice(0, HOVER_ROWS).map((v) => (
                  <div key={v.run_id} data-run-id={v.run_id}>
                    <span style={{ color: v.color }}>■</span> {v.label} step {v.step}: {fmtValue(v.value)}
                    {smoothing > 0 && v.smooth !== null ? ` (smoothed ${fmtValue(Number(v.smooth.toPrecision(4)))})` : ""}
                  </div>
                ))}
                {hoverRows.length > HOVER_ROWS && <div className="muted">and {hoverRows.length - HOVER_ROWS} more runs</div>}
              </div>
            </>
          )}
        </div>
      )}
      {metric && (
        <div className="curves-legend" style={{ display: "flex", flexWrap: "wrap", gap: "2px 10px", fontSize: 12 }}>
          {shown.map((r) => (
            <span key={r.run_id} data-run-id={r.run_id} data-color={runColor(r.number)}>
              <span style={{ color: runColor(r.number) }}>━</span> #{r.number}
            </span>
          ))}
          {runs.length > shown.length && <span className="muted">and {runs.length - shown.length} more</span>}
        </div>
      )}
      {logNote.map((n, i) => (n ? (
        <p key={i} className="muted" data-testid={`log-note-${i ? "x" : "y"}`}>
          {n.toLocaleString()} points with {i ? "x" : "a value"} ≤ 0 (or no value) are not drawn on the log {i ? "x" : "y"} axis.
        </p>
      ) : null))}
    </section>
  );
}
