import { describe, expect, it } from "vitest";
import { KeyedRows } from "./dataset";

describe("chart datasets as changesets", () => {
  it("inserts the new rows, swaps the changed, removes the gone, keeps the rest", () => {
    const rows = new KeyedRows<{ run_id: string; value: number }>((r) => r.run_id);
    const a = { run_id: "a", value: 1 };
    const b = { run_id: "b", value: 2 };
    expect(rows.diff([a, b])).toEqual({ insert: [a, b], remove: [] });
    const b2 = { run_id: "b", value: 3 };
    const c = { run_id: "c", value: 4 };
    expect(rows.diff([{ run_id: "a", value: 1 }, b2, c])).toEqual({ insert: [b2, c], remove: [b] });
    // The unchanged row stays the instance Vega holds, so removing it later works.
    expect(rows.diff([b2, c])).toEqual({ insert: [], remove: [a] });
  });
});
