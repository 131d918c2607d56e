// The server's API, as the app sees it (see GET /api/openapi.json).

export type RunStatus = "submitted" | "running" | "completed" | "failed" | "canceled";
export type MetricValue = number | string;

export interface RunView {
  run_id: string;
  project: string;
  number: number;
  status: RunStatus;
  submitted: number | null;
  started: number | null;
  ended: number | null;
  duration: number | null;
  target: string;
  script: string;
  args: string[];
  user: string;
  snapshot: string;
  host: string;
  exit_code: number | null;
  reason: string;
  archived: boolean;
  metrics: Record<string, MetricValue>;
  log_lines: number;
  artifacts: number;
  position: number;
}

export interface RunList {
  runs: RunView[];
  total: number;
}

export interface RunsAsOf extends RunList {
  position: number;
  time: number | null;
  head: number;
}

export interface Status {
  name: string;
  version: string;
  position: number;
  token_required: boolean;
}

export interface MetricNames {
  scalars: string[];
  arrays: string[];
  strings: string[];
}

export interface Series {
  format: "series";
  name: string;
  steps: number[];
  times: number[];
  values: number[];
}

export interface ValuePoint {
  step: number;
  time: number;
  value: number | string | number[];
}

export interface ValueSeries {
  format: "values";
  name: string;
  kind: string;
  points: ValuePoint[];
}

export type MetricData = Series | ValueSeries;

/** `[line number, time, fd, text]` */
export type LogLine = [number, number, number, string];

export interface LogPage {
  start: number;
  total: number;
  lines: LogLine[];
}

export interface Artifact {
  path: string;
  sha256: string;
  size: number;
  media_type: string;
  added: number;
}

export interface AuditEntry {
  position: number;
  stream: string;
  seq: number;
  type: string;
  v: number;
  ts: number;
  recorded: number;
  summary: string;
}

export interface ModelVersion {
  name: string;
  version: number;
  run_id: string;
  path: string;
  sha256: string;
  size: number;
  created: number;
}

export interface ModelSummary {
  name: string;
  latest: number;
  versions: number;
  updated: number;
}

export interface ModelDetail {
  name: string;
  versions: ModelVersion[];
}

/** One event as the websocket sends it. */
export interface LiveEvent {
  position: number;
  id: string;
  stream: string;
  seq: number;
  type: string;
  v: number;
  ts: number;
  data: unknown;
}

export interface Frame {
  topic?: string;
  events?: LiveEvent[];
  backlog?: boolean;
  live?: boolean;
  position?: number;
  /** With `error`: the message field that was refused (e.g. "after"). */
  error?: string;
  field?: string;
}

// Payloads the app folds (see sdk/runstream/events.py).
export interface RunSubmittedData {
  project: string;
  script: string;
  args?: string[];
  target?: string;
  user?: string;
  snapshot?: string;
  host?: string;
}
export interface RunStartedData {
  pid?: number;
  host?: string;
}
export interface RunCompletedData {
  status: RunStatus;
  exit_code?: number | null;
  reason?: string;
}
/** Written by the server to review/<run id> when the run's lease expired. */
export interface RunLostData {
  run_id: string;
  reason: string;
}
export interface LogLinesData {
  first: number;
  lines: string[];
  times: number[];
  fds: number[];
}
export interface MetricsLoggedData {
  names: string[];
  index: number[];
  steps: number[];
  times: number[];
  values: (number | string | number[])[];
}
export interface ArtifactAddedData {
  path: string;
  sha256: string;
  size: number;
  media_type?: string;
}
