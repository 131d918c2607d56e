import { describe, expect, it } from "vitest";
import { LiveFeed, parseFrame, type SocketLike } from "./live";
import type { Frame, LiveEvent } from "./types";
import { ev, view } from "../state/testing";

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
  raw(data: unknown) { this.onmessage?.({ data }); }
  drop(code = 1006) { this.onclose?.({ code, reason: "" }); }
}

function harness() {
  const sockets: FakeSocket[] = [];
  const timers: (() => void)[] = [];
  const errors: string[] = [];
  let failures = 0;
  const got: LiveEvent[] = [];
  const feed = new LiveFeed({
    url: () => "ws://x/api/ws",
    socket: (url) => { const s = new FakeSocket(url); sockets.push(s); return s; },
    setTimer: (fn) => { timers.push(fn); return timers.length; },
    clearTimer: () => undefined,
    onFailure: () => failures++,
    onError: (m) => errors.push(m),
  });
  return { feed, sockets, timers, got, errors, failures: () => failures };
}

const e = (p: number) => ev(p, "run/a", "run.started", {});

describe("the live feed", () => {
  it("subscribes from the given position, under its id, once the socket opens", () => {
    const h = harness();
    h.feed.subscribe("jobs", 42, { onEvents: (evs) => h.got.push(...evs) }, "j");
    h.sockets[0]!.open();
    expect(h.sockets[0]!.sent).toEqual([{ subscribe: "jobs", after: 42, id: "j" }]);
  });

  it("resumes after a dropped connection from the last position, without gap or duplicate", () => {
    const h = harness();
    let live = 0;
    h.feed.subscribe("jobs", 0, { onEvents: (evs) => h.got.push(...evs), onLive: () => live++ }, "j");
    const s1 = h.sockets[0]!;
    s1.open();
    s1.frame({ topic: "jobs", id: "j", events: [e(1), e(2)], backlog: true });
    s1.frame({ topic: "jobs", id: "j", events: [], live: true, position: 2 });
    s1.frame({ topic: "jobs", id: "j", events: [e(3)] });
    s1.drop(4000); // too slow: the server closed us
    expect(h.timers).toHaveLength(1);
    h.timers[0]!();
    const s2 = h.sockets[1]!;
    s2.open();
    expect(s2.sent).toEqual([{ subscribe: "jobs", after: 3, id: "j" }]);
    // A resend overlapping what we have: only the new events come through.
    s2.frame({ topic: "jobs", id: "j", events: [e(2), e(3), e(4)], backlog: true });
    s2.frame({ topic: "jobs", id: "j", events: [], live: true, position: 4 });
    s2.frame({ topic: "jobs", id: "j", events: [e(4), e(5)] });
    expect(h.got.map((x) => x.position)).toEqual([1, 2, 3, 4, 5]);
    expect(live).toBe(2);
    expect(h.feed.state).toBe("live");
  });

  it("moves its position to the live frame's, even with no events", () => {
    const h = harness();
    h.feed.subscribe("log/a", 0, { onEvents: () => undefined }, "l");
    h.sockets[0]!.open();
    h.sockets[0]!.frame({ topic: "log/a", id: "l", events: [], live: true, position: 99 });
    expect(h.feed.position("l")).toBe(99);
  });

  it("follows one topic twice from different positions, each under its own id", () => {
    const h = harness();
    const a: number[] = [];
    const b: number[] = [];
    h.feed.subscribe("log/a", 0, { onEvents: (evs) => a.push(...evs.map((x) => x.position)) });
    const stop = h.feed.subscribe("log/a", 5, { onEvents: (evs) => b.push(...evs.map((x) => x.position)) });
    const s = h.sockets[0]!;
    s.open();
    const [ida, idb] = h.feed.ids();
    expect(ida).not.toBe(idb);
    expect(s.sent).toEqual([{ subscribe: "log/a", after: 0, id: ida }, { subscribe: "log/a", after: 5, id: idb }]);
    s.frame({ topic: "log/a", id: ida, events: [e(3), e(6)] });
    s.frame({ topic: "log/a", id: idb, events: [e(6)] });
    stop();
    s.frame({ topic: "log/a", id: idb, events: [e(7)] }); // left: ignored
    expect(a).toEqual([3, 6]);
    expect(b).toEqual([6]);
    expect(s.sent).toContainEqual({ unsubscribe: idb });
    expect(h.sockets).toHaveLength(1); // one connection for all
  });

  it("routes frames of a server without subscription ids by their topic", () => {
    const h = harness();
    h.feed.subscribe("jobs", 0, { onEvents: (evs) => h.got.push(...evs) }, "jobs");
    h.sockets[0]!.open();
    h.sockets[0]!.frame({ topic: "jobs", events: [e(1)] });
    expect(h.got.map((x) => x.position)).toEqual([1]);
  });

  it("hands run views over with the frame's position, and resumes from that, not a view's", () => {
    const h = harness();
    const got: [string[], number, boolean][] = [];
    h.feed.subscribe("runs", 10, {
      onViews: (views, position, backlog) => got.push([views.map((v) => v.run_id), position, backlog]),
    }, "runs");
    const s1 = h.sockets[0]!;
    s1.open();
    s1.frame({ topic: "runs", id: "runs", views: [view("a", { position: 12 })], position: 12, backlog: true });
    s1.frame({ topic: "runs", id: "runs", views: [], position: 12, live: true });
    // Read late: the view is at 30, the batch covered up to 20.
    s1.frame({ topic: "runs", id: "runs", views: [view("b", { position: 30 })], position: 20 });
    expect(got).toEqual([[["a"], 12, true], [["b"], 20, false]]);
    s1.drop();
    h.timers[0]!();
    h.sockets[1]!.open();
    expect(h.sockets[1]!.sent).toEqual([{ subscribe: "runs", after: 20, id: "runs" }]);
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

  it("after a too-slow close (4000) resumes each subscription from its own position", () => {
    const h = harness();
    const a: number[] = [];
    const b: number[] = [];
    h.feed.subscribe("run/a", 0, { onEvents: (evs) => a.push(...evs.map((x) => x.position)) }, "r");
    h.feed.subscribe("log/a", 0, { onEvents: (evs) => b.push(...evs.map((x) => x.position)) }, "l");
    const s1 = h.sockets[0]!;
    s1.open();
    s1.frame({ topic: "run/a", id: "r", events: [e(1), e(2), e(3)], backlog: true });
    s1.frame({ topic: "log/a", id: "l", events: [e(2)], backlog: true });
    s1.drop(4000);
    h.timers[0]!();
    const s2 = h.sockets[1]!;
    s2.open();
    expect(s2.sent).toEqual([{ subscribe: "run/a", after: 3, id: "r" }, { subscribe: "log/a", after: 2, id: "l" }]);
    s2.frame({ topic: "run/a", id: "r", events: [e(4)], backlog: true });
    s2.frame({ topic: "log/a", id: "l", events: [e(3), e(4)], backlog: true });
    expect(a).toEqual([1, 2, 3, 4]);
    expect(b).toEqual([2, 3, 4]);
  });

  it("reconnects at once when asked (a new token), resuming every subscription", () => {
    const h = harness();
    h.feed.subscribe("runs", 0, { onViews: () => undefined }, "runs");
    h.sockets[0]!.open();
    h.sockets[0]!.frame({ topic: "runs", id: "runs", views: [], position: 8, live: true });
    h.feed.reconnect();
    expect(h.sockets[0]!.closed).toBe(true);
    h.sockets[1]!.open();
    expect(h.sockets[1]!.sent).toEqual([{ subscribe: "runs", after: 8, id: "runs" }]);
    h.sockets[0]!.drop(); // the old socket's close: nothing happens
    expect(h.timers).toHaveLength(0);
  });

  it("reports a refused subscription, and a frame that is not JSON, without failing", () => {
    const h = harness();
    const got: number[] = [];
    h.feed.subscribe("jobs", 900, { onEvents: (evs) => got.push(...evs.map((x) => x.position)) }, "j");
    h.sockets[0]!.open();
    h.sockets[0]!.frame({ error: "position 900 is past the end of the event log (position 5)" });
    h.sockets[0]!.raw("{not json");
    h.sockets[0]!.frame({ topic: "jobs", id: "j", events: [e(901)] });
    expect(h.errors).toHaveLength(2);
    expect(h.errors[0]).toContain("past the end");
    expect(got).toEqual([901]);
  });

  it("reports each kind of malformed frame once, ignores it, and never throws", () => {
    const h = harness();
    const got: number[] = [];
    h.feed.subscribe("jobs", 0, { onEvents: (evs) => got.push(...evs.map((x) => x.position)) }, "j");
    h.feed.subscribe("runs", 0, { onViews: () => undefined }, "runs");
    const s = h.sockets[0]!;
    s.open();
    const bad: unknown[] = [
      "[1, 2]", "null", "42", '"text"', new ArrayBuffer(3),
      JSON.stringify({ id: 7, events: [] }),
      JSON.stringify({ id: "j" }),
      JSON.stringify({ id: "j", events: "many" }),
      JSON.stringify({ id: "j", events: [{ position: "1" }] }),
      JSON.stringify({ id: "j", events: [null] }),
      JSON.stringify({ id: "j", events: [], live: "yes" }),
      JSON.stringify({ id: "j", events: [], position: -1 }),
      JSON.stringify({ id: "runs", views: [{ run_id: "a" }], position: 1 }),
      JSON.stringify({ id: "runs", views: [] }),
      JSON.stringify({ error: 5 }),
    ];
    for (const data of bad) expect(() => s.raw(data)).not.toThrow();
    for (const data of bad) s.raw(data); // again: not reported twice
    const kinds = new Set(bad.map((d) => parseFrame(d)));
    expect([...kinds].every((k) => typeof k === "string")).toBe(true);
    expect(h.errors).toHaveLength(kinds.size);
    expect(h.errors.every((m) => m.startsWith("live feed: the server sent"))).toBe(true);
    s.frame({ topic: "jobs", id: "j", events: [e(1)] });
    expect(got).toEqual([1]); // still working
  });

  it("reports a handler that throws, once, and keeps going", () => {
    const h = harness();
    let calls = 0;
    h.feed.subscribe("jobs", 0, { onEvents: () => { calls++; throw new Error("boom"); } }, "j");
    h.sockets[0]!.open();
    expect(() => h.sockets[0]!.frame({ topic: "jobs", id: "j", events: [e(1)] })).not.toThrow();
    h.sockets[0]!.frame({ topic: "jobs", id: "j", events: [e(2)] });
    expect(calls).toBe(2);
    expect(h.errors).toHaveLength(1);
    expect(h.errors[0]).toContain("boom");
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
