import { describe, expect, it } from "vitest";
import { FrameBatcher } from "./batch";

describe("frame batching", () => {
  it("applies everything that arrived before the frame in one flush", () => {
    const frames: (() => void)[] = [];
    const flushes: number[][] = [];
    const b = new FrameBatcher<number>((items) => flushes.push(items), (fn) => frames.push(fn));
    b.push([1, 2]);
    b.push([3]);
    expect(frames).toHaveLength(1);
    frames[0]!();
    b.push([4]);
    frames[1]!();
    expect(flushes).toEqual([[1, 2, 3], [4]]);
  });
});
