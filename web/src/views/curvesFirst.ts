// The dashboard's overlay request, sent the moment the runs list arrives: before React
// renders the dashboard, embeds its other charts (each ~80 ms of main thread in Vega) and
// asks for their specs (which the server answers one at a time, ahead of a later
// request). The overlay then takes the answer already in flight instead of asking again.
// The query is the one the overlay itself builds (same runs, same budget), so an answer
// is only ever used for the request it answers.

import type { Api } from "../api/http";
import type { RunView } from "../api/types";
import { ZoomState, budgetFor, type SeriesAnswer, type SeriesRequest } from "../charts/curves/zoom";
import { curveSpec } from "../charts/curves/spec";
import { holdCharts, precompile, releaseCharts } from "../charts/vegaLib";
import type { Settings } from "../state/settings";
import { filterRuns, scalarMetricNames, sortRuns, type Filter } from "../state/table";

/** The dashboard's filter before anyone types in it. */
export const FIRST_FILTER: Filter = { text: "", status: "", archived: "hide" };
/** The most runs one overlay asks /api/series for. */
export const MAX_CURVES = 500;
/** An early answer nobody took within this long is dropped (the runs have moved on). */
const KEEP_MS = 10_000;

const early = new Map<string, Promise<SeriesAnswer>>();

function keyOf(query: SeriesRequest): string {
  return JSON.stringify(Object.entries(query).filter(([, v]) => v !== undefined).sort(([a], [b]) => a.localeCompare(b)));
}

/** The answer to `query`: the early request's when one was sent for exactly it, else a new one. */
export function askSeries(api: Api, query: SeriesRequest): Promise<SeriesAnswer> {
  const key = keyOf(query);
  const sent = early.get(key);
  if (sent) {
    early.delete(key);
    return sent;
  }
  return api.get<SeriesAnswer>("/api/series", { ...query });
}

/** The curve metric the dashboard opens with: the link's (`/?curve=loss`), else the one chosen before. */
export function initialCurve(remembered: string): string {
  return new URLSearchParams(globalThis.location?.search ?? "").get("curve") ?? remembered;
}

/** The dashboard will open on an overlay (the link names a curve, or one was chosen before). */
function opensOnCurves(settings: Settings): string {
  return globalThis.location?.pathname === "/" ? initialCurve(settings.curve) : "";
}

/** At start: when the dashboard opens on an overlay, the other charts wait (their spec
 *  requests would be ahead of /api/runs on the server) until the runs list says more. */
export function expectDashboardCurves(settings: Settings): void {
  const metric = opensOnCurves(settings);
  if (!metric) return;
  holdCharts();
  // The overlay opens with x = step and linear axes: its spec is known before any data.
  precompile(curveSpec({ metric, mode: "step", logX: false, logY: false }));
}

/** Sends the dashboard overlay's first request, if this page is the dashboard and it
 *  will draw curves whose budget does not depend on the chart's width (many runs: each
 *  gets its share of the total; few runs are quick to ask for when the chart is laid out).
 *  Otherwise the other charts go ahead at once. */
export function prefetchDashboardCurves(api: Api, runs: readonly RunView[], settings: Settings): void {
  if (!prefetch(api, runs, settings)) releaseCharts();
}

function prefetch(api: Api, runs: readonly RunView[], settings: Settings): boolean {
  const metric = opensOnCurves(settings);
  if (!metric || metric.startsWith("sys/") || !scalarMetricNames(runs).includes(metric)) return false;
  const ids = sortRuns(filterRuns(runs, FIRST_FILTER), settings.sort).slice(0, MAX_CURVES).map((r) => r.run_id).sort();
  if (!ids.length) return false;
  const width = globalThis.innerWidth || 1000;
  if (budgetFor(width / 4, ids.length) !== budgetFor(width, ids.length)) return false;
  const { query } = new ZoomState(metric, ids, "step").request(width);
  const key = keyOf(query);
  const sent = api.get<SeriesAnswer>("/api/series", { ...query });
  sent.catch(() => undefined); // the overlay that takes it reports a failure
  early.set(key, sent);
  holdCharts(); // released by the overlay once drawn (or HOLD_MS)
  setTimeout(() => { if (early.get(key) === sent) early.delete(key); }, KEEP_MS);
  return true;
}
