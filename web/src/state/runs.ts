// Every run the app knows, as the server folded it: a snapshot from GET /api/runs,
// then the views the `runs` topic sends. Views are snapshots: for each run the one
// with the greatest `position` wins, whatever order they come in (at an equal
// position, the later: the same run renumbered). Nothing is folded
// here: the server computes every view (and its number) once.

import type { RunView } from "../api/types";
import { Observable } from "./observable";

export class RunStore extends Observable {
  private views = new Map<string, RunView>();
  private cached: RunView[] | null = null;
  /** The highest log position the feed has covered (the time slider's right end). */
  position = 0;
  loaded = false;

  /** Replace everything with a fresh snapshot, taken at log position `position`. */
  load(views: readonly RunView[], position = 0): void {
    this.views.clear();
    for (const view of views) this.keep(view);
    this.position = Math.max(this.position, position);
    this.loaded = true;
    this.touch();
  }

  /** Fresher views (from the feed, or an action's answer); older ones are ignored.
   * `position`: what the feed has covered so far. */
  put(views: readonly RunView[], position = 0): void {
    let changed = position > this.position;
    this.position = Math.max(this.position, position);
    for (const view of views) changed = this.keep(view) || changed;
    if (changed) this.touch();
  }

  get(runId: string): RunView | undefined {
    return this.views.get(runId);
  }

  /** Every run, newest first. */
  runs(): RunView[] {
    if (!this.cached) {
      this.cached = [...this.views.values()].sort(
        (a, b) => (b.submitted ?? 0) - (a.submitted ?? 0) || b.number - a.number);
    }
    return this.cached;
  }

  private keep(view: RunView): boolean {
    const held = this.views.get(view.run_id);
    // At the same position, the later one: a run submitted late renumbers the runs
    // after it, whose views come again at their position with their new number.
    if (held && held.position > view.position) return false;
    this.views.set(view.run_id, view);
    return true;
  }

  private touch(): void {
    this.cached = null;
    this.changed();
  }
}
