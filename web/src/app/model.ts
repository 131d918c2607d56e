// The app's long-lived parts, made once: API client, stores, and the jobs feed that
// keeps every run's view live.

import { Api, localTokenStore } from "../api/http";
import { LiveFeed, type FeedState } from "../api/live";
import type { LiveEvent, RunList, RunView, Status } from "../api/types";
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

const FETCH_CONCURRENCY = 4;
/** Running runs followed event by event (their metrics live on the dashboard). */
const FOLLOWED = 24;

export class AppModel {
  readonly api = new Api(localTokenStore());
  readonly runs = new RunStore();
  readonly settings = new SettingsStore(safeLocalStorage());
  readonly errors = new ErrorStore();
  readonly conn = new Connection();
  readonly ui = new Ui();
  private feed: LiveFeed | null = null;
  // The jobs topic carries life-cycle events only; running runs' own topics add
  // their metrics. The run store folds both, each event once.
  private runFeed: LiveFeed | null = null;
  private followed = new Set<string>();
  private readonly batcher = new FrameBatcher<LiveEvent>((events) => this.onJobs(events));
  private readonly pending = new Set<string>();
  private inflight = 0;

  constructor() {
    this.api.onUnauthorized = (message) => {
      if (!this.conn.needToken) this.conn.set({ needToken: true, tokenMessage: message });
    };
  }

  /** A live feed of its own (log tail, run page, replay); closed by the caller. */
  openFeed(onError = (m: string) => this.errors.report(m)): LiveFeed {
    return new LiveFeed({
      url: () => this.api.websocketUrl(),
      protocols: () => this.api.websocketProtocols(),
      onError,
      onFailure: () => void this.probe(),
    });
  }

  async start(): Promise<void> {
    this.feed?.close();
    this.feed = null;
    this.runFeed?.close();
    this.runFeed = null;
    this.followed.clear();
    try {
      const status = await this.api.get<Status>("/api");
      this.conn.set({ status, needToken: false });
      const list = await this.api.get<RunList>("/api/runs", { archived: "include", limit: 100000 });
      this.runs.load(list.runs);
      const feed = new LiveFeed({
        url: () => this.api.websocketUrl(),
      protocols: () => this.api.websocketProtocols(),
        onState: (state) => this.conn.set({ state }),
        onFailure: () => void this.probe(),
        onError: (m) => this.errors.report(m),
      });
      feed.subscribe("jobs", status.position, { onEvents: (events) => this.batcher.push(events) });
      this.feed = feed;
      this.runFeed = this.openFeed();
      this.follow();
    } catch (err) {
      this.conn.set({ state: "closed" });
      this.errors.report(err, "loading runs");
    }
  }

  setToken(token: string): void {
    this.api.tokens.set(token.trim());
    this.conn.set({ needToken: false, tokenMessage: "" });
    this.conn.nextSession();
    void this.start();
  }

  /** Ask for a run's server view again (after events the jobs topic summarises). */
  refresh(runId: string): void {
    this.pending.add(runId);
    this.pump();
  }

  private onJobs(events: LiveEvent[]): void {
    const { refresh } = this.runs.apply(events);
    for (const id of refresh) this.refresh(id);
    this.follow();
  }

  /** Follow the running runs' own topics; stop when they end. */
  private follow(): void {
    const feed = this.runFeed;
    if (!feed) return;
    const running = new Set(this.runs.runs().filter((r) => r.status === "running" && !r.archived)
      .slice(0, FOLLOWED).map((r) => r.run_id));
    for (const id of this.followed) {
      if (!running.has(id)) {
        feed.unsubscribe(`run/${id}`);
        this.followed.delete(id);
      }
    }
    for (const id of running) {
      if (this.followed.has(id)) continue;
      this.followed.add(id);
      feed.subscribe(`run/${id}`, this.runs.basePosition(id), {
        onEvents: (events) => this.batcher.push(events),
      });
    }
  }

  private pump(): void {
    while (this.inflight < FETCH_CONCURRENCY && this.pending.size) {
      const id = this.pending.values().next().value as string;
      this.pending.delete(id);
      this.inflight++;
      this.api
        .get<RunView>(`/api/runs/${encodeURIComponent(id)}`)
        .then((view) => this.runs.rebase(view))
        .catch((err: unknown) => this.errors.report(err, `refreshing run ${id}`))
        .finally(() => {
          this.inflight--;
          this.pump();
        });
    }
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
