// Chart specs come from the server (vega-altair); fetched once per kind and metric.

import type { Api } from "../api/http";

export type ChartKind = "scalar" | "status" | "array" | "series";
export type Spec = Record<string, unknown> & {
  usermeta?: { runstream?: { dataset: string; key: string; kind: ChartKind } };
};

const cache = new Map<string, Promise<Spec>>();

export function chartSpec(api: Api, kind: ChartKind, metric = ""): Promise<Spec> {
  const key = `${kind}\u0000${metric}`;
  let spec = cache.get(key);
  if (!spec) {
    spec = api.get<Spec>(`/api/charts/${kind}`, metric ? { metric } : {});
    spec.catch(() => cache.delete(key)); // try again next time
    cache.set(key, spec);
  }
  return spec;
}

export function datasetOf(spec: Spec): string {
  return spec.usermeta?.runstream?.dataset ?? "runs";
}

/** `spec` with its y axis on a log scale; rows whose value is not > 0 are left out (a log
 *  scale has no place for them; the chart says how many it leaves out). */
export function withLogY(spec: Spec): Spec {
  const out = structuredClone(spec) as Spec & { encoding?: { y?: { scale?: Record<string, unknown> } };
    transform?: unknown[] };
  const y = out.encoding?.y;
  if (!y) return spec;
  y.scale = { ...(y.scale ?? {}), type: "log", zero: false };
  out.transform = [...(out.transform ?? []), { filter: "isValid(datum.value) && datum.value > 0" }];
  return out;
}
