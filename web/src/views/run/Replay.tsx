// Replay a run: its events again from position 0, paced by their timestamps
// (1×, 10×, instant); output and metrics reappear as they did. The run's status and
// metrics at each moment are the server's fold as of that position (/api/asof/runs),
// asked at most once at a time while the replay plays.

import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { LiveEvent, MetricsLoggedData, RunsAsOf, RunView } from "../../api/types";
import { useModel } from "../../app/context";
import { LogLines } from "../../components/LogLines";
import { StatusBadge } from "../../components/StatusBadge";
import { fmtValue } from "../../lib/format";
import { LogBuffer } from "../../state/logbuffer";
import { ReplayPlayer, type Speed } from "../../state/replay";
import { ArrayChart, SeriesChart, type LiveSource } from "./MetricCharts";

function metricKinds(events: readonly LiveEvent[]) {
  const counts = new Map<string, number>();
  const arrays = new Set<string>();
  for (const e of events) {
    if (e.type !== "metrics.logged") continue;
    const d = e.data as MetricsLoggedData;
    d.index.forEach((k, i) => {
      const name = d.names[k]!;
      if (Array.isArray(d.values[i])) arrays.add(name);
      else if (typeof d.values[i] === "number") counts.set(name, (counts.get(name) ?? 0) + 1);
    });
  }
  return { series: [...counts].filter(([, n]) => n > 1).map(([m]) => m).sort(), arrays: [...arrays].sort() };
}

export function Replay({ run }: { run: RunView }) {
  const model = useModel();
  const [events, setEvents] = useState<LiveEvent[] | null>(null);

  useEffect(() => {
    const collected: LiveEvent[] = [];
    const stop = model.feed.subscribe(`run/${run.run_id}`, 0, {
      onEvents: (evs) => collected.push(...evs),
      onLive: () => {
        setEvents(collected);
        stop();
      },
    });
    return stop;
  }, [model, run.run_id]);

  if (!events) return <p className="muted">loading the run's events…</p>;
  return <Player run={run} events={events} />;
}

/** The run as the server folded it as of a position; asks once at a time, the latest wins. */
function useViewAsOf(runId: string) {
  const model = useModel();
  const [view, setView] = useState<RunView | null>(null);
  const state = useRef({ busy: false, want: null as number | null, epoch: 0 });
  const ask = useCallback((position: number | null) => {
    const s = state.current;
    if (position === null) {
      s.epoch += 1; // forget what is on its way
      s.want = null;
      s.busy = false;
      setView(null);
      return;
    }
    s.want = position;
    if (s.busy) return;
    const next = () => {
      const until = s.want;
      if (until === null) return;
      s.want = null;
      s.busy = true;
      const epoch = s.epoch;
      model.api.get<RunsAsOf>("/api/asof/runs", { until, archived: "include", run_id: runId }).then((r) => {
        if (epoch !== s.epoch) return;
        setView(r.runs.find((v) => v.run_id === runId) ?? null);
        s.busy = false;
        next();
      }, (err: unknown) => {
        s.busy = false;
        model.errors.report(err, "the run as of the replay's moment");
      });
    };
    next();
  }, [model, runId]);
  return [view, ask] as const;
}

const VIEW_TYPES = new Set(["run.submitted", "run.started", "run.completed", "run.lost",
  "metrics.logged", "run.archived", "run.restored"]);

function Player({ run, events }: { run: RunView; events: LiveEvent[] }) {
  const [epoch, setEpoch] = useState(0);
  const [speed, setSpeed] = useState<Speed>(10);
  const [view, askView] = useViewAsOf(run.run_id);
  const [index, setIndex] = useState(0);
  const [playing, setPlaying] = useState(false);
  const buffer = useRef(new LogBuffer());
  const [logVersion, setLogVersion] = useState(0);
  const listeners = useRef(new Set<(events: LiveEvent[]) => void>());
  const kinds = useMemo(() => metricKinds(events), [events]);
  const live = useCallback<LiveSource>((fn) => {
    listeners.current.add(fn);
    return () => listeners.current.delete(fn);
  }, []);

  const player = useMemo(() => new ReplayPlayer(events, (batch, done) => {
    const changes = batch.filter((e) => VIEW_TYPES.has(e.type));
    if (changes.length) askView(changes[changes.length - 1]!.position);
    if (buffer.current.addEvents(batch)) setLogVersion(buffer.current.version);
    for (const fn of [...listeners.current]) fn(batch);
    setIndex((i) => i + batch.length);
    if (done) setPlaying(false);
  }), [events, askView]);
  useEffect(() => () => player.pause(), [player]);

  const restart = () => {
    player.rewind();
    buffer.current = new LogBuffer();
    setLogVersion(0);
    askView(null);
    setIndex(0);
    setPlaying(false);
    setEpoch((e) => e + 1); // fresh charts
  };
  const play = (s: Speed) => {
    setSpeed(s);
    if (player.done) restart();
    setPlaying(true);
    // Let the restart's state settle before the first events arrive.
    setTimeout(() => player.play(s), 0);
  };
  const t0 = events[0]?.ts ?? 0;
  const now = index > 0 ? events[index - 1]!.ts - t0 : 0;
  const total = events.length ? events[events.length - 1]!.ts - t0 : 0;
  const refs = [{ run_id: run.run_id, label: `#${run.number}` }];

  return (
    <div className="replay" data-testid="replay" data-index={index} data-total={events.length}>
      <div className="replay-controls">
        <span>Speed</span>
        {([1, 10, "instant"] as Speed[]).map((s) => (
          <button key={String(s)} type="button" className={speed === s ? "active" : ""}
            onClick={() => play(s)}>{s === "instant" ? "instant" : `${s}×`}</button>
        ))}
        {playing ? (
          <button type="button" onClick={() => { player.pause(); setPlaying(false); }}>Pause</button>
        ) : null}
        <button type="button" onClick={restart}>Restart</button>
        <span className="muted" data-testid="replay-progress">
          event {index} of {events.length} · {now.toFixed(1)} s of {total.toFixed(1)} s
        </span>
        {view && <StatusBadge status={view.status} />}
      </div>
      <div className="replay-body" key={epoch}>
        <div className="replay-log">
          <LogLines buffer={buffer.current} version={logVersion} empty="press a speed to replay" />
        </div>
        <div className="replay-side">
          <table className="grid">
            <tbody>
              {Object.entries(view?.metrics ?? {}).map(([k, v]) => (
                <tr key={k}><th>{k}</th><td className="num">{fmtValue(v)}</td></tr>
              ))}
            </tbody>
          </table>
          {kinds.series.map((m) => <SeriesChart key={m} metric={m} runs={refs} live={live} history={false} />)}
          {kinds.arrays.map((m) => <ArrayChart key={m} metric={m} runs={refs} live={live} history={false} />)}
        </div>
      </div>
    </div>
  );
}
