import { describe, expect, it } from "vitest";
import { decimate, sampleByBucket } from "./sample";

describe("sampling for charts", () => {
  const rows = Array.from({ length: 10_000 }, (_, i) => ({ run_id: `r${i}`, number: i + 1, value: Math.sin(i) }));

  it("keeps few rows as they are", () => {
    const few = rows.slice(0, 10);
    expect(sampleByBucket(few, (r) => r.value, 100)).toBe(few);
  });

  it("keeps the extremes and the selected runs of many", () => {
    const top = rows.reduce((a, b) => (b.value > a.value ? b : a));
    const out = sampleByBucket(rows, (r) => r.value, 1_000, new Set(["r5"]));
    expect(out.length).toBeLessThanOrEqual(1_001);
    expect(out.map((r) => r.run_id)).toContain(top.run_id);
    expect(out.map((r) => r.run_id)).toContain("r5");
    expect(new Set(out.map((r) => r.run_id)).size).toBe(out.length);
  });

  it("decimates a long series but keeps its peaks and its last point", () => {
    const values = Array.from({ length: 100_000 }, (_, i) => (i === 54_321 ? 99 : Math.cos(i / 100)));
    const idx = decimate(values, 2_000);
    expect(idx.length).toBeLessThanOrEqual(2_001);
    expect(idx).toContain(54_321);
    expect(idx[idx.length - 1]).toBe(99_999);
    expect([...idx].sort((a, b) => a - b)).toEqual(idx);
  });
});
