// One Vega-Lite chart: embedded once per spec; its named dataset is then fed with
// changesets (diffed from whole `rows`, or straight from an incremental `source`) and
// its `highlight` parameter set from the app's selection.

import { useEffect, useMemo, useRef, useState } from "react";
import type { View } from "vega";
import { useModel } from "../app/context";
import type { ClickMods } from "../state/selection";
import { ChartWriter, KeyedRows, type Row, type RowSource } from "./dataset";
import { chartSpec, datasetOf, withLogY, type ChartKind, type Spec } from "./specs";
import { chartsReleased, compiledSpec, loadVega, type VegaLib } from "./vegaLib";

/** The chart's rows: a whole list each time (diffed against what the chart holds), or
 *  a source of changesets (applied as they come, for charts that grow live). */
export type ChartRows<T extends Row> =
  | { rows: readonly T[]; rowKey: (row: T) => string; source?: undefined }
  | { source: RowSource<T>; rows?: undefined; rowKey?: undefined };

export type ChartProps<T extends Row> = ChartRows<T> & {
  kind: ChartKind;
  metric?: string;
  highlight?: readonly string[];
  onPick?: (runId: string, mods: ClickMods) => void;
  /** Called once, when the chart first shows data. */
  onReady?: () => void;
  empty?: string;
  /** A spec built in the browser (then `kind` and `metric` only name the chart). */
  spec?: Spec;
  /** Draw the y axis on a log scale (values ≤ 0 are left out). */
  logY?: boolean;
  /** The chart's id in `window.__runstreamCharts` (default `kind:metric`). */
  name?: string;
  /** The Vega view, once embedded (null when it goes). */
  onView?: (view: View | null) => void;
};

declare global {
  interface Window {
    /** Chart views by name, for browser tests and benchmarks. */
    __runstreamCharts?: Map<string, View>;
    /** Vega views constructed, by chart name: a chart that grows by changesets stays at 1. */
    __runstreamChartBuilds?: Record<string, number>;
  }
}

export function VegaChart<T extends Row>(props: ChartProps<T>) {
  const { kind, metric = "", rows, rowKey, source, highlight = [], onPick, onReady, empty, logY = false } = props;
  const given = props.spec;
  const model = useModel();
  const box = useRef<HTMLDivElement>(null);
  const [view, setView] = useState<View | null>(null);
  const [lib, setLib] = useState<VegaLib | null>(null);
  const [spec, setSpec] = useState<Spec | null>(null);
  const [held, setHeld] = useState(0);
  const keyed = useRef(new KeyedRows<T>(rowKey ?? (() => "")));
  const pick = useRef(onPick);
  pick.current = onPick;
  const ready = useRef(onReady);
  ready.current = onReady;
  const onView = useRef(props.onView);
  onView.current = props.onView;
  const name = props.name ?? `${kind}:${metric}`;

  const first = name.startsWith("curves:"); // the overlay never waits for the others
  useEffect(() => {
    if (given && first) {
      setSpec(logY ? withLogY(given) : given);
      return;
    }
    let live = true;
    const ask = () => given ? Promise.resolve(given) : chartSpec(model.api, kind, metric);
    chartsReleased().then(ask).then(
      (s) => live && setSpec(logY ? withLogY(s) : s),
      (err: unknown) => model.errors.report(err, `chart ${metric || kind}`),
    );
    return () => {
      live = false;
    };
  }, [model, kind, metric, given, logY, first]);

  useEffect(() => {
    if (!spec || !box.current) return;
    let live = true;
    let finalize = () => undefined as void;
    const el = box.current;
    loadVega().then(async (vega) => {
      if (!live) return null;
      const ahead = compiledSpec(spec);
      const result = await vega.embed(el, (ahead ?? spec) as never,
        { actions: false, renderer: "canvas", logLevel: 0, ...(ahead ? { mode: "vega" as const } : {}) });
      return { vega, result };
    }).then(
      (loaded) => {
        if (!loaded) return;
        const { vega, result } = loaded;
        finalize = () => result.finalize();
        if (!live) return finalize();
        result.view.addEventListener("click", (event, item) => {
          const datum = (item as { datum?: { run_id?: unknown } } | null | undefined)?.datum;
          const e = event as MouseEvent;
          if (datum && typeof datum.run_id === "string") {
            pick.current?.(datum.run_id, { additive: e.ctrlKey || e.metaKey, range: e.shiftKey });
          }
        });
        (window.__runstreamCharts ??= new Map()).set(name, result.view);
        const builds = (window.__runstreamChartBuilds ??= {});
        builds[name] = (builds[name] ?? 0) + 1;
        keyed.current.reset();
        setLib(vega);
        setView(result.view);
        onView.current?.(result.view);
      },
      (err: unknown) => model.errors.report(err, `drawing chart ${metric || kind}`),
    );
    return () => {
      live = false;
      window.__runstreamCharts?.delete(name);
      setView(null);
      onView.current?.(null);
      setHeld(0);
      finalize();
    };
  }, [spec, name, model]);

  const writer = useMemo(() => {
    if (!view || !spec || !lib) return null;
    const dataset = datasetOf(spec);
    const { changeset } = lib;
    return new ChartWriter<T>(
      async ({ insert, remove, clear }) => {
        const cs = changeset();
        if (clear) cs.remove(() => true);
        await view.change(dataset, cs.remove(remove).insert(insert)).runAsync();
      },
      (n) => {
        setHeld(n);
        if (n && ready.current) {
          ready.current();
          ready.current = undefined;
        }
      },
      (err: unknown) => model.errors.report(err, `updating chart ${metric || kind}`),
    );
  }, [view, spec, lib, model, kind, metric]);

  useEffect(() => () => writer?.close(), [writer]);

  useEffect(() => {
    if (!writer || !rows) return;
    const { insert, remove } = keyed.current.diff(rows);
    if (insert.length || remove.length) writer.push({ insert, remove });
  }, [writer, rows]);

  useEffect(() => {
    if (!writer || !source) return;
    writer.push({ clear: true, insert: source.rows(), remove: [] });
    return source.subscribe((changes) => writer.push(changes));
  }, [writer, source]);

  useEffect(() => {
    if (!view) return;
    view.signal("highlight", [...highlight]);
    void view.runAsync();
  }, [view, highlight]);

  return (
    <div className="chart" data-chart={name} data-rows={held}>
      <div ref={box} className="chart-canvas" />
      {(rows ? rows.length : held) === 0 && <div className="chart-empty">{empty ?? "no data yet"}</div>}
    </div>
  );
}
