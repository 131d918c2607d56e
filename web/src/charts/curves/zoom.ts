// What the overlay chart asks /api/series for: the metric, runs, x, the zoomed range and a
// budget from the chart's width; each answer is taken only if it is the latest asked (a
// slow answer to an old zoom never overwrites a newer one).

import type { XMode } from "./store";

export type { SeriesAnswer } from "../../api/types";

export type Range = readonly [number, number];

/** The most points one overlay asks for in all: past it each run gets a share. Vega's
 *  cost (ingest, facet, encode, bounds, paint) grows with the points it holds — 7–9 ms
 *  per 1,000 profiled here (bench/curves_browser.py), the largest part of the first draw
 *  — so this bounds it. With 100 lines overlaid on ~1,300 px, one line's detail within a
 *  bucket (~17 px) is lost in the band the others draw; its spikes are not (M4 keeps them). */
export const TOTAL_POINTS = 30_000;
/** The fewest points per run however many runs (16 M4 buckets: the shape, every spike). */
export const MIN_SHARE = 64;

/** Points per series a chart `width` pixels wide asks for: 2 per pixel (an M4 bucket —
 *  first, min, max, last — per 2 pixels keeps every spike visible), but with many runs
 *  their share of TOTAL_POINTS (100 overlaid runs at 300 each: 75 buckets a line, each
 *  with its min and max, so no spike is missed), within the endpoint's bounds (8..20,000). */
export function budgetFor(width: number, runs = 1): number {
  const perPixel = Math.round(Math.max(width, 100) * 2);
  const share = Math.floor(TOTAL_POINTS / Math.max(1, runs));
  return Math.max(8, Math.min(20_000, perPixel, Math.max(MIN_SHARE, share)));
}

export interface SeriesRequest {
  metric: string;
  runs: string;
  x: "step" | "time";
  budget: number;
  start?: number;
  end?: number;
}

/** The range brushed between two x values (either order); null when it is empty. */
export function brushed(a: number, b: number): Range | null {
  if (!Number.isFinite(a) || !Number.isFinite(b) || a === b) return null;
  return a < b ? [a, b] : [b, a];
}

export class ZoomState {
  private asked = 0;
  /** The zoomed range, in the chart's x units (null: the whole series). */
  range: Range | null = null;

  constructor(readonly metric: string, readonly runIds: readonly string[], readonly mode: XMode) {}

  /** The query for the current range; `ticket` names it for `current`. "relative" x has
   *  a different origin per run, so its zoom asks for the whole series (and only narrows
   *  the chart's domain). */
  request(width: number): { query: SeriesRequest; ticket: number } {
    const query: SeriesRequest = {
      metric: this.metric, runs: this.runIds.join(","), x: this.mode === "step" ? "step" : "time",
      budget: budgetFor(width, this.runIds.length),
    };
    if (this.range && this.mode !== "relative") {
      query.start = this.range[0];
      query.end = this.range[1];
    }
    return { query, ticket: ++this.asked };
  }

  /** The range the answer to `query` covers (for CurveStore.history). */
  covers(query: SeriesRequest): Range | null {
    return query.start !== undefined && query.end !== undefined ? [query.start, query.end] : null;
  }

  /** Whether an answer to `ticket` is still wanted. */
  current(ticket: number): boolean {
    return ticket === this.asked;
  }

  zoom(range: Range | null): void {
    this.range = range;
  }
}

