// Compare 2+ runs: properties, parameters, tags and metrics side by side (rows whose
// values differ marked, the best metric value highlighted), array metrics overlaid,
// images side by side.

import { useEffect, useState } from "react";
import type { Artifact, MetricNames, RunView } from "../api/types";
import { useModel } from "../app/context";
import { linkHandler, paths } from "../app/router";
import { StatusBadge } from "../components/StatusBadge";
import { TimeSlider, useAsOf } from "../components/TimeSlider";
import { fmtDuration, fmtTime, fmtValue } from "../lib/format";
import { useObservable } from "../state/observable";
import { higherIsBetter } from "../state/table";
import { Curves, curveMetrics } from "./Curves";
import { FileImage } from "./Files";
import { ArrayChart } from "./run/MetricCharts";
import { artifactUrl, isImage } from "./run/Outputs";

type Cell = string | number | null;

const PROPERTIES: [string, (r: RunView) => Cell][] = [
  ["Name", (r) => r.name],
  ["Status", (r) => r.status],
  ["Start time", (r) => fmtTime(r.started ?? r.submitted)],
  ["Duration", (r) => fmtDuration(r.duration)],
  ["Script", (r) => r.script],
  ["Arguments", (r) => r.args.join(" ")],
  ["Target", (r) => r.target],
  ["User", (r) => r.user],
  ["Host", (r) => r.host],
  ["Exit code", (r) => r.exit_code],
  ["Code snapshot", (r) => r.snapshot.slice(0, 12)],
];

/** Index of the best value(s) of a metric row; none when values are not all numbers. */
export function bestOf(values: readonly Cell[], metric: string): Set<number> {
  const nums = values.map((v) => (typeof v === "number" ? v : null));
  const present = nums.filter((v): v is number => v !== null);
  if (present.length < 2) return new Set();
  const target = higherIsBetter(metric) ? Math.max(...present) : Math.min(...present);
  if (present.every((v) => v === target)) return new Set();
  return new Set(nums.flatMap((v, i) => (v === target ? [i] : [])));
}

/** The keys any of the runs has in `field`, sorted. */
export function keysOf(runs: readonly RunView[], field: "params" | "tags"): string[] {
  return [...new Set(runs.flatMap((r) => Object.keys(r[field])))].sort((a, b) => a.localeCompare(b));
}

export function differs(values: readonly Cell[]): boolean {
  return new Set(values.map((v) => JSON.stringify(v))).size > 1;
}

export function Compare({ runIds }: { runIds: string[] }) {
  const model = useModel();
  useObservable(model.runs);
  const [until, setUntil] = useState<number | null>(null);
  const asOf = useAsOf(until);
  const [names, setNames] = useState(new Map<string, MetricNames>());
  const [files, setFiles] = useState(new Map<string, Artifact[]>());
  const [curve, setCurve] = useState(() => model.settings.value.curve);
  const key = runIds.join(",");

  useEffect(() => {
    let ok = true;
    for (const id of key.split(",").filter(Boolean)) {
      const base = `/api/runs/${encodeURIComponent(id)}`;
      model.api.get<MetricNames>(`${base}/metrics`).then(
        (n) => ok && setNames((m) => new Map(m).set(id, n)),
        (err: unknown) => model.errors.report(err, `metrics of ${id}`));
      model.api.get<Artifact[]>(`${base}/artifacts`).then(
        (a) => ok && setFiles((m) => new Map(m).set(id, a)),
        (err: unknown) => model.errors.report(err, `outputs of ${id}`));
    }
    return () => {
      ok = false;
    };
  }, [model, key]);

  const runs = runIds.map((id) => (asOf ? asOf.runs.find((r) => r.run_id === id) : model.runs.get(id)) ?? null);
  const present = runs.filter((r): r is RunView => r !== null);
  const metrics = [...new Set(present.flatMap((r) => Object.keys(r.metrics)))].sort((a, b) => a.localeCompare(b));
  const params = keysOf(present, "params");
  const tags = keysOf(present, "tags");
  const arrays = [...new Set([...names.values()].flatMap((n) => n.arrays))].sort();
  const curveNames = curveMetrics(present.flatMap((r) =>
    Object.entries(r.metrics).filter(([, v]) => typeof v === "number").map(([k]) => k)));
  const curveRuns = present.map((r) => ({
    run_id: r.run_id, number: r.number, status: r.status, started: r.started ?? r.submitted, position: r.position,
  }));
  const refs = present.map((r) => ({ run_id: r.run_id, label: `#${r.number}` }));
  const imagePaths = [...new Set([...files.values()].flatMap((a) => a.filter(isImage).map((x) => x.path)))].sort();

  if (runIds.length < 2) {
    return <div className="page"><h1>Compare</h1><p>Select two or more runs on the dashboard to compare them.</p></div>;
  }
  const cell = (r: RunView | null, get: (r: RunView) => Cell) => (r ? get(r) : null);
  const row = (title: string, values: Cell[], metric?: string, id = title) => {
    const best = metric ? bestOf(values, metric) : new Set<number>();
    return (
      <tr key={id} className={differs(values) ? "differs" : ""} data-row={id}>
        <th>{title}</th>
        {values.map((v, i) => (
          <td key={i} className={`${typeof v === "number" ? "num" : ""}${best.has(i) ? " best" : ""}`}>
            {title === "Status" && typeof v === "string" ? <StatusBadge status={v} /> : fmtValue(v)}
          </td>
        ))}
      </tr>
    );
  };

  return (
    <div className="page compare" data-testid="compare">
      <h1>Compare {runIds.length} runs</h1>
      <TimeSlider until={until} onChange={setUntil} asOf={asOf} />
      <table className="grid side-by-side">
        <thead>
          <tr>
            <th />
            {runIds.map((id, i) => {
              const r = runs[i];
              return (
                <th key={id} data-run-id={id}>
                  {r ? <a href={paths.run(id)} onClick={linkHandler(paths.run(id))}>Run #{r.number}</a> : <span className="muted">{asOf ? "not yet submitted" : id}</span>}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {PROPERTIES.filter(([title]) => title !== "Name" || present.some((r) => r.name))
            .map(([title, get]) => row(title, runs.map((r) => cell(r, get))))}
          {params.length > 0 && <tr className="section"><th colSpan={runIds.length + 1}>Parameters</th></tr>}
          {params.map((k) => row(k, runs.map((r) => cell(r, (x) => x.params[k] ?? null)), undefined, `params.${k}`))}
          {tags.length > 0 && <tr className="section"><th colSpan={runIds.length + 1}>Tags</th></tr>}
          {tags.map((k) => row(k, runs.map((r) => cell(r, (x) => x.tags[k] ?? null)), undefined, `tags.${k}`))}
          <tr className="section"><th colSpan={runIds.length + 1}>Metrics</th></tr>
          {metrics.map((m) => row(m, runs.map((r) => cell(r, (x) => x.metrics[m] ?? null)), m))}
        </tbody>
      </table>
      <Curves runs={curveRuns} metrics={curveNames} metric={curveNames.includes(curve) ? curve : ""}
        onMetric={(m) => { setCurve(m); model.settings.update({ curve: m }); }} />
      {arrays.length > 0 && (
        <section>
          <h3>Array metrics</h3>
          <div className="charts">
            {arrays.map((m) => <ArrayChart key={m} metric={m} runs={refs} />)}
          </div>
        </section>
      )}
      {imagePaths.map((path) => (
        <section key={path}>
          <h3>{path}</h3>
          <div className="images side">
            {runIds.map((id, i) => {
              const has = files.get(id)?.some((a) => a.path === path);
              return (
                <figure key={id}>
                  {has ? <FileImage api={model.api} src={artifactUrl(model.api, id, path, true)} alt={`${path} of ${id}`} /> : <div className="muted">none</div>}
                  <figcaption>Run #{runs[i]?.number ?? "?"}</figcaption>
                </figure>
              );
            })}
          </div>
        </section>
      ))}
    </div>
  );
}
