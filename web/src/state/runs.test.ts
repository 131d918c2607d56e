import { describe, expect, it } from "vitest";
import { RunStore } from "./runs";
import { view } from "./testing";

describe("the run store", () => {
  it("keeps, per run, the view with the greatest position, whatever order views come in", () => {
    const store = new RunStore();
    store.load([view("a", { status: "running", position: 10 })], 10);
    store.put([view("a", { status: "completed", position: 14, metrics: { acc: 0.9 } })], 14);
    store.put([view("a", { status: "running", position: 12 })], 12); // late: ignored
    expect(store.get("a")).toMatchObject({ status: "completed", position: 14, metrics: { acc: 0.9 } });
  });

  it("takes a view again at the same position: a run submitted before it renumbered it", () => {
    const store = new RunStore();
    store.load([view("b", { number: 1, position: 5, submitted: 20 })], 5);
    store.put([view("a", { number: 1, position: 6, submitted: 10 }),
               view("b", { number: 2, position: 5, submitted: 20 })], 6);
    expect(store.runs().map((r) => [r.run_id, r.number])).toEqual([["b", 2], ["a", 1]]);
  });

  it("takes a run it did not know, with the number the server gave it", () => {
    const store = new RunStore();
    store.load([view("a", { number: 4, position: 3 })], 3);
    store.put([view("b", { number: 5, position: 5, submitted: 50 })], 5);
    expect(store.get("b")?.number).toBe(5);
    expect(store.runs().map((r) => r.run_id)).toEqual(["b", "a"]);
  });

  it("shows archiving as the server's view says, and restoring after it", () => {
    const store = new RunStore();
    store.load([view("a", { position: 1 })]);
    store.put([view("a", { archived: true, position: 2 })]);
    expect(store.get("a")?.archived).toBe(true);
    store.put([view("a", { archived: false, position: 3 })]);
    expect(store.get("a")?.archived).toBe(false);
  });

  it("advances its position with the feed, even when no view changed", () => {
    const store = new RunStore();
    let calls = 0;
    store.subscribe(() => calls++);
    store.load([], 7);
    store.put([], 9);
    store.put([], 8);
    expect(store.position).toBe(9);
    expect(calls).toBe(2);
  });

  it("lists runs newest first and notifies once per batch", () => {
    const store = new RunStore();
    let calls = 0;
    store.subscribe(() => calls++);
    store.put([view("a", { submitted: 10, position: 1 }), view("b", { submitted: 20, position: 2 })], 2);
    expect(store.runs().map((r) => r.run_id)).toEqual(["b", "a"]);
    expect(calls).toBe(1);
  });

  it("holds 10,000 runs and takes a batch of their views quickly", () => {
    const store = new RunStore();
    const views = Array.from({ length: 10_000 }, (_, i) =>
      view(`r${i}`, { number: i + 1, submitted: i, position: i + 1 }));
    const t0 = performance.now();
    store.load(views, 10_000);
    const listed = store.runs();
    const updates = views.map((v) => ({ ...v, status: "completed" as const, position: v.position + 10_000 }));
    store.put(updates, 20_000);
    const after = store.runs();
    const took = performance.now() - t0;
    expect(listed).toHaveLength(10_000);
    expect(after[0]).toMatchObject({ run_id: "r9999", status: "completed" });
    expect(after.every((r) => r.status === "completed")).toBe(true);
    expect(took).toBeLessThan(500);
  });
});
