// The runs table's rows: filtered, sorted, with the metric columns the runs have.

import type { RunView } from "../api/types";
import { isNumeric, isTextColumn, textValue } from "./columns";

export interface Filter {
  text: string;
  project?: string; // "" or absent for every project
  status: string; // "" for any
  archived: "hide" | "only" | "include";
  // The runs the server matched for an MLflow filter in `text` (see isMlflowFilter):
  // when present, they replace the substring search.
  matched?: ReadonlySet<string>;
}

/** Whether the filter box holds an MLflow run filter (`metrics.acc > 0.7 and params.lr
 * = '0.1'`: a comparison, LIKE, IN or IS) rather than words to look for. */
export function isMlflowFilter(text: string): boolean {
  return /[=<>]/.test(text) || /\s(i?like|(not\s+)?in|is)\s/i.test(` ${text} `);
}

export interface Sort {
  key: string; // a RunView field, "params.<key>", "tags.<key>" or a metric name
  desc: boolean;
}

export const RUN_COLUMNS = [
  "number", "status", "started", "duration", "script", "args",
] as const;

export function filterRuns(runs: readonly RunView[], f: Filter): RunView[] {
  const words = f.matched ? [] : f.text.toLowerCase().split(/\s+/).filter(Boolean);
  return runs.filter((r) => {
    if (f.archived === "hide" && r.archived) return false;
    if (f.archived === "only" && !r.archived) return false;
    if (f.status && r.status !== f.status) return false;
    if (f.project && r.project !== f.project) return false;
    if (f.matched) return f.matched.has(r.run_id);
    if (!words.length) return true;
    const hay = `#${r.number} ${r.run_id} ${r.script} ${r.args.join(" ")} ${r.status} ${r.reason} ${r.user}`
      .toLowerCase();
    return words.every((w) => hay.includes(w));
  });
}

export function sortValue(run: RunView, key: string): number | string | null {
  switch (key) {
    case "number": return run.number;
    case "status": return run.status;
    case "started": return run.started ?? run.submitted;
    case "submitted": return run.submitted;
    case "duration": return run.duration;
    case "script": return run.script;
    case "args": return run.args.join(" ");
    case "name": return run.name || null;
    default: {
      if (isTextColumn(key)) return textValue(run, key) ?? null;
      const v = run.metrics[key];
      return v === undefined ? null : v;
    }
  }
}

/** Sorted copy; runs without a value go last whichever the direction. */
export function sortRuns(runs: readonly RunView[], sort: Sort): RunView[] {
  const dir = sort.desc ? -1 : 1;
  let keyed = runs.map((run) => ({ run, v: sortValue(run, sort.key) }));
  if (isTextColumn(sort.key) && keyed.every((k) => k.v === null || isNumeric(String(k.v)))) {
    // Parameters and tags are text: numbers when every value reads as one.
    keyed = keyed.map((k) => ({ run: k.run, v: k.v === null ? null : Number(k.v) }));
  }
  keyed.sort((a, b) => {
    if (a.v === null || b.v === null) {
      return a.v === b.v ? b.run.number - a.run.number : a.v === null ? 1 : -1;
    }
    if (typeof a.v === "number" && typeof b.v === "number") {
      return (a.v - b.v) * dir || b.run.number - a.run.number;
    }
    return String(a.v).localeCompare(String(b.v)) * dir || b.run.number - a.run.number;
  });
  return keyed.map((k) => k.run);
}

/** Metric names with a numeric value in at least one run, sorted. */
export function scalarMetricNames(runs: readonly RunView[]): string[] {
  const names = new Set<string>();
  for (const run of runs) {
    for (const [name, value] of Object.entries(run.metrics)) {
      if (typeof value === "number") names.add(name);
    }
  }
  return [...names].sort((a, b) => a.localeCompare(b));
}

/** Whether a larger value is better (losses and errors are smaller-is-better). */
export function higherIsBetter(metric: string): boolean {
  return !/loss|error|err$|mse|mae|rmse|time|duration|latency/i.test(metric);
}

export function projectsOf(runs: readonly RunView[]): string[] {
  return [...new Set(runs.map((r) => r.project))].sort((a, b) => a.localeCompare(b));
}
