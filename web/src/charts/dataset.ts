// A chart's named dataset as the chart holds it, so that new rows become a Vega
// changeset (insert the new, remove the gone, swap the changed) and never a re-embed.

export type Row = Record<string, unknown>;

export interface RowDiff<T extends Row> {
  insert: T[];
  remove: T[];
}

function sameRow(a: Row, b: Row): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => a[k] === b[k]);
}

export class KeyedRows<T extends Row> {
  private held = new Map<string, T>();

  constructor(private readonly key: (row: T) => string) {}

  get size(): number {
    return this.held.size;
  }

  /** The changes that turn what the chart holds into `rows`; the chart then holds `rows`. */
  diff(rows: readonly T[]): RowDiff<T> {
    const next = new Map<string, T>();
    const insert: T[] = [];
    const remove: T[] = [];
    for (const row of rows) {
      const k = this.key(row);
      next.set(k, row);
      const old = this.held.get(k);
      if (old === undefined) insert.push(row);
      else if (old !== row && !sameRow(old, row)) {
        remove.push(old);
        insert.push(row);
      } else next.set(k, old); // keep the instance Vega holds
    }
    for (const [k, old] of this.held) if (!next.has(k)) remove.push(old);
    this.held = next;
    return { insert, remove };
  }

  reset(): void {
    this.held.clear();
  }
}
