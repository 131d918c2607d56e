// Stepped series as a chart draws them: each run's points held sorted by step, and
// every update answered with the changeset that brings the chart up to date, so a
// live batch costs O(batch), never a copy, sort or diff of every point.
//
// The bound: a run shows at most `max` rows. Steps fall in buckets of `width` steps
// (a power of two, starting at 1: then every point is its own bucket and all are
// shown); a bucket shows its lowest and highest point (peaks and dips survive) and
// the run's last point is always shown. An update recomputes only the buckets it
// touched. When a run's rows pass `max`, its width doubles until they are at most
// `max / 2` and that run alone is redrawn (a full replace of its rows). A point adds
// at most one row, so at least `max / 2` points come between two redraws of a run;
// with dense steps a run is redrawn once each time its points double.
//
// History and live points may interleave: live points that arrive before a run's
// history are drawn at once and kept; when the history comes they are applied again
// after it, so a point is neither lost nor doubled, and a re-logged step keeps its
// newest value.

import type { Row, RowChanges, RowSource } from "./dataset";

export interface SeriesRow extends Row {
  run_id: string;
  label: string;
  step: number;
  value: number;
}

export interface SeriesRun {
  run_id: string;
  label: string;
}

export interface SeriesOptions {
  /** The most rows a run shows (at least 8). */
  max?: number;
  /** true: each run's history is to come (`history()`); live points wait to be re-applied. */
  history?: boolean;
}

export const MAX_POINTS = 3_000;

/** Index of the first element of sorted `xs` that is ≥ x. */
export function lowerBound(xs: readonly number[], x: number, lo = 0, hi = xs.length): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Points sorted by step, each step once with its last value (a stable sort). */
function sortedLastWins(steps: readonly number[], values: readonly number[]): [number[], number[]] {
  let ordered = true;
  for (let i = 1; i < steps.length && ordered; i++) ordered = steps[i - 1]! < steps[i]!;
  if (ordered) return [[...steps], [...values]];
  const order = steps.map((_, i) => i).sort((a, b) => steps[a]! - steps[b]! || a - b);
  const s: number[] = [];
  const v: number[] = [];
  for (const i of order) {
    if (s.length && s[s.length - 1] === steps[i]) v[v.length - 1] = values[i]!;
    else {
      s.push(steps[i]!);
      v.push(values[i]!);
    }
  }
  return [s, v];
}

class Changes {
  readonly insert: SeriesRow[] = [];
  readonly remove: SeriesRow[] = [];
  get empty(): boolean {
    return !this.insert.length && !this.remove.length;
  }
}

/** One run's points (all of them, sorted by step) and the rows it shows. */
class RunSeries {
  steps: number[] = [];
  values: number[] = [];
  width = 1;
  /** Rows shown, by bucket (at most three each: lowest, highest, last). */
  shown = new Map<number, SeriesRow[]>();
  count = 0;
  /** Live batches received before the history (null: no history to wait for). */
  early: [number[], number[]][] | null;

  constructor(readonly runId: string, public label: string, awaitHistory: boolean) {
    this.early = awaitHistory ? [] : null;
  }

  bucket(step: number): number {
    return Math.floor(step / this.width);
  }

  /** Adds points in order, a re-logged step replacing its value; notes the buckets touched. */
  add(steps: readonly number[], values: readonly number[], touched: Set<number>): void {
    const s = this.steps;
    const v = this.values;
    for (let k = 0; k < steps.length; k++) {
      const step = steps[k]!;
      const value = values[k]!;
      const n = s.length;
      if (n === 0 || step > s[n - 1]!) {
        if (n) touched.add(this.bucket(s[n - 1]!)); // the old last point may stop showing
        s.push(step);
        v.push(value);
      } else {
        const i = lowerBound(s, step);
        if (s[i] === step) v[i] = value;
        else {
          s.splice(i, 0, step);
          v.splice(i, 0, value);
        }
      }
      touched.add(this.bucket(step));
    }
  }

  /** The rows bucket `b` shows now, reusing the instances `reuse` finds (Vega removes
   *  rows by instance, and an unchanged row need not be sent again). */
  rowsOf(b: number, reuse: (step: number, value: number) => SeriesRow | undefined): SeriesRow[] {
    const s = this.steps;
    const v = this.values;
    const start = lowerBound(s, b * this.width);
    const end = lowerBound(s, (b + 1) * this.width, start);
    if (start === end) return [];
    let lo = start;
    let hi = start;
    for (let i = start + 1; i < end; i++) {
      if (v[i]! < v[lo]!) lo = i;
      if (v[i]! > v[hi]!) hi = i;
    }
    const keep = new Set([lo, hi]);
    if (end === s.length) keep.add(end - 1);
    return [...keep].sort((a, c) => a - c).map((i) =>
      reuse(s[i]!, v[i]!) ?? { run_id: this.runId, label: this.label, step: s[i]!, value: v[i]! });
  }

  /** Recomputes the touched buckets, adding what changed to `out`. */
  refresh(touched: Iterable<number>, out: Changes): void {
    for (const b of touched) {
      const old = this.shown.get(b) ?? [];
      const next = this.rowsOf(b, (step, value) =>
        old.find((r) => r.step === step && Object.is(r.value, value)));
      for (const r of old) if (!next.includes(r)) out.remove.push(r);
      for (const r of next) if (!old.includes(r)) out.insert.push(r);
      this.count += next.length - old.length;
      if (next.length) this.shown.set(b, next);
      else this.shown.delete(b);
    }
  }

  /** Redraws every row with the narrowest width (≥ `from`) that shows at most `target`;
   *  `reuse` false: no row is kept (the label changed). */
  redraw(target: number, from: number, out: Changes, reuse = true): void {
    const before = new Map<number, SeriesRow>();
    for (const rows of this.shown.values()) {
      out.remove.push(...rows);
      if (reuse) for (const r of rows) before.set(r.step, r);
    }
    const find = (step: number, value: number) => {
      const r = before.get(step);
      return r && Object.is(r.value, value) ? r : undefined;
    };
    this.width = from;
    for (;;) {
      this.shown = new Map();
      this.count = 0;
      const s = this.steps;
      for (let i = 0; i < s.length;) {
        const b = this.bucket(s[i]!);
        const rows = this.rowsOf(b, find);
        this.shown.set(b, rows);
        this.count += rows.length;
        i = lowerBound(s, (b + 1) * this.width, i + 1);
      }
      if (this.count <= target) break;
      this.width *= 2;
    }
    for (const rows of this.shown.values()) out.insert.push(...rows);
  }

  all(): SeriesRow[] {
    return [...this.shown.values()].flat();
  }
}

export class SeriesStore implements RowSource<SeriesRow> {
  private readonly runs = new Map<string, RunSeries>();
  private readonly listeners = new Set<(changes: RowChanges<SeriesRow>) => void>();
  private readonly max: number;

  constructor(runs: readonly SeriesRun[], options: SeriesOptions = {}) {
    this.max = Math.max(8, options.max ?? MAX_POINTS);
    for (const r of runs) this.runs.set(r.run_id, new RunSeries(r.run_id, r.label, options.history ?? false));
  }

  /** Rows shown in all (what a chart holding every changeset holds). */
  get size(): number {
    let n = 0;
    for (const run of this.runs.values()) n += run.count;
    return n;
  }

  /** The most points any run holds. */
  most(): number {
    let n = 0;
    for (const run of this.runs.values()) n = Math.max(n, run.steps.length);
    return n;
  }

  /** Points a run holds (every one, shown or not). */
  points(runId: string): number {
    return this.runs.get(runId)?.steps.length ?? 0;
  }

  /** Current bucket width (in steps) of a run. */
  width(runId: string): number {
    return this.runs.get(runId)?.width ?? 1;
  }

  rows(): SeriesRow[] {
    return [...this.runs.values()].flatMap((run) => run.all());
  }

  subscribe(fn: (changes: RowChanges<SeriesRow>) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Live points of a run, in the order they were logged. Runs not charted are ignored. */
  live(runId: string, steps: readonly number[], values: readonly number[]): RowChanges<SeriesRow> {
    const run = this.runs.get(runId);
    const out = new Changes();
    if (!run || !steps.length) return out;
    run.early?.push([[...steps], [...values]]);
    const touched = new Set<number>();
    run.add(steps, values, touched);
    run.refresh(touched, out);
    if (run.count > this.max) run.redraw(Math.floor(this.max / 2), run.width * 2, out);
    return this.emit(out);
  }

  /** A run's label changed (its rows are redrawn with it). */
  relabel(runId: string, label: string): RowChanges<SeriesRow> {
    const run = this.runs.get(runId);
    const out = new Changes();
    if (!run || run.label === label) return out;
    run.label = label;
    run.redraw(this.max, run.width, out, false);
    return this.emit(out);
  }

  /** A run's history (its points as logged up to some moment, in log order): the live
   *  points received so far are applied again after it, then the run is redrawn. */
  history(runId: string, steps: readonly number[], values: readonly number[]): RowChanges<SeriesRow> {
    const run = this.runs.get(runId);
    const out = new Changes();
    if (!run) return out;
    const early = run.early ?? [];
    run.early = null;
    if (!early.length && !run.steps.length) [run.steps, run.values] = sortedLastWins(steps, values);
    else {
      const [s, v] = sortedLastWins(steps, values);
      if (early.length) [run.steps, run.values] = [s, v];
      else run.add(s, v, new Set());
      for (const [es, ev] of early) run.add(es, ev, new Set());
    }
    run.redraw(this.max, 1, out);
    return this.emit(out);
  }

  private emit(out: Changes): RowChanges<SeriesRow> {
    if (out.empty) return out;
    let changes: RowChanges<SeriesRow> = out;
    if (out.remove.length && out.insert.length) {
      // Net effect: a redraw may remove a row inserted moments before, or keep it.
      const net = new Map<SeriesRow, number>();
      for (const r of out.insert) net.set(r, (net.get(r) ?? 0) + 1);
      for (const r of out.remove) net.set(r, (net.get(r) ?? 0) - 1);
      const insert: SeriesRow[] = [];
      const remove: SeriesRow[] = [];
      for (const [r, n] of net) {
        if (n > 0) insert.push(r);
        else if (n < 0) remove.push(r);
      }
      changes = { insert, remove };
    }
    if (changes.insert.length || changes.remove.length) for (const fn of [...this.listeners]) fn(changes);
    return changes;
  }
}
