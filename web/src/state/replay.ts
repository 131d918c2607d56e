// Replaying a finished run: its events again, paced by their timestamps
// (1×, 10×, or all at once), for the run's views to fold as if live.

import type { LiveEvent } from "../api/types";

export type Speed = 1 | 10 | "instant";

export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
  now(): number;
}

export const realTimers: Timers = {
  set: (fn, ms) => globalThis.setTimeout(fn, ms),
  clear: (h) => globalThis.clearTimeout(h as number),
  now: () => performance.now(),
};

/** Milliseconds after the start at which each event is due at `speed`. */
export function dueTimes(events: readonly LiveEvent[], speed: Speed): number[] {
  if (speed === "instant" || !events.length) return events.map(() => 0);
  const t0 = events[0]!.ts;
  return events.map((e) => Math.max(0, ((e.ts - t0) * 1000) / speed));
}

export class ReplayPlayer {
  /** Index of the next event to deliver. */
  index = 0;
  playing = false;
  private handle: unknown = null;
  private origin = 0; // timer clock at which event `0` would be due
  private due: number[] = [];

  constructor(
    readonly events: readonly LiveEvent[],
    private readonly deliver: (events: LiveEvent[], done: boolean) => void,
    private readonly timers: Timers = realTimers,
  ) {}

  get done(): boolean {
    return this.index >= this.events.length;
  }

  play(speed: Speed): void {
    this.pause();
    if (this.done) return;
    this.due = dueTimes(this.events, speed);
    // Continue from where we are: the next event is due now.
    this.origin = this.timers.now() - (this.due[this.index] ?? 0);
    this.playing = true;
    this.tick();
  }

  pause(): void {
    if (this.handle !== null) this.timers.clear(this.handle);
    this.handle = null;
    this.playing = false;
  }

  /** Back to the beginning; the caller resets its views. */
  rewind(): void {
    this.pause();
    this.index = 0;
  }

  private tick(): void {
    this.handle = null;
    const elapsed = this.timers.now() - this.origin;
    let end = this.index;
    while (end < this.events.length && this.due[end]! <= elapsed) end++;
    if (end > this.index) {
      const batch = this.events.slice(this.index, end);
      this.index = end;
      this.deliver(batch as LiveEvent[], this.done);
    }
    if (this.done) {
      this.playing = false;
      return;
    }
    const wait = Math.max(0, this.due[this.index]! - (this.timers.now() - this.origin));
    // At least one frame apart: updates arrive batched, never one redraw per event.
    this.handle = this.timers.set(() => this.tick(), Math.max(16, wait));
  }
}
