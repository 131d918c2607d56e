// The points of one metric across runs, as an overlay chart draws them: each run's history
// (as /api/series answered it for a range: raw, or M4 buckets) merged with the points that
// arrive live, held sorted by x. Every change is answered with the changeset that brings
// the chart up to date: an append inserts its rows only, a point placed in the middle
// replaces the rows after it (their smoothing changed), a fetched range replaces the rows
// from its start. Points outside a zoomed range stay here; the chart's filter hides them.

import type { RowChanges, RowSource } from "../dataset";
import { lowerBound } from "../series";
import { EMA_START, emaStep, type EmaState } from "./ema";

/** What x is: the step, the time (epoch seconds), or the time since the run's start. */
export type XMode = "step" | "time" | "relative";

export interface CurveRow extends Record<string, unknown> {
  run_id: string;
  label: string;
  color: string;
  x: number;
  step: number;
  value: number | null;
  smooth: number | null;
}

export interface CurveRun {
  run_id: string;
  label: string;
  color: string;
  /** Epoch seconds x is measured from in "relative" mode (the run's start; null: its first point). */
  origin?: number | null;
}

/** A value as the API sends it: numbers stay, anything else ("NaN", null, arrays) is a gap. */
export function numeric(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

class RunCurve {
  keys: number[] = [];
  steps: number[] = [];
  values: (number | null)[] = [];
  ema: EmaState[] = [];
  rows: CurveRow[] = [];
  total = 0;
  sampled = false;

  constructor(readonly run: CurveRun) {}

  origin(): number {
    return this.run.origin ?? this.keys[0] ?? 0;
  }

  /** Recomputes rows from index `from` on, noting what changed in `out`. */
  redo(from: number, mode: XMode, weight: number, out: { insert: CurveRow[]; remove: CurveRow[] }): void {
    const gone = this.rows.splice(from);
    for (const row of gone) out.remove.push(row); // no spread: a run may hold 100,000s
    this.ema.length = from;
    let state = from > 0 ? this.ema[from - 1]! : EMA_START;
    const shift = mode === "relative" ? this.origin() : 0;
    const { run_id, label, color } = this.run;
    for (let i = from; i < this.keys.length; i++) {
      const [next, smooth] = emaStep(state, this.values[i]!, weight);
      state = next;
      this.ema.push(state);
      // Every row has the same shape (fields in one order): Vega's accessors stay monomorphic.
      const row: CurveRow = { run_id, label, color, x: this.keys[i]! - shift, step: this.steps[i]!,
        value: this.values[i]!, smooth };
      this.rows.push(row);
      out.insert.push(row);
    }
  }
}

export interface RunValue {
  run_id: string;
  label: string;
  color: string;
  x: number;
  step: number;
  value: number | null;
  smooth: number | null;
}

/** One run's part of a /api/series answer. */
export interface HistoryAnswer {
  steps: readonly number[];
  times: readonly number[];
  values: readonly unknown[];
  total: number;
  sampled: boolean;
}

export class CurveStore implements RowSource<CurveRow> {
  private readonly runs = new Map<string, RunCurve>();
  private readonly listeners = new Set<(changes: RowChanges<CurveRow>) => void>();
  private weight = 0;
  private early: [string, number[], number[], unknown[]][] | null = null;

  constructor(runs: readonly CurveRun[], readonly mode: XMode) {
    for (const r of runs) this.runs.set(r.run_id, new RunCurve(r));
  }

  get smoothing(): number {
    return this.weight;
  }

  /** Rows held in all (what a chart holding every changeset holds). */
  get size(): number {
    let n = 0;
    for (const run of this.runs.values()) n += run.rows.length;
    return n;
  }

  rows(): CurveRow[] {
    return [...this.runs.values()].flatMap((r) => r.rows);
  }

  subscribe(fn: (changes: RowChanges<CurveRow>) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** The points each run holds, and what the server said of its range. */
  info(runId: string): { points: number; total: number; sampled: boolean } {
    const r = this.runs.get(runId);
    return { points: r?.keys.length ?? 0, total: r?.total ?? 0, sampled: r?.sampled ?? false };
  }

  /** The most points any run holds. */
  most(): number {
    let n = 0;
    for (const r of this.runs.values()) n = Math.max(n, r.keys.length);
    return n;
  }

  /** Rows a chart cannot draw on a log axis (the value, or x, ≤ 0 or a gap). */
  notPositive(axis: "x" | "y"): number {
    let n = 0;
    for (const r of this.runs.values()) {
      for (const row of r.rows) if (axis === "y" ? !(row.value !== null && row.value > 0) : !(row.x > 0)) n++;
    }
    return n;
  }

  /** A run's points for x in [range] (all of them when null), as the server answered:
   *  they replace what the run held there; points outside the range stay. */
  history(runId: string, answer: HistoryAnswer, range: readonly [number, number] | null = null): RowChanges<CurveRow> {
    const run = this.runs.get(runId);
    const out = { insert: [] as CurveRow[], remove: [] as CurveRow[] };
    if (!run) return out;
    run.total = answer.total;
    run.sampled = answer.sampled;
    const keys = this.mode === "step" ? answer.steps : answer.times;
    const lo = range ? lowerBound(run.keys, range[0]) : 0;
    let hi = range ? lo : run.keys.length;
    if (range) while (hi < run.keys.length && run.keys[hi]! <= range[1]) hi++;
    // The server answers in x order: one pass checks it, and only an unsorted answer
    // (times of re-logged steps) pays for a sort.
    const n = keys.length;
    let sorted = true;
    for (let i = 1; i < n && sorted; i++) sorted = keys[i - 1]! <= keys[i]!;
    const order = sorted ? null : keys.map((_, i) => i).sort((a, b) => keys[a]! - keys[b]! || a - b);
    const k = new Array<number>(n);
    const s = new Array<number>(n);
    const v = new Array<number | null>(n);
    for (let j = 0; j < n; j++) {
      const i = order ? order[j]! : j;
      k[j] = keys[i]!;
      s[j] = answer.steps[i]!;
      v[j] = numeric(answer.values[i]);
    }
    if (lo === 0 && hi === run.keys.length) {
      run.keys = k; // the whole run replaced: no splice
      run.steps = s;
      run.values = v;
    } else {
      run.keys = [...run.keys.slice(0, lo), ...k, ...run.keys.slice(hi)];
      run.steps = [...run.steps.slice(0, lo), ...s, ...run.steps.slice(hi)];
      run.values = [...run.values.slice(0, lo), ...v, ...run.values.slice(hi)];
    }
    // In relative mode the origin may be the first point, which this may have moved.
    run.redo(this.mode === "relative" && lo === 0 ? 0 : lo, this.mode, this.weight, out);
    return this.emit(out);
  }

  /** Points logged live (in log order); a re-logged step replaces its value. */
  live(runId: string, steps: readonly number[], times: readonly number[], values: readonly unknown[]): RowChanges<CurveRow> {
    const run = this.runs.get(runId);
    const out = { insert: [] as CurveRow[], remove: [] as CurveRow[] };
    if (!run || !steps.length) return out;
    this.early?.push([runId, [...steps], [...times], [...values]]);
    let from = Infinity;
    for (let j = 0; j < steps.length; j++) {
      const step = steps[j]!;
      const value = numeric(values[j]);
      const key = this.mode === "step" ? step : times[j]!;
      const n = run.keys.length;
      let i: number;
      if (n === 0 || key > run.keys[n - 1]!) i = n;
      else {
        i = lowerBound(run.keys, key);
        if (this.mode === "step" && run.keys[i] === key) {
          if (Object.is(run.values[i], value)) continue; // already held (history and backlog overlap)
          run.values[i] = value;
          from = Math.min(from, i);
          continue;
        }
        if (this.mode !== "step") {
          // The same step logged again later: the old point leaves, the new one joins.
          const old = run.steps.lastIndexOf(step);
          if (old >= 0 && run.keys[old] === key && Object.is(run.values[old], value)) continue;
        }
      }
      run.keys.splice(i, 0, key);
      run.steps.splice(i, 0, step);
      run.values.splice(i, 0, value);
      run.total += 1;
      from = Math.min(from, i);
    }
    if (from === Infinity) return out;
    run.redo(this.mode === "relative" && from === 0 ? 0 : from, this.mode, this.weight, out);
    return this.emit(out);
  }

  /** Every run's answer at once, sent to the chart as one changeset (one Vega pass). */
  historyAll(series: readonly ({ run_id: string } & HistoryAnswer)[], range: readonly [number, number] | null = null):
    RowChanges<CurveRow> {
    const held = this.listeners.size ? [...this.listeners] : [];
    this.listeners.clear();
    const insert: CurveRow[] = [];
    const remove: CurveRow[] = [];
    try {
      for (const s of series) {
        const c = this.history(s.run_id, s, range);
        for (const row of c.insert) insert.push(row);
        for (const row of c.remove) remove.push(row);
      }
    } finally {
      for (const fn of held) this.listeners.add(fn);
    }
    return this.emit({ insert, remove });
  }

  /** Live points from now until `settle` are also kept aside: a history answer in flight
   *  may predate them, and replaces what it covers. */
  expect(): void {
    this.early ??= [];
  }

  /** The history has been applied: the live points kept aside are applied again after it
   *  (a point already held is left as it is). */
  settle(): void {
    const early = this.early ?? [];
    this.early = null;
    for (const [runId, steps, times, values] of early) this.live(runId, steps, times, values);
  }

  /** A new smoothing weight (0 off … 0.99): every row is redrawn with its new smooth value. */
  smooth(weight: number): RowChanges<CurveRow> {
    const out = { insert: [] as CurveRow[], remove: [] as CurveRow[] };
    if (weight === this.weight) return out;
    this.weight = weight;
    for (const run of this.runs.values()) run.redo(0, this.mode, weight, out);
    // Every row changes: the chart drops all it holds at once (cheaper than by instance).
    const all: RowChanges<CurveRow> = { clear: true, insert: out.insert, remove: [] };
    for (const fn of [...this.listeners]) fn(all);
    return all;
  }

  /** Each run's point nearest to `x` (the hover's rule), runs without points left out. */
  at(x: number): RunValue[] {
    const out: RunValue[] = [];
    for (const run of this.runs.values()) {
      const rows = run.rows;
      if (!rows.length) continue;
      let i = 0;
      let hi = rows.length;
      while (i < hi) {
        const mid = (i + hi) >>> 1;
        if (rows[mid]!.x < x) i = mid + 1;
        else hi = mid;
      }
      const before = rows[Math.max(0, i - 1)]!;
      const after = rows[Math.min(rows.length - 1, i)]!;
      const row = Math.abs(after.x - x) < Math.abs(x - before.x) ? after : before;
      out.push({ run_id: row.run_id, label: row.label, color: row.color, x: row.x, step: row.step,
        value: row.value, smooth: row.smooth });
    }
    return out;
  }

  private emit(out: { insert: CurveRow[]; remove: CurveRow[] }): RowChanges<CurveRow> {
    if (out.insert.length || out.remove.length) for (const fn of [...this.listeners]) fn(out);
    return out;
  }
}
