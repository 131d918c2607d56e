// The app's long-lived parts, made once: API client, stores, and the tab's one live
// feed, whose `runs` subscription keeps every run's view live.

import { Api, localTokenStore } from "../api/http";
import { LiveFeed, type FeedState } from "../api/live";
import type { RunList, RunView, Status } from "../api/types";
import { FrameBatcher } from "../state/batch";
import { ErrorStore } from "../state/errors";
import { Observable } from "../state/observable";
import { RunStore } from "../state/runs";
import { SettingsStore } from "../state/settings";

export class Connection extends Observable {
  state: FeedState | "starting" = "starting";
  needToken = false;
  tokenMessage = "";
  /** Bumped when the token changes: views reload. */
  session = 0;
  status: Status | null = null;

  set(patch: Partial<Pick<Connection, "state" | "needToken" | "tokenMessage" | "status">>): void {
    Object.assign(this, patch);
    this.changed();
  }

  nextSession(): void {
    this.session += 1;
    this.changed();
  }
}

/** What the frame around the pages shows: the output drawer's run. */
export class Ui extends Observable {
  logRun: string | null = null;

  showLog(runId: string | null): void {
    this.logRun = runId;
    this.changed();
  }
}

export class AppModel {
  readonly api = new Api(localTokenStore());
  readonly runs = new RunStore();
  readonly settings = new SettingsStore(safeLocalStorage());
  readonly errors = new ErrorStore();
  readonly conn = new Connection();
  readonly ui = new Ui();
  /** The tab's one websocket: pages and components add and remove subscriptions on it
   * (each with an id of its own) and remove them when they unmount. */
  readonly feed: LiveFeed;
  private readonly batcher = new FrameBatcher<{ views: RunView[]; position: number }>((batches) => {
    this.runs.put(batches.flatMap((b) => b.views), Math.max(...batches.map((b) => b.position)));
  });
  private stopRuns: (() => void) | null = null;
  /** Called with the runs list the moment it arrives, before any view renders it (the
   *  dashboard sends its overlay's request from here: see views/curvesFirst.ts). */
  onRunsListed: ((runs: readonly RunView[]) => void) | null = null;

  constructor() {
    this.api.onUnauthorized = (message) => {
      if (!this.conn.needToken) this.conn.set({ needToken: true, tokenMessage: message });
    };
    this.feed = new LiveFeed({
      url: () => this.api.websocketUrl(),
      protocols: () => this.api.websocketProtocols(),
      onState: (state) => this.conn.set({ state }),
      onFailure: () => void this.probe(),
      onError: (m) => this.errors.report(m),
    });
  }

  /** Load every run's view, then keep them live from the `runs` topic: the server's
   * folded views, numbered, with their latest metrics. Nothing is refetched. */
  async start(): Promise<void> {
    this.stopRuns?.();
    this.stopRuns = null;
    try {
      const status = await this.api.get<Status>("/api");
      this.conn.set({ status, needToken: false });
      // One request for the snapshot (the list, numbered over each project at once),
      // then the views changed after the position it was taken at.
      const list = await this.api.get<RunList>("/api/runs", { archived: "include", limit: 100000 });
      this.onRunsListed?.(list.runs);
      this.runs.load(list.runs, status.position);
      this.stopRuns = this.feed.subscribe("runs", status.position, {
        onViews: (views, position) => this.batcher.push([{ views, position }]),
        onLive: (position) => this.batcher.push([{ views: [], position }]),
      }, "runs");
    } catch (err) {
      this.conn.set({ state: "closed" });
      this.errors.report(err, "loading runs");
    }
  }

  setToken(token: string): void {
    this.api.tokens.set(token.trim());
    this.conn.set({ needToken: false, tokenMessage: "" });
    this.conn.nextSession();
    this.feed.reconnect(); // offers the new token
    void this.start();
  }

  /** A websocket that failed to open may mean a missing token: HTTP tells. */
  private async probe(): Promise<void> {
    try {
      await this.api.get<Status>("/api");
    } catch {
      /* a 401 opens the token prompt; other errors: the feed keeps retrying */
    }
  }
}

function safeLocalStorage(): Storage | null {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;
  }
}
