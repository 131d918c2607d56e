// A minimal external store for React's useSyncExternalStore: a version that bumps on change.

import { useSyncExternalStore } from "react";

export class Observable {
  private listeners = new Set<() => void>();
  version = 0;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getVersion = (): number => this.version;

  protected changed(): void {
    this.version += 1;
    for (const listener of [...this.listeners]) listener();
  }
}

/** Re-render when `store` changes; returns its version (handy as a memo key). */
export function useObservable(store: Observable): number {
  return useSyncExternalStore(store.subscribe, store.getVersion, store.getVersion);
}
