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
