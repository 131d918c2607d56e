// A run's view folded from its events: the same fold as the server's runs
// projection (server/runstream_server/projections/runs.py), so a view built from
// a snapshot plus live events equals the one the server would return.

import type {
  ArtifactAddedData,
  LiveEvent,
  LogLinesData,
  MetricsLoggedData,
  RunCompletedData,
  RunLostData,
  RunStartedData,
  RunSubmittedData,
  RunView,
} from "../api/types";

/** What an event changes in a run's view, without the bulk (lines, points). */
export type RunChange =
  | { kind: "submitted"; data: RunSubmittedData }
  | { kind: "started"; host: string }
  | { kind: "completed"; data: RunCompletedData }
  | { kind: "lost"; reason: string }
  | { kind: "metrics"; latest: Record<string, number | string> }
  | { kind: "lines"; end: number }
  | { kind: "artifact" }
  | { kind: "archived"; archived: boolean }
  | { kind: "other" };

export interface Change {
  position: number;
  ts: number;
  runId: string;
  change: RunChange;
}

export function runIdOf(stream: string): string | null {
  const slash = stream.indexOf("/");
  if (slash < 0) return null;
  const kind = stream.slice(0, slash);
  const rest = stream.slice(slash + 1);
  return (kind === "run" || kind === "review") && rest ? rest : null;
}

export function reduceEvent(event: LiveEvent): Change | null {
  const runId = runIdOf(event.stream);
  if (runId === null) return null;
  return { position: event.position, ts: event.ts, runId, change: toChange(event) };
}

function toChange(event: LiveEvent): RunChange {
  switch (event.type) {
    case "run.submitted":
      return { kind: "submitted", data: event.data as RunSubmittedData };
    case "run.started":
      return { kind: "started", host: (event.data as RunStartedData).host ?? "" };
    case "run.completed":
      return { kind: "completed", data: event.data as RunCompletedData };
    case "run.lost":
      return { kind: "lost", reason: (event.data as RunLostData).reason ?? "" };
    case "metrics.logged":
      return { kind: "metrics", latest: latestScalars(event.data as MetricsLoggedData) };
    case "log.lines": {
      const d = event.data as LogLinesData;
      return { kind: "lines", end: d.first + d.lines.length };
    }
    case "artifact.added":
      void (event.data as ArtifactAddedData);
      return { kind: "artifact" };
    case "run.archived":
      return { kind: "archived", archived: true };
    case "run.restored":
      return { kind: "archived", archived: false };
    default:
      return { kind: "other" };
  }
}

/** The last number or string logged for each metric of a batch; arrays are not columns.
 *  Non-finite numbers become "NaN", "Infinity", "-Infinity", as on the server. */
export function latestScalars(d: MetricsLoggedData): Record<string, number | string> {
  const latest: Record<string, number | string> = {};
  for (let i = d.index.length - 1; i >= 0; i--) {
    const value = d.values[i];
    if (Array.isArray(value) || value === undefined) continue;
    const name = d.names[d.index[i]!]!;
    if (name in latest) continue;
    latest[name] =
      typeof value === "string" || Number.isFinite(value)
        ? value
        : Number.isNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity";
  }
  return latest;
}

export function emptyView(runId: string, project: string): RunView {
  return {
    run_id: runId, project, number: 0, status: "submitted", submitted: null, started: null,
    ended: null, duration: null, target: "", script: "", args: [], user: "", snapshot: "",
    host: "", exit_code: null, reason: "", archived: false, metrics: {}, log_lines: 0,
    artifacts: 0, position: 0,
  };
}

/** Fold one change into a view. Pure; `null` means "no run yet". */
export function applyChange(view: RunView | null, c: Change): RunView | null {
  const ch = c.change;
  if (ch.kind === "submitted") {
    if (view) return view;
    const d = ch.data;
    return {
      ...emptyView(c.runId, d.project), submitted: c.ts, target: d.target ?? "local",
      script: d.script, args: [...(d.args ?? [])], user: d.user ?? "",
      snapshot: d.snapshot ?? "", host: d.host ?? "", position: c.position,
    };
  }
  if (!view || ch.kind === "other") return view;
  // The server's presumption of loss: its writer's own end, earlier or later, wins.
  if (ch.kind === "lost" && view.ended !== null) return view;
  const next: RunView = { ...view, position: c.position };
  switch (ch.kind) {
    case "started":
      next.status = view.status === "submitted" ? "running" : view.status;
      next.started = c.ts;
      next.host = ch.host || view.host;
      break;
    case "completed": {
      next.status = ch.data.status;
      next.ended = c.ts;
      next.exit_code = ch.data.exit_code ?? null;
      next.reason = ch.data.reason ?? "";
      const start = view.started ?? view.submitted;
      next.duration = start === null ? null : Math.max(0, c.ts - start);
      break;
    }
    case "lost": {
      next.status = "failed";
      next.reason = ch.reason;
      next.ended = c.ts;
      const start = view.started ?? view.submitted;
      next.duration = start === null ? null : Math.max(0, c.ts - start);
      break;
    }
    case "metrics":
      next.metrics = { ...view.metrics, ...ch.latest };
      break;
    case "lines":
      next.log_lines = Math.max(view.log_lines, ch.end);
      break;
    case "artifact":
      next.artifacts = view.artifacts + 1;
      break;
    case "archived":
      next.archived = ch.archived;
      break;
  }
  return next;
}
