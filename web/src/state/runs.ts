// Every run the app knows, kept live: a snapshot from GET /api/runs (each view a
// *base* that already holds every event up to its `position`) plus the changes of
// later events (its *tail*). A newer snapshot of a run rebases it; an event at or
// below the base, or already in the tail, is a duplicate and is ignored.

import type { LiveEvent, RunView } from "../api/types";
import { applyChange, reduceEvent, type Change } from "./fold";
import { Observable } from "./observable";

interface Entry {
  base: RunView | null;
  tail: Change[];
  view: RunView | null;
  /** Run number given before the server's view arrived (the server assigns it). */
  provisional: number;
}

/** What a batch of events asks for: runs whose server view should be fetched. */
export interface ApplyResult {
  applied: number;
  refresh: string[];
}

export class RunStore extends Observable {
  private entries = new Map<string, Entry>();
  private cached: RunView[] | null = null;
  private maxNumber = new Map<string, number>();
  /** Bumped when a model version is created (the models page refetches). */
  modelEvents = 0;
  /** The highest log position seen on the feed (the time slider's right end). */
  position = 0;
  loaded = false;

  /** Replace everything with a fresh snapshot. */
  load(views: readonly RunView[]): void {
    this.entries.clear();
    this.maxNumber.clear();
    for (const view of views) {
      this.entries.set(view.run_id, { base: view, tail: [], view, provisional: 0 });
      this.noteNumber(view);
    }
    this.loaded = true;
    this.touch();
  }

  /** A fresher server view of one run. Older than what we hold: ignored. */
  rebase(view: RunView): void {
    const entry = this.entries.get(view.run_id);
    if (entry?.base && entry.base.position > view.position) return;
    const tail = (entry?.tail ?? []).filter((c) => c.position > view.position);
    const folded = tail.reduce<RunView | null>(applyChange, view);
    this.entries.set(view.run_id, { base: view, tail, view: folded, provisional: 0 });
    this.noteNumber(view);
    this.touch();
  }

  apply(events: readonly LiveEvent[]): ApplyResult {
    let applied = 0;
    const refresh = new Set<string>();
    for (const event of events) {
      this.position = Math.max(this.position, event.position);
      if (event.type === "model.version_created") this.modelEvents += 1;
      const change = reduceEvent(event);
      if (!change) continue;
      const entry = this.entry(change.runId);
      if (entry.base && change.position <= entry.base.position) continue;
      const last = entry.tail[entry.tail.length - 1];
      if (!last || last.position < change.position) {
        entry.tail.push(change);
        entry.view = this.fold(entry, entry.view, change);
      } else {
        if (entry.tail.some((c) => c.position === change.position)) continue;
        entry.tail.push(change);
        entry.tail.sort((a, b) => a.position - b.position);
        entry.view = entry.tail.reduce<RunView | null>((v, c) => this.fold(entry, v, c), entry.base);
      }
      applied += 1;
      const kind = change.change.kind;
      if ((kind === "submitted" && !entry.base) || kind === "completed" || kind === "artifact") {
        refresh.add(change.runId); // the number, and metrics the jobs topic does not carry
      }
    }
    if (applied || events.some((e) => e.type === "model.version_created")) this.touch();
    return { applied, refresh: [...refresh] };
  }

  /** Every event of the run up to this position is folded into its view. */
  basePosition(runId: string): number {
    return this.entries.get(runId)?.base?.position ?? 0;
  }

  get(runId: string): RunView | undefined {
    return this.entries.get(runId)?.view ?? undefined;
  }

  /** Every run, newest first. */
  runs(): RunView[] {
    if (!this.cached) {
      const views: RunView[] = [];
      for (const entry of this.entries.values()) if (entry.view) views.push(entry.view);
      views.sort((a, b) => (b.submitted ?? 0) - (a.submitted ?? 0) || b.number - a.number);
      this.cached = views;
    }
    return this.cached;
  }

  private entry(runId: string): Entry {
    let entry = this.entries.get(runId);
    if (!entry) {
      entry = { base: null, tail: [], view: null, provisional: 0 };
      this.entries.set(runId, entry);
    }
    return entry;
  }

  private fold(entry: Entry, view: RunView | null, change: Change): RunView | null {
    const next = applyChange(view, change);
    if (next && !view && !entry.base) {
      // A run we first hear of by its events: number it as the server will.
      entry.provisional ||= (this.maxNumber.get(next.project) ?? 0) + 1;
      next.number = entry.provisional;
      this.noteNumber(next);
    }
    return next;
  }

  private noteNumber(view: RunView): void {
    this.maxNumber.set(view.project, Math.max(this.maxNumber.get(view.project) ?? 0, view.number));
  }

  private touch(): void {
    this.cached = null;
    this.changed();
  }
}
