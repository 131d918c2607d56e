// One Vega-Lite chart: embedded once per spec; its named dataset is then fed with
// changesets (diffed from whole `rows`, or straight from an incremental `source`) and
// its `highlight` parameter set from the app's selection.

import { useEffect, useMemo, useRef, useState } from "react";
import { changeset, type View } from "vega";
import embed from "vega-embed";
import { useModel } from "../app/context";
import type { ClickMods } from "../state/selection";
import { ChartWriter, KeyedRows, type Row, type RowSource } from "./dataset";
import { chartSpec, datasetOf, type ChartKind, type Spec } from "./specs";

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
};

declare global {
  interface Window {
    /** Chart views by name, for browser tests and benchmarks. */
    __runstreamCharts?: Map<string, View>;
  }
}

export function VegaChart<T extends Row>(props: ChartProps<T>) {
  const { kind, metric = "", rows, rowKey, source, highlight = [], onPick, onReady, empty } = props;
  const model = useModel();
  const box = useRef<HTMLDivElement>(null);
  const [view, setView] = useState<View | null>(null);
  const [spec, setSpec] = useState<Spec | null>(null);
  const [held, setHeld] = useState(0);
  const keyed = useRef(new KeyedRows<T>(rowKey ?? (() => "")));
  const pick = useRef(onPick);
  pick.current = onPick;
  const ready = useRef(onReady);
  ready.current = onReady;
  const name = `${kind}:${metric}`;

  useEffect(() => {
    let live = true;
    chartSpec(model.api, kind, metric).then(
      (s) => live && setSpec(s),
      (err: unknown) => model.errors.report(err, `chart ${metric || kind}`),
    );
    return () => {
      live = false;
    };
  }, [model, kind, metric]);

  useEffect(() => {
    if (!spec || !box.current) return;
    let live = true;
    let finalize = () => undefined as void;
    embed(box.current, spec as never, { actions: false, renderer: "canvas", logLevel: 0 }).then(
      (result) => {
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
        keyed.current.reset();
        setView(result.view);
      },
      (err: unknown) => model.errors.report(err, `drawing chart ${metric || kind}`),
    );
    return () => {
      live = false;
      window.__runstreamCharts?.delete(name);
      setView(null);
      setHeld(0);
      finalize();
    };
  }, [spec, name, model]);

  const writer = useMemo(() => {
    if (!view || !spec) return null;
    const dataset = datasetOf(spec);
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
  }, [view, spec, model, kind, metric]);

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
