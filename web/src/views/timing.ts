// Page-load figures for the benchmark: performance marks, set once each.

declare global {
  interface Window {
    __runstreamTiming?: Record<string, number>;
  }
}

export function markTiming(name: "first-chart" | "interactive"): void {
  const timing = (window.__runstreamTiming ??= {});
  if (timing[name] !== undefined) return;
  timing[name] = performance.now();
  performance.mark(`runstream:${name}`);
}
