// One run's view, kept live: fetched once, then folded with its events from the
// `run/<id>` topic (which also feeds live points to the run's charts).

import { useCallback, useEffect, useRef, useState } from "react";
import type { LiveEvent, MetricNames, RunView } from "../../api/types";
import { useModel } from "../../app/context";
import { FrameBatcher } from "../../state/batch";
import { applyChange, reduceEvent } from "../../state/fold";
import type { LiveSource } from "./MetricCharts";

export interface LiveRun {
  view: RunView | null;
  names: MetricNames | null;
  /** Bumped when an artifact is added. */
  artifacts: number;
  live: LiveSource;
  setView: (view: RunView) => void;
  missing: string | null;
}

export function useLiveRun(runId: string): LiveRun {
  const model = useModel();
  const [view, setView] = useState<RunView | null>(null);
  const [names, setNames] = useState<MetricNames | null>(null);
  const [artifacts, setArtifacts] = useState(0);
  const [missing, setMissing] = useState<string | null>(null);
  const listeners = useRef(new Set<(events: LiveEvent[]) => void>());

  const live = useCallback<LiveSource>((fn) => {
    listeners.current.add(fn);
    return () => listeners.current.delete(fn);
  }, []);

  useEffect(() => {
    let ok = true;
    const id = encodeURIComponent(runId);
    const feed = model.openFeed();
    setView(null);
    setNames(null);
    setMissing(null);
    const loadNames = () =>
      model.api.get<MetricNames>(`/api/runs/${id}/metrics`).then(
        (n) => ok && setNames(n),
        (err: unknown) => model.errors.report(err, "metric names"),
      );
    let known = new Set<string>();
    const batcher = new FrameBatcher<LiveEvent>((events) => {
      setView((v) => events.reduce<RunView | null>((acc, e) => {
        const change = reduceEvent(e);
        return change ? applyChange(acc, change) : acc;
      }, v));
      for (const fn of [...listeners.current]) fn(events);
      if (events.some((e) => e.type === "artifact.added")) setArtifacts((n) => n + 1);
      const logged = events.filter((e) => e.type === "metrics.logged")
        .flatMap((e) => (e.data as { names: string[] }).names);
      if (logged.some((n) => !known.has(n))) {
        known = new Set([...known, ...logged]);
        void loadNames();
      }
    });
    model.api.get<RunView>(`/api/runs/${id}`).then((v) => {
      if (!ok) return;
      setView(v);
      known = new Set(Object.keys(v.metrics));
      void loadNames();
      feed.subscribe(`run/${runId}`, v.position, { onEvents: (events) => batcher.push(events) });
    }, (err: unknown) => {
      if (ok) setMissing(err instanceof Error ? err.message : String(err));
    });
    return () => {
      ok = false;
      feed.close();
    };
  }, [model, runId]);

  return { view, names, artifacts, live, setView, missing };
}
