// The live feed: one websocket per tab, many subscriptions, each resumed from its own
// last position.
//
// A subscription follows a topic from a position under an id of its own (so that two
// parts of the page can follow one topic from different positions). The server sends
// its backlog, then a `live` frame, then the live tail. Event topics send events: each
// is delivered once, in position order. The `runs` topic sends the server's folded run
// views, snapshots keyed by run id, and a `position` per frame: the resume point.
// After a dropped connection (or close code 4000: this client fell further behind
// than the server buffers for it) the feed reconnects and resubscribes every
// subscription from the last position it saw. A refused subscription (a bad message,
// or a position past the end of the server's log) comes back as an error frame,
// reported. A frame that is not what the server's schema says is reported (each kind
// once) and ignored: nothing a server sends can throw inside the socket's handler.

import type { LiveEvent, RunView } from "./types";

export interface SocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export type FeedState = "connecting" | "live" | "reconnecting" | "closed";

export interface TopicHandlers {
  /** Events in position order, each delivered once (event topics). */
  onEvents?(events: LiveEvent[], backlog: boolean): void;
  /** Run views (the `runs` topic): keep, per run, the greatest `position`. */
  onViews?(views: RunView[], position: number, backlog: boolean): void;
  /** The backlog is complete; `position` is where the live tail starts. */
  onLive?(position: number): void;
}

/** A frame as the feed understands it, once checked. */
export type ParsedFrame =
  | { kind: "error"; error: string; field?: string }
  | { kind: "events"; id: string; events: LiveEvent[]; backlog: boolean; live: boolean; position?: number }
  | { kind: "views"; id: string; views: RunView[]; backlog: boolean; live: boolean; position: number };

interface Subscription {
  topic: string;
  last: number;
  live: boolean;
  handlers: TopicHandlers;
}

export interface FeedOptions {
  url: () => string;
  /** Websocket subprotocols to offer; the API token travels as one (never in the URL). */
  protocols?: () => string[];
  socket?: (url: string, protocols: string[]) => SocketLike;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
  onState?: (state: FeedState) => void;
  /** Called when a connection fails before opening: e.g. to check for a 401. */
  onFailure?: () => void;
  onError?: (message: string) => void;
}

const MIN_DELAY = 250;
const MAX_DELAY = 5_000;

const isObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === "object" && x !== null && !Array.isArray(x);
const isInt = (x: unknown): x is number => typeof x === "number" && Number.isInteger(x) && x >= 0;

function isEvent(x: unknown): x is LiveEvent {
  return isObject(x) && isInt(x.position) && typeof x.id === "string" && typeof x.stream === "string" &&
    typeof x.type === "string" && typeof x.ts === "number";
}

function isView(x: unknown): x is RunView {
  return isObject(x) && typeof x.run_id === "string" && isInt(x.position) && typeof x.number === "number" &&
    typeof x.status === "string" && isObject(x.metrics);
}

/** Check a frame's text against the server's frame schemas: a frame, or what is wrong. */
export function parseFrame(data: unknown): ParsedFrame | string {
  if (typeof data !== "string") return "a frame that is not text";
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch {
    return "a frame that is not JSON";
  }
  if (!isObject(raw)) return "a frame that is not an object";
  if ("error" in raw) {
    if (typeof raw.error !== "string") return "an error frame without a message";
    return { kind: "error", error: raw.error, field: typeof raw.field === "string" ? raw.field : undefined };
  }
  const id = raw.id ?? raw.topic; // servers before subscription ids: the topic
  if (typeof id !== "string") return "a frame without a subscription id";
  if (raw.backlog !== undefined && typeof raw.backlog !== "boolean") return "a frame whose `backlog` is not a boolean";
  if (raw.live !== undefined && typeof raw.live !== "boolean") return "a frame whose `live` is not a boolean";
  if (raw.position !== undefined && !isInt(raw.position)) return "a frame whose `position` is not a position";
  const backlog = raw.backlog === true;
  const live = raw.live === true;
  if ("views" in raw) {
    if (!Array.isArray(raw.views) || !raw.views.every(isView)) return "a frame whose `views` are not run views";
    if (!isInt(raw.position)) return "a views frame without a position";
    return { kind: "views", id, views: raw.views, backlog, live, position: raw.position };
  }
  if (!Array.isArray(raw.events) || !raw.events.every(isEvent)) return "a frame whose `events` are not events";
  return { kind: "events", id, events: raw.events, backlog, live, position: raw.position as number | undefined };
}

export class LiveFeed {
  private readonly subs = new Map<string, Subscription>();
  private socket: SocketLike | null = null;
  private opened = false;
  private closed = false;
  private delay = MIN_DELAY;
  private timer: unknown = null;
  private nextId = 0;
  private readonly reported = new Set<string>();
  /** Sockets opened so far (for tests and figures). */
  connections = 0;
  state: FeedState = "connecting";

  constructor(private readonly opts: FeedOptions) {}

  /** Follow `topic` from just after `after`, as `id` (default: a fresh one); returns
   * a function that stops following. An id in use is replaced. */
  subscribe(topic: string, after: number, handlers: TopicHandlers, id?: string): () => void {
    const key = id ?? `${topic}#${++this.nextId}`;
    const sub: Subscription = { topic, last: after, live: false, handlers };
    this.subs.set(key, sub);
    if (this.socket && this.opened) this.sendSubscribe(key);
    else if (!this.socket && !this.closed && this.timer === null) this.connect();
    return () => {
      if (this.subs.get(key) === sub) this.unsubscribe(key);
    };
  }

  unsubscribe(id: string): void {
    if (!this.subs.delete(id)) return;
    if (this.socket && this.opened) this.socket.send(JSON.stringify({ unsubscribe: id }));
  }

  /** The last position seen on subscription `id` (what a resume would start after). */
  position(id: string): number | undefined {
    return this.subs.get(id)?.last;
  }

  /** The ids of the current subscriptions. */
  ids(): string[] {
    return [...this.subs.keys()];
  }

  /** Drop the connection and open a new one at once (e.g. with a new token); every
   * subscription resumes from its position. */
  reconnect(): void {
    if (this.closed) return;
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    const socket = this.socket;
    this.socket = null;
    this.opened = false;
    socket?.close(1000, "reconnecting");
    this.delay = MIN_DELAY;
    if (this.subs.size) this.connect();
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000, "done");
    this.setState("closed");
  }

  private connect(): void {
    if (this.closed) return;
    const make = this.opts.socket ??
      ((url: string, protocols: string[]) => new WebSocket(url, protocols) as unknown as SocketLike);
    let socket: SocketLike;
    try {
      socket = make(this.opts.url(), this.opts.protocols?.() ?? []);
    } catch (err) {
      this.opts.onError?.(`cannot open the live feed: ${String(err)}`);
      this.retry();
      return;
    }
    this.connections += 1;
    this.socket = socket;
    this.opened = false;
    for (const s of this.subs.values()) s.live = false;
    socket.onopen = () => {
      if (socket !== this.socket) return;
      this.opened = true;
      for (const id of this.subs.keys()) this.sendSubscribe(id);
    };
    socket.onmessage = (ev) => {
      if (socket !== this.socket) return;
      const frame = parseFrame(ev.data);
      if (typeof frame === "string") {
        this.reportOnce(`live feed: the server sent ${frame}; ignored`);
        return;
      }
      try {
        this.receive(frame);
      } catch (err) {
        this.reportOnce(`live feed: a frame could not be handled (${String(err)}); ignored`);
      }
    };
    socket.onerror = () => undefined; // onclose follows and handles it
    socket.onclose = () => {
      if (socket !== this.socket) return;
      const wasOpen = this.opened;
      this.socket = null;
      this.opened = false;
      for (const s of this.subs.values()) s.live = false;
      if (this.closed) return;
      if (!wasOpen) this.opts.onFailure?.();
      this.retry();
    };
  }

  private retry(): void {
    if (this.closed) return;
    this.setState("reconnecting");
    const delay = this.delay;
    this.delay = Math.min(MAX_DELAY, this.delay * 2);
    this.timer = this.setTimer(() => {
      this.timer = null;
      this.connect();
    }, delay);
  }

  private sendSubscribe(id: string): void {
    const s = this.subs.get(id);
    if (!s || !this.socket) return;
    s.live = false;
    if (this.state !== "live") this.setState("connecting");
    this.socket.send(JSON.stringify({ subscribe: s.topic, after: s.last, id }));
  }

  /** Handle one checked frame (public for tests). */
  receive(frame: ParsedFrame): void {
    if (frame.kind === "error") {
      this.opts.onError?.(`live feed: ${frame.error}`);
      return;
    }
    const s = this.subs.get(frame.id);
    if (!s) return; // unsubscribed meanwhile
    if (frame.kind === "views") {
      // Resume from the frame's position, never a view's (a view read late may be
      // ahead of another run's change still on its way).
      s.last = Math.max(s.last, frame.position);
      if (frame.views.length) s.handlers.onViews?.(frame.views, frame.position, frame.backlog);
    } else {
      const fresh = frame.events.filter((e) => e.position > s.last);
      if (fresh.length) {
        s.last = fresh[fresh.length - 1]!.position;
        s.handlers.onEvents?.(fresh, frame.backlog);
      }
    }
    if (frame.live) {
      s.last = Math.max(s.last, frame.position ?? 0);
      s.live = true;
      this.delay = MIN_DELAY;
      s.handlers.onLive?.(s.last);
      if ([...this.subs.values()].every((x) => x.live)) this.setState("live");
    }
  }

  private reportOnce(message: string): void {
    if (this.reported.has(message)) return;
    this.reported.add(message);
    this.opts.onError?.(message);
  }

  private setState(state: FeedState): void {
    if (state === this.state) return;
    this.state = state;
    this.opts.onState?.(state);
  }

  private setTimer(fn: () => void, ms: number): unknown {
    return (this.opts.setTimer ?? ((f, t) => globalThis.setTimeout(f, t)))(fn, ms);
  }

  private clearTimer(handle: unknown): void {
    (this.opts.clearTimer ?? ((h) => globalThis.clearTimeout(h as number)))(handle);
  }
}
