// Charts of 10,000 runs draw what a person can see: beyond `max` points, keep the
// lowest and the highest point of each run-number bucket (extremes stay clickable),
// plus every selected run.

export interface Point {
  run_id: string;
  number: number;
}

export function sampleByBucket<T extends Point>(
  rows: readonly T[],
  value: (row: T) => number,
  max: number,
  keep: ReadonlySet<string> = new Set(),
): T[] {
  if (rows.length <= max) return rows as T[];
  const sorted = [...rows].sort((a, b) => a.number - b.number);
  const buckets = Math.max(1, Math.floor(max / 2));
  const lo = sorted[0]!.number;
  const width = (sorted[sorted.length - 1]!.number - lo + 1) / buckets;
  const low: (T | undefined)[] = new Array(buckets);
  const high: (T | undefined)[] = new Array(buckets);
  const out: T[] = [];
  for (const row of sorted) {
    const b = Math.min(buckets - 1, Math.floor((row.number - lo) / width));
    const v = value(row);
    const l = low[b];
    const h = high[b];
    if (!l || v < value(l)) low[b] = row;
    if (!h || v > value(h)) high[b] = row;
    if (keep.has(row.run_id)) out.push(row);
  }
  const seen = new Set(out.map((r) => r.run_id));
  for (let b = 0; b < buckets; b++) {
    for (const row of [low[b], high[b]]) {
      if (row && !seen.has(row.run_id)) {
        seen.add(row.run_id);
        out.push(row);
      }
    }
  }
  return out;
}

/** Indices of a long series to draw: the first, the last, and each bucket's lowest
 *  and highest value, so peaks and dips survive; all of them when there are few. */
export function decimate(values: readonly number[], max: number): number[] {
  const n = values.length;
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const buckets = Math.max(1, Math.floor(max / 2));
  const size = n / buckets;
  const out: number[] = [];
  for (let b = 0; b < buckets; b++) {
    const start = Math.floor(b * size);
    const end = Math.min(n, Math.floor((b + 1) * size));
    let lo = start;
    let hi = start;
    for (let i = start; i < end; i++) {
      if (values[i]! < values[lo]!) lo = i;
      if (values[i]! > values[hi]!) hi = i;
    }
    if (lo === hi) out.push(lo);
    else out.push(Math.min(lo, hi), Math.max(lo, hi));
  }
  if (out[out.length - 1] !== n - 1) out.push(n - 1);
  return out;
}
