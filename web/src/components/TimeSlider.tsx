// The state as of a past moment: a slider over the event log's positions; at its
// right end, live. The runs as of a position are folded from the log by the server.

import { useEffect, useState } from "react";
import { useModel } from "../app/context";
import type { RunsAsOf, Status } from "../api/types";
import { fmtTime } from "../lib/format";
import { useObservable } from "../state/observable";

/** `until` null: live. Returns the runs as of `until` once fetched. */
export function useAsOf(until: number | null): RunsAsOf | null {
  const model = useModel();
  const [state, setState] = useState<RunsAsOf | null>(null);
  useEffect(() => {
    if (until === null) {
      setState(null);
      return;
    }
    let live = true;
    const timer = setTimeout(() => {
      model.api.get<RunsAsOf>("/api/asof/runs", { until, archived: "include" }).then(
        (s) => live && setState(s),
        (err: unknown) => model.errors.report(err, "state as of the past"),
      );
    }, 120); // while dragging, ask only once the hand rests
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [model, until]);
  return until === null ? null : state;
}

export function TimeSlider({ until, onChange, asOf }: {
  until: number | null;
  onChange: (until: number | null) => void;
  asOf: RunsAsOf | null;
}) {
  const model = useModel();
  useObservable(model.runs);
  const [fetched, setHead] = useState(model.conn.status?.position ?? 0);
  const head = Math.max(fetched, model.runs.position);

  const refreshHead = () => {
    model.api.get<Status>("/api").then(
      (s) => setHead(s.position),
      (err: unknown) => model.errors.report(err, "log position"),
    );
  };
  useEffect(refreshHead, [model]);

  const value = until ?? head;
  const label = until === null
    ? "live"
    : asOf && asOf.position === until
      ? `as of ${fmtTime(asOf.time)} (event ${until} of ${head})`
      : `event ${until} of ${head}…`;
  return (
    <div className={`timeslider${until === null ? "" : " past"}`}>
      <span className="ts-label">History</span>
      <input
        type="range"
        aria-label="time slider"
        min={0}
        max={Math.max(head, 1)}
        value={value}
        onPointerDown={refreshHead}
        onChange={(e) => {
          const v = Number(e.target.value);
          onChange(v >= head ? null : v);
        }}
      />
      <span className="ts-value" data-testid="asof-label">{label}</span>
      {until !== null && (
        <button type="button" onClick={() => onChange(null)}>
          back to live
        </button>
      )}
    </div>
  );
}
