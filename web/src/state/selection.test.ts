import { describe, expect, it } from "vitest";
import { clickSelect, keepVisible } from "./selection";

describe("selection", () => {
  const order = ["a", "b", "c", "d"];
  it("a plain click selects just that run", () => {
    expect(clickSelect(["a", "b"], "c")).toEqual(["c"]);
  });
  it("ctrl/cmd-click adds a run, or removes it when selected", () => {
    expect(clickSelect(["a"], "c", { additive: true })).toEqual(["a", "c"]);
    expect(clickSelect(["a", "c"], "a", { additive: true })).toEqual(["c"]);
  });
  it("shift-click selects the range from the last selected run", () => {
    expect(clickSelect(["b"], "d", { range: true }, order)).toEqual(["b", "c", "d"]);
    expect(clickSelect(["d"], "b", { range: true }, order)).toEqual(["d", "c", "b"]);
  });
  it("runs that leave the view leave the selection", () => {
    expect(keepVisible(["a", "b"], new Set(["b"]))).toEqual(["b"]);
    const same = ["a"];
    expect(keepVisible(same, new Set(["a"]))).toBe(same);
  });
});
