// Updates batched per animation frame: events pile up, one flush applies them all
// and the UI redraws once, however many events arrived in between.

export type Scheduler = (fn: () => void) => void;

export const animationFrame: Scheduler = (fn) => {
  if (typeof requestAnimationFrame === "function" && typeof document !== "undefined" &&
      document.visibilityState !== "hidden") {
    requestAnimationFrame(() => fn());
  } else {
    // A hidden tab gets no animation frames; keep up anyway, just less often.
    setTimeout(fn, 100);
  }
};

export class FrameBatcher<T> {
  private items: T[] = [];
  private scheduled = false;

  constructor(
    private readonly flush: (items: T[]) => void,
    private readonly schedule: Scheduler = animationFrame,
  ) {}

  push(items: readonly T[]): void {
    if (!items.length) return;
    for (const item of items) this.items.push(item);
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(() => {
      this.scheduled = false;
      const batch = this.items;
      this.items = [];
      if (batch.length) this.flush(batch);
    });
  }

  get pending(): number {
    return this.items.length;
  }
}
