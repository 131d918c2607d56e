// The live feed: one websocket, several topics, each resumed from its last position.
//
// The server sends a topic's backlog, then a `live` frame, then the live tail.
// After a dropped connection (or close code 4000: this client fell further behind
// than the server buffers for it) the feed reconnects and resubscribes every topic
// from the last position it saw; events at or before that position are dropped, so
// listeners see no gap and no duplicate. A refused subscription (a bad message, or a
// position past the end of the server's log) comes back as an error frame, reported.

import type { Frame, LiveEvent } from "./types";

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
  /** Events in position order, each delivered once. */
  onEvents(events: LiveEvent[], backlog: boolean): void;
  /** The backlog is complete; `position` is where the live tail starts. */
  onLive?(position: number): void;
}

interface Topic {
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

export class LiveFeed {
  private readonly topics = new Map<string, Topic>();
  private socket: SocketLike | null = null;
  private opened = false;
  private closed = false;
  private delay = MIN_DELAY;
  private timer: unknown = null;
  state: FeedState = "connecting";

  constructor(private readonly opts: FeedOptions) {}

  /** Follow `topic` from just after `after`. Returns a function that stops following. */
  subscribe(topic: string, after: number, handlers: TopicHandlers): () => void {
    if (this.topics.has(topic)) throw new Error(`already subscribed to ${topic}`);
    this.topics.set(topic, { last: after, live: false, handlers });
    if (this.socket && this.opened) this.sendSubscribe(topic);
    else if (!this.socket && !this.closed) this.connect();
    return () => this.unsubscribe(topic);
  }

  unsubscribe(topic: string): void {
    if (!this.topics.delete(topic)) return;
    if (this.socket && this.opened) this.socket.send(JSON.stringify({ unsubscribe: topic }));
  }

  /** The last position seen on `topic` (what a resume would start after). */
  position(topic: string): number | undefined {
    return this.topics.get(topic)?.last;
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
    this.socket = socket;
    this.opened = false;
    socket.onopen = () => {
      if (socket !== this.socket) return;
      this.opened = true;
      for (const topic of this.topics.keys()) this.sendSubscribe(topic);
    };
    socket.onmessage = (ev) => {
      if (socket !== this.socket || typeof ev.data !== "string") return;
      let frame: Frame;
      try {
        frame = JSON.parse(ev.data) as Frame;
      } catch {
        this.opts.onError?.("live feed: the server sent a frame that is not JSON; ignored");
        return;
      }
      this.receive(frame);
    };
    socket.onerror = () => undefined; // onclose follows and handles it
    socket.onclose = () => {
      if (socket !== this.socket) return;
      const wasOpen = this.opened;
      this.socket = null;
      this.opened = false;
      for (const t of this.topics.values()) t.live = false;
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

  private sendSubscribe(topic: string): void {
    const t = this.topics.get(topic);
    if (!t || !this.socket) return;
    if (this.state !== "live") this.setState("connecting");
    this.socket.send(JSON.stringify({ subscribe: topic, after: t.last }));
  }

  /** Handle one frame (public for tests). */
  receive(frame: Frame): void {
    if (frame.error) {
      this.opts.onError?.(`live feed: ${frame.error}`);
      return;
    }
    const t = frame.topic === undefined ? undefined : this.topics.get(frame.topic);
    if (!t) return; // unsubscribed meanwhile
    const fresh = (frame.events ?? []).filter((e) => e.position > t.last);
    if (fresh.length) {
      t.last = fresh[fresh.length - 1]!.position;
      t.handlers.onEvents(fresh, frame.backlog === true);
    }
    if (frame.live) {
      t.last = Math.max(t.last, frame.position ?? 0);
      t.live = true;
      this.delay = MIN_DELAY;
      t.handlers.onLive?.(t.last);
      if ([...this.topics.values()].every((x) => x.live)) this.setState("live");
    }
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
