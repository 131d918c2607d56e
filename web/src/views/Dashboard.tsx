// "All Runs": a chart per scalar metric across runs, a status/duration chart and
// the runs table. Charts and table share one selection.

import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { RunList, RunView } from "../api/types";
import { useModel } from "../app/context";
import { navigate, paths } from "../app/router";
import { VegaChart } from "../charts/VegaChart";
import { TimeSlider, useAsOf } from "../components/TimeSlider";
import { useObservable } from "../state/observable";
import { sampleByBucket } from "../state/sample";
import { clickSelect, keepVisible, sameSelection, type ClickMods } from "../state/selection";
import { DEFAULT_CHARTS, chosen } from "../state/settings";
import { filterRuns, isMlflowFilter, projectsOf, scalarMetricNames, sortRuns, type Filter } from "../state/table";
import { Curves, curveMetrics, type CurveRunRef } from "./Curves";
import { RunsTable } from "./RunsTable";
import { SettingsDialog } from "./SettingsDialog";
import { FIRST_FILTER, MAX_CURVES, initialCurve } from "./curvesFirst";
import { markTiming } from "./timing";

const MAX_POINTS = 2_000;

interface ScalarRow extends Record<string, unknown> {
  run_id: string;
  number: number;
  label: string;
  status: string;
  value: number;
}

interface StatusRow extends Record<string, unknown> {
  run_id: string;
  number: number;
  label: string;
  status: string;
  duration: number;
}

const byRun = (r: { run_id: string }) => r.run_id;

export function Dashboard() {
  const model = useModel();
  const version = useObservable(model.runs);
  useObservable(model.settings);
  const settings = model.settings.value;
  const [filter, setFilter] = useState<Filter>(FIRST_FILTER);
  const [selected, setSelected] = useState<string[]>([]);
  const [reveal, setReveal] = useState<string | null>(null);
  const [showSettings, setShowSettings] = useState(false);
  const [until, setUntil] = useState<number | null>(null);
  const [busy, setBusy] = useState(false);
  const asOf = useAsOf(until);

  const all: readonly RunView[] = asOf ? asOf.runs : model.runs.runs();
  const { matched, filterError } = useServerFilter(filter.text, version);
  const visible = useMemo(() => filterRuns(all, { ...filter, matched }), [all, filter, matched, version]);
  const sorted = useMemo(() => sortRuns(visible, settings.sort), [visible, settings.sort]);
  const metrics = useMemo(() => scalarMetricNames(all), [all, version]);
  const projects = useMemo(() => projectsOf(all), [all, version]);
  // By default the agent's system metrics (sys/…) are not charted here: they have their
  // own section in run details (the settings can still choose them).
  const charted = settings.charts === null
    ? chosen(null, metrics.filter((m) => !m.startsWith("sys/")), DEFAULT_CHARTS)
    : chosen(settings.charts, metrics, DEFAULT_CHARTS);
  const columns = chosen(settings.columns, metrics);
  const curveNames = useMemo(() => curveMetrics(metrics), [metrics]);
  const [curve, setCurve] = useState(() => initialCurve(settings.curve));
  const pickCurve = useCallback((m: string) => {
    setCurve(m);
    model.settings.update({ curve: m });
  }, [model]);
  const order = useMemo(() => sorted.map((r) => r.run_id), [sorted]);
  const selectedSet = useMemo(() => new Set(selected), [selected]);

  useEffect(() => {
    // Runs that left the view (archived, filtered out) leave the selection.
    const kept = keepVisible(selected, new Set(order));
    if (!sameSelection(kept, selected)) setSelected(kept);
  }, [order, selected]);

  const pick = useCallback((runId: string, mods: ClickMods) => {
    setSelected((sel) => clickSelect(sel, runId, mods, order));
    setReveal(runId);
  }, [order]);
  const select = useCallback((runId: string, mods: ClickMods) => {
    setSelected((sel) => clickSelect(sel, runId, mods, order));
  }, [order]);

  const statusRows = useMemo(() => sampleByBucket(
    visible.filter((r) => r.duration !== null).map<StatusRow>((r) => ({
      run_id: r.run_id, number: r.number, label: `#${r.number}`, status: r.status, duration: r.duration!,
    })), (r) => r.duration, MAX_POINTS, selectedSet), [visible, selectedSet]);

  const expected = charted.length + 1;
  const ready = useRef(new Set<string>());
  const onReady = useCallback((name: string) => {
    ready.current.add(name);
    markTiming("first-chart");
    if (ready.current.size >= expected) markTiming("interactive");
  }, [expected]);
  useEffect(() => {
    if (model.runs.loaded && visible.length === 0) markTiming("interactive");
  }, [model.runs.loaded, visible.length]);

  const review = async (action: "archive" | "restore") => {
    setBusy(true);
    try {
      for (const id of selected) {
        const view = await model.api.post<RunView>(`/api/runs/${encodeURIComponent(id)}/${action}`);
        if (!asOf) model.runs.put([view]);
      }
      setSelected([]);
    } catch (err) {
      model.errors.report(err, action);
    } finally {
      setBusy(false);
    }
  };
  const selectedRuns = selected.map((id) => all.find((r) => r.run_id === id)).filter(Boolean) as RunView[];
  const anyArchived = selectedRuns.some((r) => r.archived);

  return (
    <div className="dashboard">
      <div className="toolbar">
        <h1>All Runs</h1>
        <span className="filter-box" style={{ position: "relative", display: "inline-flex", flex: "0 1 320px" }}>
          <input
            type="search"
            placeholder="filter: words, or metrics.acc > 0.7 and params.lr = '0.1'"
            title={"Words match script, arguments, #number, status. With a comparison (=, !=, <, >, "
              + "LIKE, IN, IS) it is an MLflow run filter, run by the server: metrics.<name>, "
              + "params.<name>, tags.<name>, attributes.status / run_name / start_time…, joined by AND."}
            aria-label="filter runs"
            style={{ flex: "1 1 auto", minWidth: 90 }}
            aria-invalid={filterError ? true : undefined}
            value={filter.text}
            onChange={(e) => setFilter({ ...filter, text: e.target.value })}
          />
          {filterError && (
            <pre className="error-text filter-error" role="alert" data-testid="filter-error"
              style={{ position: "absolute", top: "100%", left: 0, zIndex: 30, margin: "2px 0 0",
                background: "white", padding: "4px 6px", border: "1px solid #f5c2c0", whiteSpace: "pre" }}>
              {filterError}
            </pre>
          )}
        </span>
        {projects.length > 1 && (
          <select aria-label="project" value={filter.project ?? ""}
            onChange={(e) => setFilter({ ...filter, project: e.target.value })}>
            <option value="">all projects</option>
            {projects.map((p) => <option key={p} value={p}>{p}</option>)}
          </select>
        )}
        <select aria-label="status filter" value={filter.status}
          onChange={(e) => setFilter({ ...filter, status: e.target.value })}>
          <option value="">any status</option>
          <option value="submitted">submitting</option>
          <option value="running">running</option>
          <option value="completed">completed</option>
          <option value="failed">failed</option>
          <option value="canceled">canceled</option>
        </select>
        <label className="toggle">
          <input type="checkbox" aria-label="show archived" checked={filter.archived !== "hide"}
            onChange={(e) => setFilter({ ...filter, archived: e.target.checked ? "include" : "hide" })} />
          show archived
        </label>
        <span className="spacer" />
        <span className="count" data-testid="run-count">
          {visible.length} runs{selected.length ? ` · ${selected.length} selected` : ""}
        </span>
        <button type="button" disabled={selected.length < 2} onClick={() => navigate(paths.compare(selected))}>
          Compare
        </button>
        {anyArchived ? (
          <button type="button" disabled={busy || !!asOf} onClick={() => void review("restore")}>Restore</button>
        ) : (
          <button type="button" disabled={busy || !!asOf || selected.length === 0} onClick={() => void review("archive")}>
            Archive
          </button>
        )}
        <button type="button" onClick={() => setShowSettings(true)} title="choose charts and columns">⚙ Settings</button>
      </div>
      <TimeSlider until={until} onChange={setUntil} asOf={asOf} />
      <div className="charts">
        <VegaChart<StatusRow> kind="status" rows={statusRows} rowKey={byRun} highlight={selected}
          onPick={pick} onReady={() => onReady("status")} empty="no finished runs yet" />
        {charted.map((m) => (
          <MetricChart key={m} metric={m} runs={visible} selected={selected} selectedSet={selectedSet}
            onPick={pick} onReady={onReady} />
        ))}
      </div>
      <Curves runs={curveRuns(selected.length ? selectedRuns : sorted)} metrics={curveNames}
        metric={curveNames.includes(curve) ? curve : ""} onMetric={pickCurve} highlight={selected} />
      <RunsTable runs={sorted} metrics={columns} selected={selected} sort={settings.sort}
        onSort={(sort) => model.settings.update({ sort })} onSelect={select} reveal={reveal} />
      {showSettings && <SettingsDialog metrics={metrics} onClose={() => setShowSettings(false)} />}
    </div>
  );
}

const NONE: ReadonlySet<string> = new Set();

/** The runs an overlay draws: the selected ones, else the visible ones (at most MAX_CURVES). */
function curveRuns(runs: readonly RunView[]): CurveRunRef[] {
  return runs.slice(0, MAX_CURVES).map((r) => ({
    run_id: r.run_id, number: r.number, status: r.status, started: r.started ?? r.submitted, position: r.position,
  }));
}

/** The ids of the runs the server matches for an MLflow filter (undefined: the text is
 * words; empty while a new filter is asked, or when it is bad — then its error, caret and
 * all). Asked again at most once a second while runs change, so new matches appear live. */
function useServerFilter(text: string, version: number): {
  matched: ReadonlySet<string> | undefined; filterError: string | null;
} {
  const model = useModel();
  const query = isMlflowFilter(text) ? text.trim() : "";
  const [answer, setAnswer] = useState<{ query: string; ids?: ReadonlySet<string>; error?: string }>({ query: "" });
  const latest = useRef(version);
  latest.current = version;
  useEffect(() => {
    if (!query) return undefined;
    let stale = false;
    let busy = false;
    let asked: number | null = null;
    const ask = () => {
      if (busy || asked === latest.current) return;
      busy = true;
      asked = latest.current;
      model.api.get<RunList>("/api/runs", { filter: query, archived: "include", limit: 100_000 })
        .then((list) => { if (!stale) setAnswer({ query, ids: new Set(list.runs.map((r) => r.run_id)) }); })
        .catch((err: unknown) => {
          if (!stale) setAnswer({ query, error: err instanceof Error ? err.message : String(err) });
        })
        .finally(() => { busy = false; });
    };
    const first = setTimeout(ask, 250); // typing: ask once it pauses
    const every = setInterval(ask, 1_000);
    return () => { stale = true; clearTimeout(first); clearInterval(every); };
  }, [model, query]);
  if (!query) return { matched: undefined, filterError: null };
  if (answer.query !== query) return { matched: NONE, filterError: null };
  return { matched: answer.ids ?? NONE, filterError: answer.error ?? null };
}

function MetricChart(props: {
  metric: string;
  runs: readonly RunView[];
  selected: readonly string[];
  selectedSet: ReadonlySet<string>;
  onPick: (runId: string, mods: ClickMods) => void;
  onReady: (name: string) => void;
}) {
  const { metric, runs, selected, selectedSet, onPick, onReady } = props;
  const rows = useMemo(() => {
    const out: ScalarRow[] = [];
    for (const r of runs) {
      const v = r.metrics[metric];
      if (typeof v === "number") {
        out.push({ run_id: r.run_id, number: r.number, label: `#${r.number}`, status: r.status, value: v });
      }
    }
    return sampleByBucket(out, (r) => r.value, MAX_POINTS, selectedSet);
  }, [runs, metric, selectedSet]);
  const [log, setLog] = useState(false);
  const notPositive = log ? rows.filter((r) => !(r.value > 0)).length : 0;
  return (
    <div className="scalar-chart" style={{ position: "relative" }} data-metric={metric}>
      <label className="toggle chart-log" style={{ position: "absolute", right: 4, top: 0, zIndex: 5, fontSize: 12 }}
        title="draw the values on a log scale (values ≤ 0 are left out)">
        <input type="checkbox" aria-label={`log scale ${metric}`} checked={log} onChange={(e) => setLog(e.target.checked)} />
        log
      </label>
      <VegaChart<ScalarRow> kind="scalar" metric={metric} rows={rows} rowKey={byRun} highlight={selected}
        onPick={onPick} onReady={() => onReady(metric)} empty={`no run has logged ${metric} yet`} logY={log} />
      {notPositive > 0 && <p className="muted">{notPositive} runs with a value ≤ 0 are not drawn on the log scale.</p>}
    </div>
  );
}
