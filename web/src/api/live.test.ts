import { describe, expect, it } from "vitest";
import { LiveFeed, type SocketLike } from "./live";
import type { Frame, LiveEvent } from "./types";
import { ev } from "../state/testing";

class FakeSocket implements SocketLike {
  sent: unknown[] = [];
  closed = false;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(readonly url: string) {}
  send(data: string) { this.sent.push(JSON.parse(data)); }
  close() { this.closed = true; }
  open() { this.onopen?.({}); }
  frame(f: Frame) { this.onmessage?.({ data: JSON.stringify(f) }); }
  drop(code = 1006) { this.onclose?.({ code, reason: "" }); }
}

function harness() {
  const sockets: FakeSocket[] = [];
  const timers: (() => void)[] = [];
  let failures = 0;
  const got: LiveEvent[] = [];
  const feed = new LiveFeed({
    url: () => "ws://x/api/ws",
    socket: (url) => { const s = new FakeSocket(url); sockets.push(s); return s; },
    setTimer: (fn) => { timers.push(fn); return timers.length; },
    clearTimer: () => undefined,
    onFailure: () => failures++,
  });
  return { feed, sockets, timers, got, failures: () => failures };
}

const e = (p: number) => ev(p, "run/a", "run.started", {});

describe("the live feed", () => {
  it("subscribes from the given position once the socket opens", () => {
    const h = harness();
    h.feed.subscribe("jobs", 42, { onEvents: (evs) => h.got.push(...evs) });
    h.sockets[0]!.open();
    expect(h.sockets[0]!.sent).toEqual([{ subscribe: "jobs", after: 42 }]);
  });

  it("resumes after a dropped connection from the last position, without gap or duplicate", () => {
    const h = harness();
    let live = 0;
    h.feed.subscribe("jobs", 0, { onEvents: (evs) => h.got.push(...evs), onLive: () => live++ });
    const s1 = h.sockets[0]!;
    s1.open();
    s1.frame({ topic: "jobs", events: [e(1), e(2)], backlog: true });
    s1.frame({ topic: "jobs", events: [], live: true, position: 2 });
    s1.frame({ topic: "jobs", events: [e(3)] });
    s1.drop(4000); // too slow: the server closed us
    expect(h.timers).toHaveLength(1);
    h.timers[0]!();
    const s2 = h.sockets[1]!;
    s2.open();
    expect(s2.sent).toEqual([{ subscribe: "jobs", after: 3 }]);
    // A resend overlapping what we have: only the new events come through.
    s2.frame({ topic: "jobs", events: [e(2), e(3), e(4)], backlog: true });
    s2.frame({ topic: "jobs", events: [], live: true, position: 4 });
    s2.frame({ topic: "jobs", events: [e(4), e(5)] });
    expect(h.got.map((x) => x.position)).toEqual([1, 2, 3, 4, 5]);
    expect(live).toBe(2);
    expect(h.feed.state).toBe("live");
  });

  it("moves its position to the live frame's, even with no events", () => {
    const h = harness();
    h.feed.subscribe("log/a", 0, { onEvents: () => undefined });
    h.sockets[0]!.open();
    h.sockets[0]!.frame({ topic: "log/a", events: [], live: true, position: 99 });
    expect(h.feed.position("log/a")).toBe(99);
  });

  it("keeps topics apart and ignores frames of topics it left", () => {
    const h = harness();
    const a: number[] = [];
    const b: number[] = [];
    h.feed.subscribe("run/a", 0, { onEvents: (evs) => a.push(...evs.map((x) => x.position)) });
    const stop = h.feed.subscribe("run/b", 0, { onEvents: (evs) => b.push(...evs.map((x) => x.position)) });
    h.sockets[0]!.open();
    h.sockets[0]!.frame({ topic: "run/a", events: [e(5)] });
    h.sockets[0]!.frame({ topic: "run/b", events: [e(5)] });
    stop();
    h.sockets[0]!.frame({ topic: "run/b", events: [e(6)] });
    expect(a).toEqual([5]);
    expect(b).toEqual([5]);
    expect(h.sockets[0]!.sent).toContainEqual({ unsubscribe: "run/b" });
  });

  it("reports a connection that never opened (maybe a missing token) and backs off", () => {
    const h = harness();
    h.feed.subscribe("jobs", 0, { onEvents: () => undefined });
    h.sockets[0]!.drop();
    h.timers[0]!();
    h.sockets[1]!.drop();
    expect(h.failures()).toBe(2);
    expect(h.feed.state).toBe("reconnecting");
  });

  it("after a too-slow close (4000) resumes each topic from its own position", () => {
    const h = harness();
    const a: number[] = [];
    const b: number[] = [];
    h.feed.subscribe("run/a", 0, { onEvents: (evs) => a.push(...evs.map((x) => x.position)) });
    h.feed.subscribe("log/a", 0, { onEvents: (evs) => b.push(...evs.map((x) => x.position)) });
    const s1 = h.sockets[0]!;
    s1.open();
    s1.frame({ topic: "run/a", events: [e(1), e(2), e(3)], backlog: true });
    s1.frame({ topic: "log/a", events: [e(2)], backlog: true });
    s1.drop(4000);
    h.timers[0]!();
    const s2 = h.sockets[1]!;
    s2.open();
    expect(s2.sent).toEqual([{ subscribe: "run/a", after: 3 }, { subscribe: "log/a", after: 2 }]);
    s2.frame({ topic: "run/a", events: [e(4)], backlog: true });
    s2.frame({ topic: "log/a", events: [e(3), e(4)], backlog: true });
    expect(a).toEqual([1, 2, 3, 4]);
    expect(b).toEqual([2, 3, 4]);
  });

  it("reports a refused subscription, and a frame that is not JSON, without failing", () => {
    const errors: string[] = [];
    const sockets: FakeSocket[] = [];
    const feed = new LiveFeed({
      url: () => "ws://x/api/ws",
      socket: (url) => { const s = new FakeSocket(url); sockets.push(s); return s; },
      setTimer: () => 0,
      onError: (m) => errors.push(m),
    });
    const got: number[] = [];
    feed.subscribe("jobs", 900, { onEvents: (evs) => got.push(...evs.map((x) => x.position)) });
    sockets[0]!.open();
    sockets[0]!.frame({ error: "position 900 is past the end of the event log (position 5)" });
    sockets[0]!.onmessage?.({ data: "{not json" });
    sockets[0]!.frame({ topic: "jobs", events: [e(901)] });
    expect(errors).toHaveLength(2);
    expect(errors[0]).toContain("past the end");
    expect(got).toEqual([901]);
  });

  it("stays closed once closed", () => {
    const h = harness();
    h.feed.subscribe("jobs", 0, { onEvents: () => undefined });
    h.feed.close();
    h.sockets[0]!.drop();
    expect(h.timers).toHaveLength(0);
    expect(h.sockets[0]!.closed).toBe(true);
  });
});
