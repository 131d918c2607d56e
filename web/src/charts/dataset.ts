// A chart's named dataset as the chart holds it: either whole row lists diffed into a
// Vega changeset (insert the new, remove the gone, swap the changed), or changesets
// from an incremental source (e.g. series.ts) passed on as they are; never a re-embed.

export type Row = Record<string, unknown>;

export interface RowDiff<T extends Row> {
  insert: T[];
  remove: T[];
}

/** What a chart must do to hold what its source holds: remove, then insert.
 *  Removed rows are the instances inserted before. */
export interface RowChanges<T extends Row> {
  insert: readonly T[];
  remove: readonly T[];
  /** Remove every row the chart holds first. */
  clear?: boolean;
}

/** Rows kept up to date incrementally: a snapshot, then its changesets. */
export interface RowSource<T extends Row> {
  /** Every row held now (what a chart starting afresh inserts). */
  rows(): T[];
  /** Called with each changeset from now on; returns the unsubscribe. */
  subscribe(fn: (changes: RowChanges<T>) => void): () => void;
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

/** Changesets not yet applied, merged into one: a row inserted then removed is never sent. */
export class PendingChanges<T extends Row> {
  private insert = new Set<T>();
  private remove = new Set<T>();
  private clear = false;

  get empty(): boolean {
    return !this.clear && !this.insert.size && !this.remove.size;
  }

  push(changes: RowChanges<T>): void {
    if (changes.clear) {
      this.insert.clear();
      this.remove.clear();
      this.clear = true;
    }
    for (const r of changes.remove) {
      if (this.insert.has(r)) this.insert.delete(r);
      else if (!this.clear) this.remove.add(r); // after a clear, the chart holds none of the old rows
    }
    for (const r of changes.insert) {
      if (this.remove.has(r)) this.remove.delete(r);
      else this.insert.add(r);
    }
  }

  take(): RowChanges<T> {
    const out = { insert: [...this.insert], remove: [...this.remove], clear: this.clear };
    this.insert = new Set();
    this.remove = new Set();
    this.clear = false;
    return out;
  }
}

/** Applies changesets to a chart one at a time (Vega keeps one pending changeset per
 *  dataset: a second before the first has run would replace it), counting the rows held. */
export class ChartWriter<T extends Row> {
  private readonly pending = new PendingChanges<T>();
  private running = false;
  private closed = false;
  private count = 0;

  constructor(
    private readonly apply: (changes: RowChanges<T>) => Promise<void>,
    private readonly applied: (held: number) => void,
    private readonly failed: (err: unknown) => void,
  ) {}

  push(changes: RowChanges<T>): void {
    if (this.closed) return;
    this.pending.push(changes);
    if (!this.running) void this.drain();
  }

  /** The chart is gone: nothing more is applied. */
  close(): void {
    this.closed = true;
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (!this.closed && !this.pending.empty) {
        const changes = this.pending.take();
        try {
          await this.apply(changes);
          if (this.closed) break;
          this.count = (changes.clear ? 0 : this.count) + changes.insert.length - changes.remove.length;
          this.applied(this.count);
        } catch (err: unknown) {
          if (!this.closed) this.failed(err);
        }
      }
    } finally {
      this.running = false;
    }
  }
}
