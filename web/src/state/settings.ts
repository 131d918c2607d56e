// What the user chose to see, remembered in this browser (localStorage).

import { Observable } from "./observable";
import type { Sort } from "./table";

export interface Settings {
  /** Metrics charted on the dashboard; null: every scalar metric (up to a few). */
  charts: string[] | null;
  /** Metric columns of the runs table; null: every scalar metric. */
  columns: string[] | null;
  /** Parameter columns (keys); null: automatic, those that differ between the shown runs. */
  params: string[] | null;
  /** Tag columns (keys); none by default. */
  tags: string[];
  sort: Sort;
  /** The metric drawn as curves across runs on the dashboard (empty: none). */
  curve: string;
}

export const DEFAULT_SETTINGS: Settings = {
  charts: null,
  columns: null,
  params: null,
  tags: [],
  sort: { key: "number", desc: true },
  curve: "",
};

const KEY = "runstream.settings.v1";
export const DEFAULT_CHARTS = 6;

export class SettingsStore extends Observable {
  value: Settings;

  constructor(private readonly storage: Pick<Storage, "getItem" | "setItem"> | null) {
    super();
    this.value = SettingsStore.read(storage);
  }

  static read(storage: Pick<Storage, "getItem"> | null): Settings {
    try {
      const raw = storage?.getItem(KEY);
      if (!raw) return DEFAULT_SETTINGS;
      const parsed = JSON.parse(raw) as Partial<Settings>;
      return { ...DEFAULT_SETTINGS, ...parsed };
    } catch {
      return DEFAULT_SETTINGS;
    }
  }

  update(patch: Partial<Settings>): void {
    this.value = { ...this.value, ...patch };
    try {
      this.storage?.setItem(KEY, JSON.stringify(this.value));
    } catch {
      /* private mode: remember for this page only */
    }
    this.changed();
  }
}

/** The metrics to chart (or show as columns) given what the runs have. */
export function chosen(choice: string[] | null, available: readonly string[], limit = Infinity): string[] {
  if (choice === null) return available.slice(0, limit);
  return choice.filter((m) => available.includes(m));
}
