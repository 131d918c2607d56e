// A tiny client router over the History API (the server serves index.html for app paths).

import { useSyncExternalStore } from "react";

export type Route =
  | { page: "runs" }
  | { page: "run"; runId: string; tab: string }
  | { page: "compare"; runIds: string[] }
  | { page: "models" }
  | { page: "model"; name: string }
  | { page: "notfound"; path: string };

export function parseRoute(pathname: string, search: string): Route {
  const parts = pathname.split("/").filter(Boolean).map(decodeURIComponent);
  const query = new URLSearchParams(search);
  if (parts.length === 0 || (parts[0] === "runs" && parts.length === 1)) return { page: "runs" };
  if (parts[0] === "runs" && parts[1]) return { page: "run", runId: parts[1], tab: parts[2] ?? "overview" };
  if (parts[0] === "compare") {
    return { page: "compare", runIds: (query.get("runs") ?? "").split(",").filter(Boolean) };
  }
  if (parts[0] === "models" && parts.length === 1) return { page: "models" };
  if (parts[0] === "models" && parts[1]) return { page: "model", name: parts[1] };
  return { page: "notfound", path: pathname };
}

const listeners = new Set<() => void>();

function subscribe(fn: () => void): () => void {
  listeners.add(fn);
  window.addEventListener("popstate", fn);
  return () => {
    listeners.delete(fn);
    window.removeEventListener("popstate", fn);
  };
}

const snapshot = () => window.location.pathname + window.location.search;

export function navigate(to: string, replace = false): void {
  if (to === snapshot()) return;
  if (replace) window.history.replaceState(null, "", to);
  else window.history.pushState(null, "", to);
  for (const fn of [...listeners]) fn();
}

export function useRoute(): Route {
  const where = useSyncExternalStore(subscribe, snapshot, snapshot);
  const q = where.indexOf("?");
  return parseRoute(q < 0 ? where : where.slice(0, q), q < 0 ? "" : where.slice(q));
}

export const paths = {
  runs: () => "/",
  run: (id: string, tab?: string) => `/runs/${encodeURIComponent(id)}${tab ? `/${tab}` : ""}`,
  compare: (ids: readonly string[]) => `/compare?runs=${ids.map(encodeURIComponent).join(",")}`,
  models: () => "/models",
  model: (name: string) => `/models/${encodeURIComponent(name)}`,
};

/**
 * The page an MLflow link names, or null. MLflow's client prints links to its own UI's
 * hash routes ("View run at <tracking uri>/#/experiments/1/runs/<run id>"); runstream's
 * server is that tracking URI, so those links open here: a run's page, the dashboard
 * (an experiment), the models.
 */
export function mlflowLinkPath(pathname: string, hash: string): string | null {
  if (pathname !== "/" || !hash.startsWith("#/")) return null;
  let parts: string[];
  try {
    parts = hash.slice(2).split("?")[0]!.split("/").filter(Boolean).map(decodeURIComponent);
  } catch {
    return null; // a malformed escape: not a link MLflow made
  }
  if (parts[0] === "experiments") {
    return parts[2] === "runs" && parts[3] ? paths.run(parts[3]) : paths.runs();
  }
  if (parts[0] === "models") return parts[1] ? paths.model(parts[1]) : paths.models();
  return null;
}

/** Open the page of the MLflow link this page is loaded from, or that a hash change goes
 * to (a link opened in the tab already showing the dashboard), in its place in the history. */
export function followMlflowLinks(): void {
  const follow = () => {
    const to = mlflowLinkPath(window.location.pathname, window.location.hash);
    if (to === null) return;
    window.history.replaceState(null, "", to); // drops the hash
    for (const fn of [...listeners]) fn();
  };
  follow();
  window.addEventListener("hashchange", follow);
}

/** A link that navigates without reloading (ctrl/cmd-click still opens a new tab). */
export function linkHandler(to: string) {
  return (e: { preventDefault(): void; ctrlKey: boolean; metaKey: boolean; button: number }) => {
    if (e.button !== 0 || e.ctrlKey || e.metaKey) return;
    e.preventDefault();
    navigate(to);
  };
}
