// The server's API, as the app sees it. Its types are generated from the server's own
// schemas (web/src/api/generated.ts, by scripts/generate); this module names them as the
// app uses them, and adds what only the app needs.

import type {
  ArtifactAdded,
  LogLines,
  MetricsLogged,
  RunCompleted,
  RunLost,
  RunStarted,
  RunSubmitted,
  RunView,
  Series,
  ValueSeries,
  WireEvent,
} from "./generated";

export type {
  Artifact,
  AuditEntry,
  ErrorFrame,
  EventsFrame,
  LogLine,
  LogPage,
  MetricNames,
  ModelDetail,
  ModelSummary,
  ModelVersion,
  RunList,
  RunsAsOf,
  RunView,
  Series,
  SeriesAnswer,
  Status,
  ValuePoint,
  ValueSeries,
  ViewsFrame,
} from "./generated";

export type RunStatus = RunView["status"];
export type MetricValue = number | string;
export type MetricData = Series | ValueSeries;

/** One event as the websocket sends it. */
export type LiveEvent = WireEvent;

/** One server frame (see the module docstring of server/runstream_server/api/live.py). */
export interface Frame {
  topic?: string;
  /** The subscription's id (the topic for a subscription made without one). */
  id?: string;
  events?: LiveEvent[];
  /** The `runs` topic: run views, as GET /api/runs/<id> answers them. */
  views?: RunView[];
  backlog?: boolean;
  live?: boolean;
  /** Views frames: the resume point (every change up to it was sent). Live frames:
   * where the tail starts. */
  position?: number;
  /** With `error`: the message field that was refused (e.g. "after"). */
  error?: string;
  field?: string;
}

// The payloads of the events the app reads (runstream.events, generated).
export type RunSubmittedData = RunSubmitted;
export type RunStartedData = RunStarted;
export type RunCompletedData = RunCompleted;
export type RunLostData = RunLost;
export type LogLinesData = LogLines;
export type MetricsLoggedData = MetricsLogged;
export type ArtifactAddedData = ArtifactAdded;
