import { describe, expect, it } from "vitest";
import { ReplayPlayer, dueTimes, type Timers } from "./replay";
import { ev } from "./testing";

function fakeTimers() {
  let now = 0;
  const queue: { at: number; fn: () => void; id: number }[] = [];
  let ids = 0;
  const timers: Timers = {
    now: () => now,
    set: (fn, ms) => { const id = ++ids; queue.push({ at: now + ms, fn, id }); return id; },
    clear: (h) => { const i = queue.findIndex((q) => q.id === h); if (i >= 0) queue.splice(i, 1); },
  };
  const advance = (ms: number) => {
    const end = now + ms;
    for (;;) {
      queue.sort((a, b) => a.at - b.at);
      const next = queue[0];
      if (!next || next.at > end) break;
      queue.shift();
      now = next.at;
      next.fn();
    }
    now = end;
  };
  return { timers, advance };
}

const events = [0, 1, 1.5, 11].map((t, i) => ev(i + 1, "run/a", "log.lines", {}, 1000 + t));

describe("replay", () => {
  it("spaces events by their timestamps, scaled by speed", () => {
    expect(dueTimes(events, 1)).toEqual([0, 1000, 1500, 11000]);
    expect(dueTimes(events, 10)).toEqual([0, 100, 150, 1100]);
    expect(dueTimes(events, "instant")).toEqual([0, 0, 0, 0]);
  });

  it("delivers on time at 10×, and can pause and go on", () => {
    const { timers, advance } = fakeTimers();
    const got: number[][] = [];
    const player = new ReplayPlayer(events, (b) => got.push(b.map((e) => e.position)), timers);
    player.play(10);
    expect(got).toEqual([[1]]);
    advance(160);
    expect(got).toEqual([[1], [2], [3]]);
    player.pause();
    advance(5_000);
    expect(got).toHaveLength(3);
    player.play(10);
    expect(got[3]).toEqual([4]);
    expect(player.done).toBe(true);
  });

  it("delivers everything at once when instant", () => {
    const got: number[][] = [];
    const player = new ReplayPlayer(events, (b, done) => got.push([...b.map((e) => e.position), done ? 1 : 0]),
      fakeTimers().timers);
    player.play("instant");
    expect(got).toEqual([[1, 2, 3, 4, 1]]);
  });
});
