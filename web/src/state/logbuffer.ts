// A run's printed lines, by line number: the HTTP page and the live tail fill it,
// each line once, so 100,000 lines stay a few flat arrays.

import type { LiveEvent, LogLinesData, LogLine } from "../api/types";

export class LogBuffer {
  texts: string[] = [];
  fds: number[] = [];
  /** Bumped on every change (a cheap memo key). */
  version = 0;

  get length(): number {
    return this.texts.length;
  }

  addPage(lines: readonly LogLine[]): number {
    let added = 0;
    for (const [n, , fd, text] of lines) added += this.put(n, fd, text);
    if (added) this.version++;
    return added;
  }

  addEvents(events: readonly LiveEvent[]): number {
    let added = 0;
    for (const event of events) {
      if (event.type !== "log.lines") continue;
      const d = event.data as LogLinesData;
      for (let i = 0; i < d.lines.length; i++) added += this.put(d.first + i, d.fds[i] ?? 1, d.lines[i]!);
    }
    if (added) this.version++;
    return added;
  }

  private put(n: number, fd: number, text: string): number {
    if (n < this.texts.length && this.texts[n] !== undefined) return 0;
    // Lines arrive in order; a hole (never expected) is filled when its line comes.
    this.texts[n] = text;
    this.fds[n] = fd;
    return 1;
  }
}
