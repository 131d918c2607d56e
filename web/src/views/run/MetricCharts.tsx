// Charts of one or more runs' array metrics (overlaid) and stepped series; a series'
// live points go into its SeriesStore, whose changesets the chart applies as they come.

import { useEffect, useMemo, useRef, useState } from "react";
import type { LiveEvent, MetricData, MetricsLoggedData } from "../../api/types";
import { useModel } from "../../app/context";
import { MAX_POINTS, SeriesStore, type SeriesRow } from "../../charts/series";
import { VegaChart } from "../../charts/VegaChart";
import { decimate } from "../../state/sample";

export type LiveSource = (fn: (events: LiveEvent[]) => void) => () => void;

export interface RunRef {
  run_id: string;
  label: string;
}

interface ArrayRow extends Record<string, unknown> {
  run_id: string;
  label: string;
  index: number;
  value: number;
}

const arrayKey = (r: ArrayRow) => `${r.run_id}\u0000${r.index}`;

function metricUrl(runId: string, metric: string): string {
  return `/api/runs/${encodeURIComponent(runId)}/metrics/${encodeURIComponent(metric)}`;
}

/** The latest value of `metric` in each run, as a Map run_id → array. */
function useLatestArrays(runs: readonly RunRef[], metric: string, live?: LiveSource, history = true) {
  const model = useModel();
  const [arrays, setArrays] = useState(new Map<string, number[]>());
  const ids = runs.map((r) => r.run_id).join(",");
  useEffect(() => {
    let ok = true;
    setArrays(new Map());
    for (const id of history ? ids.split(",").filter(Boolean) : []) {
      model.api.get<MetricData>(metricUrl(id, metric)).then((data) => {
        if (!ok || data.format !== "values") return;
        const last = data.points[data.points.length - 1]?.value;
        if (Array.isArray(last)) setArrays((m) => new Map(m).set(id, last));
      }, (err: unknown) => model.errors.report(err, `metric ${metric} of ${id}`));
    }
    const stop = live?.((events) => {
      for (const e of events) {
        if (e.type !== "metrics.logged") continue;
        const d = e.data as MetricsLoggedData;
        const runId = e.stream.slice(e.stream.indexOf("/") + 1);
        for (let i = d.index.length - 1; i >= 0; i--) {
          const v = d.values[i];
          if (d.names[d.index[i]!] === metric && Array.isArray(v)) {
            setArrays((m) => new Map(m).set(runId, v));
            break;
          }
        }
      }
    });
    return () => {
      ok = false;
      stop?.();
    };
  }, [model, ids, metric, live, history]);
  return arrays;
}

export function ArrayChart({ metric, runs, highlight, live, history = true }: {
  metric: string; runs: readonly RunRef[]; highlight?: readonly string[]; live?: LiveSource;
  /** false: start empty (a replay fills it). */
  history?: boolean;
}) {
  const arrays = useLatestArrays(runs, metric, live, history);
  const rows = useMemo(() => {
    const out: ArrayRow[] = [];
    for (const run of runs) {
      const values = arrays.get(run.run_id);
      if (!values) continue;
      for (const i of decimate(values, MAX_POINTS)) {
        out.push({ run_id: run.run_id, label: run.label, index: i, value: values[i]! });
      }
    }
    return out;
  }, [arrays, runs]);
  return <VegaChart<ArrayRow> kind="array" metric={metric} rows={rows} rowKey={arrayKey} highlight={highlight} />;
}

export function SeriesChart({ metric, runs, highlight, live, history = true, minPoints = 0 }: {
  metric: string; runs: readonly RunRef[]; highlight?: readonly string[]; live?: LiveSource;
  history?: boolean;
  /** Draw nothing until some run has this many points (a single value is no series). */
  minPoints?: number;
}) {
  const model = useModel();
  const ids = runs.map((r) => r.run_id).join(",");
  const [store, setStore] = useState<SeriesStore | null>(null);
  const [most, setMost] = useState(0);
  const labels = useRef(runs);
  labels.current = runs;
  useEffect(() => {
    let ok = true;
    const series = new SeriesStore(labels.current, { history });
    setStore(series);
    setMost(0);
    const stopMost = series.subscribe(() => setMost(series.most()));
    for (const id of history ? ids.split(",").filter(Boolean) : []) {
      model.api.get<MetricData>(metricUrl(id, metric)).then((data) => {
        if (ok) series.history(id, data.format === "series" ? data.steps : [], data.format === "series" ? data.values : []);
      }, (err: unknown) => {
        if (ok) series.history(id, [], []); // keep the live points
        model.errors.report(err, `metric ${metric} of ${id}`);
      });
    }
    const stop = live?.((events) => {
      const batch = new Map<string, [number[], number[]]>();
      for (const e of events) {
        if (e.type !== "metrics.logged") continue;
        const d = e.data as MetricsLoggedData;
        const runId = e.stream.slice(e.stream.indexOf("/") + 1);
        let points = batch.get(runId);
        d.index.forEach((k, i) => {
          const v = d.values[i];
          if (d.names[k] === metric && typeof v === "number") {
            if (!points) batch.set(runId, (points = [[], []]));
            points[0].push(d.steps[i]!);
            points[1].push(v);
          }
        });
      }
      for (const [runId, [steps, values]] of batch) series.live(runId, steps, values);
    });
    return () => {
      ok = false;
      stop?.();
      stopMost();
    };
  }, [model, ids, metric, live, history]);
  useEffect(() => {
    for (const r of runs) store?.relabel(r.run_id, r.label);
  }, [store, runs]);
  if (!store || most < minPoints) return null;
  return <VegaChart<SeriesRow> kind="series" metric={metric} source={store} highlight={highlight} />;
}
