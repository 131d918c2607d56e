// Charts of one or more runs' array metrics (overlaid) and stepped series; live
// points are appended with changesets as their events arrive.

import { useEffect, useMemo, useState } from "react";
import type { LiveEvent, MetricData, MetricsLoggedData } from "../../api/types";
import { useModel } from "../../app/context";
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

interface PointRow extends Record<string, unknown> {
  run_id: string;
  label: string;
  step: number;
  value: number;
}

const MAX_POINTS = 3_000;
const arrayKey = (r: ArrayRow) => `${r.run_id}\u0000${r.index}`;
const pointKey = (r: PointRow) => `${r.run_id}\u0000${r.step}`;

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
  const [points, setPoints] = useState(new Map<string, Map<number, number>>());
  const ids = runs.map((r) => r.run_id).join(",");
  useEffect(() => {
    let ok = true;
    setPoints(new Map());
    const merge = (runId: string, steps: readonly number[], values: readonly number[]) =>
      setPoints((m) => {
        const next = new Map(m);
        const series = new Map(next.get(runId));
        steps.forEach((s, i) => series.set(s, values[i]!));
        return next.set(runId, series);
      });
    for (const id of history ? ids.split(",").filter(Boolean) : []) {
      model.api.get<MetricData>(metricUrl(id, metric)).then((data) => {
        if (ok && data.format === "series") merge(id, data.steps, data.values);
      }, (err: unknown) => model.errors.report(err, `metric ${metric} of ${id}`));
    }
    const stop = live?.((events) => {
      for (const e of events) {
        if (e.type !== "metrics.logged") continue;
        const d = e.data as MetricsLoggedData;
        const steps: number[] = [];
        const values: number[] = [];
        d.index.forEach((k, i) => {
          const v = d.values[i];
          if (d.names[k] === metric && typeof v === "number") {
            steps.push(d.steps[i]!);
            values.push(v);
          }
        });
        if (steps.length) merge(e.stream.slice(e.stream.indexOf("/") + 1), steps, values);
      }
    });
    return () => {
      ok = false;
      stop?.();
    };
  }, [model, ids, metric, live, history]);
  const rows = useMemo(() => {
    const out: PointRow[] = [];
    for (const run of runs) {
      const series = points.get(run.run_id);
      if (!series) continue;
      const steps = [...series.keys()].sort((a, b) => a - b);
      const values = steps.map((s) => series.get(s)!);
      for (const i of decimate(values, MAX_POINTS)) {
        out.push({ run_id: run.run_id, label: run.label, step: steps[i]!, value: values[i]! });
      }
    }
    return out;
  }, [points, runs]);
  const most = Math.max(0, ...[...points.values()].map((p) => p.size));
  if (most < minPoints) return null;
  return <VegaChart<PointRow> kind="series" metric={metric} rows={rows} rowKey={pointKey} highlight={highlight} />;
}
