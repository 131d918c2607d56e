import { describe, expect, it } from "vitest";
import { filterRuns, higherIsBetter, scalarMetricNames, sortRuns } from "./table";
import { view } from "./testing";

const runs = [
  view("a", { number: 1, script: "iris.py", args: ["0.1"], metrics: { acc: 0.5, note: "x" } }),
  view("b", { number: 2, script: "iris.py", args: ["0.5"], metrics: { acc: 0.9 }, status: "failed" }),
  view("c", { number: 3, script: "mnist.py", args: [], metrics: {}, archived: true }),
];

describe("the runs table", () => {
  it("filters by words, status and archived", () => {
    expect(filterRuns(runs, { text: "iris 0.5", status: "", archived: "hide" }).map((r) => r.run_id)).toEqual(["b"]);
    expect(filterRuns(runs, { text: "", status: "failed", archived: "hide" }).map((r) => r.run_id)).toEqual(["b"]);
    expect(filterRuns(runs, { text: "", status: "", archived: "only" }).map((r) => r.run_id)).toEqual(["c"]);
    expect(filterRuns(runs, { text: "#3", status: "", archived: "include" }).map((r) => r.run_id)).toEqual(["c"]);
    expect(filterRuns(runs, { text: "", status: "", archived: "include", project: "mnist" })).toEqual([]);
  });

  it("sorts by a column or a metric, runs without the metric last", () => {
    expect(sortRuns(runs, { key: "acc", desc: true }).map((r) => r.run_id)).toEqual(["b", "a", "c"]);
    expect(sortRuns(runs, { key: "acc", desc: false }).map((r) => r.run_id)).toEqual(["a", "b", "c"]);
    expect(sortRuns(runs, { key: "number", desc: true }).map((r) => r.number)).toEqual([3, 2, 1]);
  });

  it("lists numeric metrics only", () => {
    expect(scalarMetricNames(runs)).toEqual(["acc"]);
  });

  it("knows losses are better low", () => {
    expect(higherIsBetter("Accuracy")).toBe(true);
    expect(higherIsBetter("val_loss")).toBe(false);
  });
});
