// Builders for unit tests: events as the websocket sends them.

import type { LiveEvent, RunView } from "../api/types";
import { emptyView } from "./fold";

let nextId = 0;

export function ev(position: number, stream: string, type: string, data: unknown, ts = position): LiveEvent {
  return { position, id: `e${nextId++}`, stream, seq: position, type, v: 1, ts, data };
}

export const submitted = (pos: number, run: string, project = "iris", ts = pos) =>
  ev(pos, `run/${run}`, "run.submitted", { project, script: "train.py", args: ["0.5"] }, ts);
export const started = (pos: number, run: string, ts = pos) =>
  ev(pos, `run/${run}`, "run.started", { pid: 1, host: "h" }, ts);
export const completed = (pos: number, run: string, ts = pos, status = "completed") =>
  ev(pos, `run/${run}`, "run.completed", { status, exit_code: 0, reason: "" }, ts);
export const lost = (pos: number, run: string, ts = pos, reason = "agent lost: no sign of life for 90 s (lease 30 s)") =>
  ev(pos, `review/${run}`, "run.lost", { run_id: run, reason }, ts);
export const archived = (pos: number, run: string) => ev(pos, `review/${run}`, "run.archived", { run_id: run });
export const artifact = (pos: number, run: string) =>
  ev(pos, `run/${run}`, "artifact.added", { path: "outputs/m.pkl", sha256: "a".repeat(64), size: 3 });
export const metrics = (pos: number, run: string, values: Record<string, (number | string | number[])[]>) => {
  const names = Object.keys(values);
  const index: number[] = [];
  const steps: number[] = [];
  const vals: (number | string | number[])[] = [];
  names.forEach((name, k) => values[name]!.forEach((v, step) => {
    index.push(k);
    steps.push(step);
    vals.push(v);
  }));
  return ev(pos, `run/${run}`, "metrics.logged", { names, index, steps, times: steps.map(() => 0), values: vals });
};
export const lines = (pos: number, run: string, first: number, texts: string[]) =>
  ev(pos, `run/${run}`, "log.lines", { first, lines: texts, times: texts.map(() => 0), fds: texts.map(() => 1) });

export function view(run: string, patch: Partial<RunView> = {}): RunView {
  return { ...emptyView(run, "iris"), number: 1, ...patch };
}
