// Builders for unit tests: events as the websocket sends them, run views as the server folds them.

import type { LiveEvent, RunView } from "../api/types";

let nextId = 0;

export function ev(position: number, stream: string, type: string, data: unknown, ts = position): LiveEvent {
  return { position, id: `e${nextId++}`, stream, seq: position, type, v: 1, ts, data };
}

export function view(run: string, patch: Partial<RunView> = {}): RunView {
  return {
    run_id: run, project: "iris", experiment_id: "1", number: 1, status: "submitted", submitted: 0, started: null,
    ended: null, duration: null, target: "", script: "train.py", args: [], user: "", snapshot: "",
    host: "", name: "", params: {}, tags: {}, exit_code: null, reason: "", archived: false, metrics: {}, log_lines: 0, artifacts: 0,
    dropped: 0, lease: 0, position: 0, ...patch,
  };
}

export const lines = (pos: number, run: string, first: number, texts: string[]) =>
  ev(pos, `run/${run}`, "log.lines", { first, lines: texts, times: texts.map(() => 0), fds: texts.map(() => 1) });
