// The runs table's text columns: the run name, parameters (`params.<key>`) and
// tags (`tags.<key>`), named as in MLflow's filter language. What the runs have is
// computed once per runs list (memoised on the list's identity: the run store and
// the dashboard hand out the same array until a run changes), not per render.
// Metric columns leave out the run agent's system series (`sys/…`): they are shown
// in run details' System section, not as one number per run in the lab's table.

import type { RunView } from "../api/types";

export const PARAM = "params.";
export const TAG = "tags.";
/** The prefix of the series the run agent samples (CPU, memory, disk, network, GPUs). */
export const SYSTEM_PREFIX = "sys/";

/** Parameters shown by default (those whose values differ between the shown runs). */
export const DEFAULT_PARAMS = 5;

/** What a list of runs has to offer as columns. */
export interface TextColumns {
  /** Whether any run has a name (the name column is shown then). */
  named: boolean;
  /** Every parameter key, sorted. */
  params: string[];
  /** Parameter keys whose value differs between the runs (absent counts as a value), sorted. */
  varying: string[];
  /** Every tag key, sorted. */
  tags: string[];
  /** The columns (`params.<key>`, `tags.<key>`) whose every value reads as a number. */
  numeric: Set<string>;
}

const memo = new WeakMap<readonly RunView[], TextColumns>();

const NUMBER = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/;

/** Whether a text value reads as a (finite) number: "0.1", "-3", "1e-4". */
export function isNumeric(text: string): boolean {
  return NUMBER.test(text);
}

const byText = (a: string, b: string) => a.localeCompare(b);

/** The columns the runs offer; computed once per list. */
export function textColumns(runs: readonly RunView[]): TextColumns {
  const held = memo.get(runs);
  if (held) return held;
  let named = false;
  // key → the first value seen, how many runs have it, whether values differ, all numeric
  const params = new Map<string, { first: string; count: number; differs: boolean; numeric: boolean }>();
  const tags = new Map<string, boolean>();
  for (const run of runs) {
    if (run.name) named = true;
    for (const [key, value] of Object.entries(run.params)) {
      const seen = params.get(key);
      if (!seen) {
        params.set(key, { first: value, count: 1, differs: false, numeric: isNumeric(value) });
      } else {
        seen.count += 1;
        if (value !== seen.first) seen.differs = true;
        if (seen.numeric && !isNumeric(value)) seen.numeric = false;
      }
    }
    for (const [key, value] of Object.entries(run.tags)) {
      const numeric = tags.get(key);
      tags.set(key, (numeric ?? true) && isNumeric(value));
    }
  }
  const numeric = new Set<string>();
  const varying: string[] = [];
  for (const [key, seen] of params) {
    if (seen.numeric) numeric.add(PARAM + key);
    if (seen.differs || seen.count < runs.length) varying.push(key);
  }
  for (const [key, isNum] of tags) if (isNum) numeric.add(TAG + key);
  const out: TextColumns = {
    named,
    params: [...params.keys()].sort(byText),
    varying: varying.sort(byText),
    tags: [...tags.keys()].sort(byText),
    numeric,
  };
  memo.set(runs, out);
  return out;
}

/**
 * The parameter keys shown as columns. `choice` null: automatic, the parameters whose
 * values differ between the shown runs, up to DEFAULT_PARAMS (a single run's first
 * few, since nothing can differ); otherwise the chosen keys the runs have.
 */
export function shownParams(choice: readonly string[] | null, cols: TextColumns, runCount: number): string[] {
  if (choice === null) {
    return (runCount === 1 ? cols.params : cols.varying).slice(0, DEFAULT_PARAMS);
  }
  return choice.filter((k) => cols.params.includes(k));
}

/** The tag keys shown as columns: those chosen that the runs have (none by default). */
export function shownTags(choice: readonly string[], cols: TextColumns): string[] {
  return choice.filter((k) => cols.tags.includes(k));
}

/** A run's text for a `params.<key>`/`tags.<key>` column; undefined for other keys
 * and for a run without the key. */
export function textValue(run: RunView, key: string): string | undefined {
  if (key.startsWith(PARAM)) return run.params[key.slice(PARAM.length)];
  if (key.startsWith(TAG)) return run.tags[key.slice(TAG.length)];
  return undefined;
}

/** Whether `key` names a parameter or tag column. */
export function isTextColumn(key: string): boolean {
  return key.startsWith(PARAM) || key.startsWith(TAG);
}

/** Whether a metric is one of the run agent's system series (`sys/…`). */
export function isSystemMetric(name: string): boolean {
  return name.startsWith(SYSTEM_PREFIX);
}

/** The metrics that may be the runs table's columns: all but the system series. */
export function tableMetrics(names: readonly string[]): string[] {
  return names.filter((n) => !isSystemMetric(n));
}

// Where a system series sorts in the System section: CPU and memory first, GPUs last.
const SYSTEM_ORDER = ["sys/cpu", "sys/memory", "sys/disk", "sys/net", "sys/gpu/"];

function systemRank(name: string): number {
  const k = SYSTEM_ORDER.findIndex((p) => name.startsWith(p));
  return k < 0 ? SYSTEM_ORDER.length : k;
}

/** The system series among `names`, CPU, memory, disk, network, GPUs, other; by name within. */
export function systemMetrics(names: readonly string[]): string[] {
  return names.filter(isSystemMetric)
    .sort((a, b) => systemRank(a) - systemRank(b) || a.localeCompare(b, "en", { numeric: true }));
}
