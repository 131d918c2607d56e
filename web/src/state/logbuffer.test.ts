import { describe, expect, it } from "vitest";
import { LogBuffer } from "./logbuffer";
import { lines } from "./testing";

describe("the log buffer", () => {
  it("keeps each line once, by number, from pages and live events alike", () => {
    const buf = new LogBuffer();
    buf.addPage([[0, 0, 1, "a"], [1, 0, 2, "b"]]);
    expect(buf.addEvents([lines(5, "r", 1, ["b", "c"]), lines(6, "r", 3, ["d"])])).toBe(2);
    expect(buf.texts).toEqual(["a", "b", "c", "d"]);
    expect(buf.fds).toEqual([1, 2, 1, 1]);
  });
});
