import { describe, expect, it } from "vitest";
import { filterRuns, isMlflowFilter } from "./table";
import { view } from "./testing";

const runs = [
  view("a", { number: 1, script: "iris.py", metrics: { acc: 0.5 } }),
  view("b", { number: 2, script: "iris.py", metrics: { acc: 0.9 } }),
  view("c", { number: 3, script: "mnist.py", archived: true }),
];

describe("the filter box's MLflow filters", () => {
  it("tells an MLflow filter from words to look for", () => {
    for (const text of ["metrics.acc > 0.7", "params.lr = '0.1'", "tags.team != 'x'",
      "attributes.run_name LIKE 'a%'", "status IN ('RUNNING')", "tags.t is null", "run_name ilike '%x%'"]) {
      expect(isMlflowFilter(text), text).toBe(true);
    }
    for (const text of ["iris", "#3 failed", "mnist.py 0.5", "", "lineage", "island"]) {
      expect(isMlflowFilter(text), text).toBe(false);
    }
  });

  it("keeps the runs the server matched instead of matching words, other filters still apply", () => {
    const matched = new Set(["a", "c"]);
    const ids = (f: Parameters<typeof filterRuns>[1]) => filterRuns(runs, f).map((r) => r.run_id);
    expect(ids({ text: "metrics.acc < 0.7", status: "", archived: "include", matched })).toEqual(["a", "c"]);
    expect(ids({ text: "metrics.acc < 0.7", status: "", archived: "hide", matched })).toEqual(["a"]);
    expect(ids({ text: "metrics.acc < 0.7", status: "", archived: "hide", matched: new Set() })).toEqual([]);
  });
});
