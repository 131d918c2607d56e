import { describe, expect, it } from "vitest";
import type { RowChanges } from "../dataset";
import { ema, emaStep, EMA_START } from "./ema";
import { CurveStore, type CurveRow } from "./store";
import { ZoomState, brushed, budgetFor } from "./zoom";

const A = { run_id: "a", label: "#1", color: "#111", origin: 100 };
const B = { run_id: "b", label: "#2", color: "#222", origin: 200 };
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
const answer = (steps: number[], values: unknown[], times = steps.map((s) => 1000 + s)) =>
  ({ steps, times, values, total: steps.length, sampled: false });

/** A chart stand-in: holds what the changesets say, checking each removal was held. */
class Held {
  rows = new Set<CurveRow>();
  sent: RowChanges<CurveRow>[] = [];
  constructor(store: CurveStore) {
    for (const r of store.rows()) this.rows.add(r);
    store.subscribe((c) => this.apply(c));
  }
  apply(c: RowChanges<CurveRow>): void {
    this.sent.push(c);
    if (c.clear) this.rows.clear();
    for (const r of c.remove) if (!this.rows.delete(r)) throw new Error(`removed a row not held: ${JSON.stringify(r)}`);
    for (const r of c.insert) {
      if (this.rows.has(r)) throw new Error(`inserted a row twice: ${JSON.stringify(r)}`);
      this.rows.add(r);
    }
  }
  of(runId: string): [number, number | null][] {
    return [...this.rows].filter((r) => r.run_id === runId).sort((x, y) => x.x - y.x).map((r) => [r.x, r.value]);
  }
}

describe("EMA smoothing", () => {
  it("is debiased: a constant curve stays constant from its first point", () => {
    expect(ema([5, 5, 5, 5], 0.9).map((v) => Number(v!.toFixed(9)))).toEqual([5, 5, 5, 5]);
  });

  it("follows TensorBoard's formula and leaves gaps as gaps without breaking the average", () => {
    const w = 0.6;
    const out = ema([1, null, 3], w);
    const last2 = (1 - w) * 1 * w + (1 - w) * 3;
    expect(out[0]).toBeCloseTo(1);
    expect(out[1]).toBeNull();
    expect(out[2]).toBeCloseTo(last2 / (1 - w ** 2));
  });

  it("with weight 0 is the raw curve", () => {
    expect(ema([3, 1, 4, 1, 5], 0)).toEqual([3, 1, 4, 1, 5]);
    expect(emaStep(EMA_START, Number.NaN, 0.5)[1]).toBeNull();
  });
});

describe("curve store", () => {
  it("appends a live batch with a changeset of its rows only", () => {
    const store = new CurveStore([A], "step");
    const held = new Held(store);
    store.history("a", answer(range(0, 100), range(0, 100).map((s) => 1 / (s + 1))));
    const before = [...held.rows];
    const c = store.live("a", [100, 101], [2000, 2001], [0.5, 0.25]);
    expect(c.remove).toEqual([]);
    expect(c.insert.map((r) => r.step)).toEqual([100, 101]);
    expect(before.every((r) => held.rows.has(r))).toBe(true);
    expect(held.rows.size).toBe(102);
  });

  it("with smoothing on, an append still sends only the new rows, smoothed from the last", () => {
    const store = new CurveStore([A], "step");
    const held = new Held(store);
    store.smooth(0.5);
    store.history("a", answer([0, 1, 2], [1, 2, 3]));
    const c = store.live("a", [3], [1003], [4]);
    expect(c.insert).toHaveLength(1);
    expect(c.remove).toHaveLength(0);
    expect(c.insert[0]!.smooth).toBeCloseTo(ema([1, 2, 3, 4], 0.5)[3]!);
    expect(held.rows.size).toBe(4);
  });

  it("places a late point in x order and replaces a re-logged step, re-sending only what follows", () => {
    const store = new CurveStore([A], "step");
    const held = new Held(store);
    store.history("a", answer([0, 10, 20, 30], [4, 3, 2, 1]));
    const c = store.live("a", [15, 20], [1015, 1020], [2.5, 9]);
    expect(c.remove.map((r) => r.step)).toEqual([20, 30]);
    expect(held.of("a")).toEqual([[0, 4], [10, 3], [15, 2.5], [20, 9], [30, 1]]);
    expect(store.live("a", [20], [1020], [9]).insert).toEqual([]); // already held: nothing sent
  });

  it("replaces only the fetched range with a zoomed answer, keeping the points outside it", () => {
    const store = new CurveStore([A, B], "step");
    const held = new Held(store);
    store.history("a", answer([0, 50, 100, 150, 200], [1, 2, 3, 4, 5]));
    store.history("b", answer([0, 200], [7, 8]));
    store.history("a", answer([60, 70, 80, 90, 100], [6, 7, 8, 9, 10]), [60, 100]);
    expect(held.of("a")).toEqual([[0, 1], [50, 2], [60, 6], [70, 7], [80, 8], [90, 9], [100, 10], [150, 4], [200, 5]]);
    expect(held.of("b")).toEqual([[0, 7], [200, 8]]);
    expect(held.rows.size).toBe(store.size);
  });

  it("re-applies live points that arrived while a history was in flight, neither lost nor doubled", () => {
    const store = new CurveStore([A], "step");
    const held = new Held(store);
    store.expect();
    store.live("a", [5, 6], [1005, 1006], [0.5, 0.6]);
    // The answer was taken before step 6 was logged: it has 0..5.
    store.history("a", answer(range(0, 6), [1, 0.9, 0.8, 0.7, 0.6, 0.5]));
    store.settle();
    expect(held.of("a").map(([x]) => x)).toEqual(range(0, 7));
    expect(held.of("a")[6]).toEqual([6, 0.6]);
  });

  it("applies every run's answer as one changeset", () => {
    const store = new CurveStore([A, B], "step");
    const held = new Held(store);
    store.historyAll([{ run_id: "a", ...answer([0, 1], [1, 2]) }, { run_id: "b", ...answer([0], [3]) }]);
    expect(held.sent).toHaveLength(1);
    expect(held.of("a")).toEqual([[0, 1], [1, 2]]);
    expect(held.of("b")).toEqual([[0, 3]]);
  });

  it("turns the API's non-numbers into gaps and counts what a log axis cannot draw", () => {
    const store = new CurveStore([A], "step");
    store.history("a", answer([0, 1, 2, 3], [1, "NaN", null, -2]));
    expect(store.rows().map((r) => r.value)).toEqual([1, null, null, -2]);
    expect(store.notPositive("y")).toBe(3);
    expect(store.notPositive("x")).toBe(1); // step 0
  });

  it("measures relative time from the run's start", () => {
    const store = new CurveStore([A], "relative");
    store.history("a", answer([0, 1], [1, 2], [130, 160]));
    expect(store.rows().map((r) => r.x)).toEqual([30, 60]);
  });

  it("redraws every row when the smoothing changes (one changeset, not a new chart)", () => {
    const store = new CurveStore([A, B], "step");
    const held = new Held(store);
    store.history("a", answer([0, 1, 2], [1, 5, 1]));
    store.history("b", answer([0, 1], [2, 2]));
    held.sent = [];
    store.smooth(0.8);
    expect(held.sent).toHaveLength(1);
    expect(held.rows.size).toBe(5);
    expect([...held.rows].every((r) => r.smooth !== null)).toBe(true);
  });
});

describe("hover lookup", () => {
  it("answers every run's nearest point to x", () => {
    const store = new CurveStore([A, B], "step");
    store.history("a", answer([0, 10, 20], [1, 2, 3]));
    store.history("b", answer([0, 4, 8, 12], [5, 6, 7, 8]));
    const at = store.at(9);
    expect(at.map((v) => [v.run_id, v.step, v.value])).toEqual([["a", 10, 2], ["b", 8, 7]]);
    expect(store.at(-5).map((v) => v.step)).toEqual([0, 0]);
    expect(store.at(99).map((v) => v.step)).toEqual([20, 12]);
  });

  it("leaves out runs without points", () => {
    const store = new CurveStore([A, B], "step");
    store.history("a", answer([3], [1]));
    expect(store.at(3).map((v) => v.run_id)).toEqual(["a"]);
  });
});

describe("zoom and fetch state", () => {
  it("asks for the whole series first, then the brushed range, with a budget from the width", () => {
    const zoom = new ZoomState("loss", ["a", "b"], "step");
    const first = zoom.request(1000);
    expect(first.query).toEqual({ metric: "loss", runs: "a,b", x: "step", budget: 2000 });
    zoom.zoom(brushed(80, 20));
    const second = zoom.request(1000);
    expect(second.query).toMatchObject({ start: 20, end: 80 });
    expect(zoom.covers(second.query)).toEqual([20, 80]);
    expect(zoom.current(first.ticket)).toBe(false); // a slow old answer is dropped
    expect(zoom.current(second.ticket)).toBe(true);
  });

  it("asks by time for time axes, and for the whole series in relative time", () => {
    const time = new ZoomState("loss", ["a"], "time");
    time.zoom([5, 9]);
    expect(time.request(500).query).toMatchObject({ x: "time", start: 5, end: 9 });
    const rel = new ZoomState("loss", ["a"], "relative");
    rel.zoom([5, 9]);
    expect(rel.request(500).query.start).toBeUndefined();
  });

  it("keeps the budget within the endpoint's bounds and refuses an empty brush", () => {
    expect(budgetFor(0)).toBe(200);
    expect(budgetFor(100_000)).toBe(20_000);
    expect(budgetFor(1000, 2)).toBe(2000); // few runs: 2 points per pixel
    expect(budgetFor(1000, 10)).toBe(2000); // ten: still 2 points per pixel each
    expect(budgetFor(1000, 100)).toBe(300); // many: their share of the total
    expect(budgetFor(1000, 500)).toBe(64); // however many: 16 M4 buckets each at least
    expect(brushed(3, 3)).toBeNull();
    expect(brushed(Number.NaN, 3)).toBeNull();
  });
});
