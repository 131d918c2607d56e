import { describe, expect, it } from "vitest";
import { decimate } from "../state/sample";
import { KeyedRows, PendingChanges, type RowChanges } from "./dataset";
import { SeriesStore, lowerBound, type SeriesRow } from "./series";

const A = { run_id: "a", label: "#1" };
const B = { run_id: "b", label: "#2" };
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

/** A chart stand-in: holds what the changesets say, checking each removal was held. */
class Held {
  rows = new Set<SeriesRow>();
  constructor(store: SeriesStore) {
    for (const r of store.rows()) this.rows.add(r);
    store.subscribe((c) => this.apply(c));
  }
  apply(c: RowChanges<SeriesRow>): void {
    if (c.clear) this.rows.clear();
    for (const r of c.remove) {
      if (!this.rows.delete(r)) throw new Error(`removed a row not held: ${JSON.stringify(r)}`);
    }
    for (const r of c.insert) {
      if (this.rows.has(r)) throw new Error(`inserted a row twice: ${JSON.stringify(r)}`);
      this.rows.add(r);
    }
  }
  /** [step, value] of one run, in step order. */
  of(runId: string): [number, number][] {
    return [...this.rows].filter((r) => r.run_id === runId).map((r): [number, number] => [r.step, r.value])
      .sort((x, y) => x[0] - y[0]);
  }
}

describe("series store", () => {
  it("appends a batch after the last step with a changeset of that batch only", () => {
    const store = new SeriesStore([A]);
    const held = new Held(store);
    for (let b = 0; b < 10; b++) {
      const steps = range(b * 100, 100);
      const c = store.live("a", steps, steps.map((s) => s / 2));
      expect(c.insert).toHaveLength(100);
      expect(c.remove).toHaveLength(0);
    }
    expect(store.size).toBe(1_000);
    expect(held.of("a")).toEqual(range(0, 1_000).map((s) => [s, s / 2]));
  });

  it("puts an out-of-order step in its place", () => {
    const store = new SeriesStore([A]);
    const held = new Held(store);
    store.live("a", [0, 1, 2, 5, 6], [0, 1, 2, 5, 6]);
    const c = store.live("a", [3, 4], [3, 4]);
    expect(c).toEqual({ insert: [expect.objectContaining({ step: 3 }), expect.objectContaining({ step: 4 })], remove: [] });
    expect(held.of("a")).toEqual(range(0, 7).map((s) => [s, s]));
    expect(lowerBound([0, 2, 4], 3)).toBe(2);
  });

  it("replaces the value of a re-logged step", () => {
    const store = new SeriesStore([A]);
    const held = new Held(store);
    store.live("a", [0, 1, 2], [10, 11, 12]);
    const c = store.live("a", [1], [99]);
    expect(c.remove).toEqual([expect.objectContaining({ step: 1, value: 11 })]);
    expect(c.insert).toEqual([expect.objectContaining({ step: 1, value: 99 })]);
    expect(held.of("a")).toEqual([[0, 10], [1, 99], [2, 12]]);
    expect(store.points("a")).toBe(3);
    // The same value again changes nothing.
    expect(store.live("a", [1], [99])).toEqual({ insert: [], remove: [] });
  });

  it("keeps a run within the bound, redrawing that run only when it overflows", () => {
    const max = 100;
    const store = new SeriesStore([A, B], { max });
    const held = new Held(store);
    store.live("b", [0, 1], [5, 6]);
    const redraws: number[] = [];
    for (let b = 0; b < 100; b++) {
      const steps = range(b * 10, 10);
      const c = store.live("a", steps, steps.map((s) => Math.sin(s / 7)));
      if (c.remove.length > 2) redraws.push(b);
      expect(c.remove.every((r) => r.run_id === "a")).toBe(true);
      expect(held.of("a").length).toBeLessThanOrEqual(max);
    }
    expect(store.points("a")).toBe(1_000);
    expect(held.of("b")).toEqual([[0, 5], [1, 6]]);
    // Doubling widths: a handful of redraws for a tenfold growth past the bound.
    expect(redraws.length).toBeGreaterThan(0);
    expect(redraws.length).toBeLessThanOrEqual(5);
    const shown = held.of("a");
    const w = store.width("a");
    // Each bucket shows its lowest and highest point; the last point is shown.
    for (let bucket = 0; bucket * w < 1_000; bucket++) {
      const steps = range(bucket * w, Math.min(w, 1_000 - bucket * w));
      const values = steps.map((s) => Math.sin(s / 7));
      const lo = steps[values.indexOf(Math.min(...values))]!;
      const hi = steps[values.indexOf(Math.max(...values))]!;
      const inBucket = shown.filter(([s]) => Math.floor(s / w) === bucket).map(([s]) => s);
      expect(inBucket).toContain(lo);
      expect(inBucket).toContain(hi);
    }
    expect(shown[shown.length - 1]![0]).toBe(999);
  });

  it("keeps the extremes of a bucket when a point replaces them", () => {
    const store = new SeriesStore([A], { max: 8 });
    const held = new Held(store);
    store.live("a", range(0, 32), range(0, 32).map(() => 0));
    const w = store.width("a");
    expect(w).toBeGreaterThan(1);
    store.live("a", [5], [-7]);
    expect(held.of("a")).toContainEqual([5, -7]);
    expect(held.of("a").length).toBeLessThanOrEqual(8);
  });

  it("loses and doubles nothing when live points arrive before the history", () => {
    const store = new SeriesStore([A], { history: true });
    const held = new Held(store);
    // The feed starts before the history is read: steps 3, 4 come both ways.
    store.live("a", [3, 4], [3, 4]);
    expect(held.of("a")).toEqual([[3, 3], [4, 4]]); // drawn at once
    store.live("a", [1], [100]); // step 1 re-logged after the history was read
    store.history("a", [0, 1, 2, 3, 4], [0, 1, 2, 3, 4]);
    expect(held.of("a")).toEqual([[0, 0], [1, 100], [2, 2], [3, 3], [4, 4]]);
    store.live("a", [5], [5]);
    expect(held.of("a").map(([s]) => s)).toEqual(range(0, 6));
  });

  it("takes a history in log order: unsorted, a re-logged step keeping its last value", () => {
    const store = new SeriesStore([A], { history: true });
    const held = new Held(store);
    store.history("a", [0, 1, 2, 1, 3], [0, 1, 2, 9, 3]);
    expect(held.of("a")).toEqual([[0, 0], [1, 9], [2, 2], [3, 3]]);
  });

  it("holds many runs apart and ignores runs it does not chart", () => {
    const runs = range(0, 50).map((k) => ({ run_id: `r${k}`, label: `#${k}` }));
    const store = new SeriesStore(runs, { history: true, max: 40 });
    const held = new Held(store);
    for (const r of runs) store.history(r.run_id, range(0, 30), range(0, 30));
    for (let step = 30; step < 60; step++) {
      for (const r of runs) store.live(r.run_id, [step], [step]);
    }
    expect(store.live("other", [1], [1])).toEqual({ insert: [], remove: [] });
    for (const r of runs) {
      const shown = held.of(r.run_id);
      expect(shown.length).toBeLessThanOrEqual(40);
      expect(shown[shown.length - 1]).toEqual([59, 59]);
      expect(store.points(r.run_id)).toBe(60);
    }
    expect(store.size).toBe(held.rows.size);
    expect(store.most()).toBe(60);
  });

  it("redraws a run with its new label", () => {
    const store = new SeriesStore([A]);
    const held = new Held(store);
    store.live("a", [0, 1], [0, 1]);
    store.relabel("a", "#7");
    expect([...held.rows].map((r) => r.label)).toEqual(["#7", "#7"]);
  });
});

describe("pending chart changes", () => {
  it("merges changesets: a row inserted then removed is never sent", () => {
    const p = new PendingChanges<{ k: number }>();
    const [a, b, c] = [{ k: 1 }, { k: 2 }, { k: 3 }];
    p.push({ insert: [a, b], remove: [] });
    p.push({ insert: [c], remove: [a] });
    expect(p.take()).toEqual({ insert: [b, c], remove: [], clear: false });
    expect(p.empty).toBe(true);
    p.push({ insert: [], remove: [b] });
    p.push({ clear: true, insert: [a], remove: [] });
    p.push({ insert: [], remove: [c] }); // cleared already
    expect(p.take()).toEqual({ insert: [a], remove: [], clear: true });
  });
});

describe("series store against the old way (printed, not asserted)", () => {
  it("times 100,000 points appended in 1,000-point batches", () => {
    const batches = range(0, 100).map((b) => range(b * 1_000, 1_000));
    const value = (s: number) => Math.sin(s / 500) + s / 1e5;

    let t = performance.now();
    const store = new SeriesStore([A]);
    const held = new Held(store);
    let sent = 0;
    for (const steps of batches) {
      const c = store.live("a", steps, steps.map(value));
      sent += c.insert.length + c.remove.length;
    }
    const fresh = performance.now() - t;

    // The old way: copy the run's Map, sort every step, decimate, diff every row.
    t = performance.now();
    let points = new Map<number, number>();
    const chart = new KeyedRows<SeriesRow>((r) => `${r.run_id}\u0000${r.step}`);
    let diffed = 0;
    for (const steps of batches) {
      points = new Map(points);
      for (const s of steps) points.set(s, value(s));
      const sorted = [...points.keys()].sort((x, y) => x - y);
      const values = sorted.map((s) => points.get(s)!);
      const rows = decimate(values, 3_000).map((i) => ({ run_id: "a", label: "#1", step: sorted[i]!, value: values[i]! }));
      const c = chart.diff(rows);
      diffed += c.insert.length + c.remove.length;
    }
    const old = performance.now() - t;
    console.log(`100k points in 1k batches: series store ${fresh.toFixed(0)} ms (${sent} rows sent, ` +
      `${held.rows.size} held); old way ${old.toFixed(0)} ms (${diffed} rows sent, ${chart.size} held)`);
    expect(held.rows.size).toBe(store.size);
  }, 120_000);
});
