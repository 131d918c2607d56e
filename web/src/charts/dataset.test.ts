import { describe, expect, it } from "vitest";
import { ChartWriter, KeyedRows, type RowChanges } from "./dataset";

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

describe("a chart's writer", () => {
  it("applies one changeset at a time, merging what comes meanwhile, and counts the rows held", async () => {
    type R = { k: number };
    const applied: RowChanges<R>[] = [];
    const held: number[] = [];
    let finish = () => {};
    const writer = new ChartWriter<R>(
      (c) => {
        applied.push(c);
        return new Promise((done) => (finish = done));
      },
      (n) => held.push(n),
      (err) => {
        throw err;
      },
    );
    const [a, b, c] = [{ k: 1 }, { k: 2 }, { k: 3 }];
    writer.push({ insert: [a], remove: [] });
    writer.push({ insert: [b, c], remove: [] }); // while the first runs
    writer.push({ insert: [], remove: [b] });
    expect(applied).toHaveLength(1);
    finish();
    await new Promise((r) => setTimeout(r, 0));
    expect(applied).toEqual([
      { insert: [a], remove: [], clear: false },
      { insert: [c], remove: [], clear: false },
    ]);
    finish();
    await new Promise((r) => setTimeout(r, 0));
    expect(held).toEqual([1, 2]);
    writer.close();
    writer.push({ insert: [b], remove: [] });
    expect(applied).toHaveLength(2);
  });
});
