// Vega, loaded once and on its own: it is most of the UI's weight (its own ~870 KB
// chunk), and the page's first API requests need none of it. `main.tsx` starts the
// import as the app starts, so the chunk is fetched and evaluated while /api, /api/runs
// and /api/series are in flight, instead of before the app's first line runs (as a
// static import would make it).

import type { changeset as Changeset } from "vega";
import type { default as Embed } from "vega-embed";
import type { compile as Compile } from "vega-lite";

export interface VegaLib {
  embed: typeof Embed;
  changeset: typeof Changeset;
  compile: typeof Compile;
}

let loading: Promise<VegaLib> | null = null;

/** Vega, vega-embed and vega-lite (the same promise for every caller). */
export function loadVega(): Promise<VegaLib> {
  loading ??= Promise.all([import("vega"), import("vega-embed"), import("vega-lite")]).then(([vega, embed, vl]) => ({
    embed: embed.default, changeset: vega.changeset, compile: vl.compile,
  }));
  loading.catch(() => { loading = null; }); // a failed chunk load is tried again next time
  return loading;
}

// Vega-Lite specs compiled ahead (to Vega), by their JSON: compiling is ~40 ms of main
// thread per chart, which the overlay's first draw need not wait for when the page can
// tell its spec before its data (views/curvesFirst.ts).
const compiled = new Map<string, Record<string, unknown>>();

/** Compiles `spec` (Vega-Lite) once Vega has loaded, for `compiledSpec`. */
export function precompile(spec: Record<string, unknown>): void {
  loadVega().then((lib) => {
    const key = JSON.stringify(spec);
    if (!compiled.has(key)) compiled.set(key, lib.compile(spec as never).spec as Record<string, unknown>);
  }, () => undefined); // a chart that needs it reports the failed load
}

/** `spec` compiled ahead, if it was (then embed it with mode "vega"). */
export function compiledSpec(spec: Record<string, unknown>): Record<string, unknown> | undefined {
  return compiled.size ? compiled.get(JSON.stringify(spec)) : undefined;
}

// The overlay first. When the dashboard opens on a heavy overlay (views/curvesFirst.ts
// sends its request early), the page's other charts wait for it to be drawn before they
// ask for their specs and embed: each embed is ~80 ms of main thread (Vega-Lite compile,
// parse, first run) and each spec request ~150 ms of server time, both on the overlay's
// critical path otherwise. They wait at most HOLD_MS.
const HOLD_MS = 3_000;
let held: { done: Promise<void>; release: () => void } | null = null;

/** Makes charts other than the overlay wait (until `releaseCharts`, or HOLD_MS). */
export function holdCharts(): void {
  if (held) return;
  let release = () => undefined as void;
  const done = new Promise<void>((resolve) => { release = resolve; });
  const timer = setTimeout(() => releaseCharts(), HOLD_MS);
  held = { done, release: () => { clearTimeout(timer); release(); } };
}

/** The overlay is drawn (or gone): the other charts go ahead. */
export function releaseCharts(): void {
  const h = held;
  held = null;
  h?.release();
}

/** Resolves when charts other than the overlay may embed (at once when nothing holds them). */
export function chartsReleased(): Promise<void> {
  return held ? held.done : Promise.resolve();
}
