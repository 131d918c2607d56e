// One run's view, as the server folded it: from the run store, which the `runs`
// topic keeps live. The run's own topic, `run/<id>`, is followed only for the live
// points that feed its charts.

import { useCallback, useEffect, useRef, useState } from "react";
import type { LiveEvent, MetricNames, MetricsLoggedData, RunView } from "../../api/types";
import { useModel } from "../../app/context";
import { FrameBatcher } from "../../state/batch";
import { useObservable } from "../../state/observable";
import type { LiveSource } from "./MetricCharts";

export interface LiveRun {
  view: RunView | null;
  names: MetricNames | null;
  /** Changes when an artifact is added. */
  artifacts: number;
  live: LiveSource;
  setView: (view: RunView) => void;
  missing: string | null;
}

export function useLiveRun(runId: string): LiveRun {
  const model = useModel();
  useObservable(model.runs);
  const view = model.runs.get(runId) ?? null;
  const [names, setNames] = useState<MetricNames | null>(null);
  const [missing, setMissing] = useState<string | null>(null);
  const listeners = useRef(new Set<(events: LiveEvent[]) => void>());
  const known = view !== null;
  const loaded = model.runs.loaded;

  const live = useCallback<LiveSource>((fn) => {
    listeners.current.add(fn);
    return () => listeners.current.delete(fn);
  }, []);
  const setView = useCallback((v: RunView) => model.runs.put([v]), [model]);

  useEffect(() => {
    // A run the store does not hold (yet): ask once whether it exists.
    if (known || !loaded) return;
    let ok = true;
    model.api.get<RunView>(`/api/runs/${encodeURIComponent(runId)}`).then(
      (v) => ok && model.runs.put([v]),
      (err: unknown) => ok && setMissing(err instanceof Error ? err.message : String(err)),
    );
    return () => {
      ok = false;
    };
  }, [model, runId, known, loaded]);

  useEffect(() => {
    if (!known) return;
    let ok = true;
    const id = encodeURIComponent(runId);
    setNames(null);
    setMissing(null);
    const loadNames = () =>
      model.api.get<MetricNames>(`/api/runs/${id}/metrics`).then(
        (n) => ok && setNames(n),
        (err: unknown) => model.errors.report(err, "metric names"),
      );
    const start = model.runs.get(runId)!;
    let seen = new Set<string>(Object.keys(start.metrics));
    void loadNames();
    const batcher = new FrameBatcher<LiveEvent>((events) => {
      for (const fn of [...listeners.current]) fn(events);
      const logged = events.filter((e) => e.type === "metrics.logged")
        .flatMap((e) => (e.data as MetricsLoggedData).names);
      if (logged.some((n) => !seen.has(n))) {
        seen = new Set([...seen, ...logged]);
        void loadNames();
      }
    });
    const stop = model.feed.subscribe(`run/${runId}`, start.position, {
      onEvents: (events) => batcher.push(events),
    });
    return () => {
      ok = false;
      stop();
    };
  }, [model, runId, known]);

  return { view, names, artifacts: view?.artifacts ?? 0, live, setView, missing };
}
