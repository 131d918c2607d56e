// One Vega-Lite chart: embedded once per spec; its named dataset is then fed with
// changesets and its `highlight` parameter set from the app's selection.

import { useEffect, useRef, useState } from "react";
import { changeset, type View } from "vega";
import embed from "vega-embed";
import { useModel } from "../app/context";
import type { ClickMods } from "../state/selection";
import { KeyedRows, type Row } from "./dataset";
import { chartSpec, datasetOf, type ChartKind, type Spec } from "./specs";

export interface ChartProps<T extends Row> {
  kind: ChartKind;
  metric?: string;
  rows: readonly T[];
  rowKey: (row: T) => string;
  highlight?: readonly string[];
  onPick?: (runId: string, mods: ClickMods) => void;
  /** Called once, when the chart first shows data. */
  onReady?: () => void;
  empty?: string;
}

declare global {
  interface Window {
    /** Chart views by name, for browser tests and benchmarks. */
    __runstreamCharts?: Map<string, View>;
  }
}

export function VegaChart<T extends Row>(props: ChartProps<T>) {
  const { kind, metric = "", rows, rowKey, highlight = [], onPick, onReady, empty } = props;
  const model = useModel();
  const box = useRef<HTMLDivElement>(null);
  const [view, setView] = useState<View | null>(null);
  const [spec, setSpec] = useState<Spec | null>(null);
  const held = useRef(new KeyedRows<T>(rowKey));
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
        held.current.reset();
        setView(result.view);
      },
      (err: unknown) => model.errors.report(err, `drawing chart ${metric || kind}`),
    );
    return () => {
      live = false;
      window.__runstreamCharts?.delete(name);
      setView(null);
      finalize();
    };
  }, [spec, name, model]);

  useEffect(() => {
    if (!view || !spec) return;
    const { insert, remove } = held.current.diff(rows);
    if (!insert.length && !remove.length) return;
    const cs = changeset().remove(remove).insert(insert);
    view.change(datasetOf(spec), cs).runAsync().then(
      () => {
        if (held.current.size && ready.current) {
          ready.current();
          ready.current = undefined;
        }
      },
      (err: unknown) => model.errors.report(err, `updating chart ${metric || kind}`),
    );
  }, [view, spec, rows, model, kind, metric]);

  useEffect(() => {
    if (!view) return;
    view.signal("highlight", [...highlight]);
    void view.runAsync();
  }, [view, highlight]);

  return (
    <div className="chart" data-chart={name} data-rows={rows.length}>
      <div ref={box} className="chart-canvas" />
      {rows.length === 0 && <div className="chart-empty">{empty ?? "no data yet"}</div>}
    </div>
  );
}
