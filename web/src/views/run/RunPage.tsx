// Run details: number, name, status and properties at the top; parameters, tags,
// metrics, charts, images
// and outputs; the output log (live); the audit trail; a replay.

import type { RunView } from "../../api/types";
import { useModel } from "../../app/context";
import { linkHandler, paths } from "../../app/router";
import { LiveLog } from "../../components/LiveLog";
import { StatusBadge } from "../../components/StatusBadge";
import { fmtDuration, fmtTime, fmtValue } from "../../lib/format";
import { Audit } from "./Audit";
import { ArrayChart, SeriesChart } from "./MetricCharts";
import { Images, Outputs, useArtifacts } from "./Outputs";
import { Replay } from "./Replay";
import { SystemMetrics } from "./SystemMetrics";
import { tableMetrics } from "../../state/columns";
import { useLiveRun, type LiveRun } from "./useLiveRun";

const TABS = [
  ["overview", "Overview"],
  ["log", "Driver log"],
  ["audit", "Audit"],
  ["replay", "Replay"],
] as const;

export function RunPage({ runId, tab }: { runId: string; tab: string }) {
  const model = useModel();
  const live = useLiveRun(runId);
  const { view } = live;
  const active = TABS.some(([k]) => k === tab) ? tab : "overview";
  if (live.missing) return <div className="page"><h1>Run {runId}</h1><p className="error-text">{live.missing}</p></div>;
  if (!view) return <div className="page"><p className="muted">loading…</p></div>;

  const review = (action: "archive" | "restore") =>
    model.api.post<RunView>(`/api/runs/${encodeURIComponent(runId)}/${action}`)
      .then((v) => live.setView(v),
            (err: unknown) => model.errors.report(err, action));

  return (
    <div className="page run-page" data-run-id={runId}>
      <div className="run-head">
        <h1>Run #{view.number}</h1>
        {view.name && <span className="run-name" data-testid="run-name">{view.name}</span>}
        <StatusBadge status={view.status} />
        <span className="muted">{view.project}</span>
        {view.archived && <span className="tag">archived</span>}
        <span className="spacer" />
        <button type="button" onClick={() => void review(view.archived ? "restore" : "archive")}>
          {view.archived ? "Restore" : "Archive"}
        </button>
      </div>
      <nav className="tabs">
        {TABS.map(([key, title]) => (
          <a key={key} href={paths.run(runId, key)} className={active === key ? "active" : ""}
            onClick={linkHandler(paths.run(runId, key))}>{title}</a>
        ))}
      </nav>
      {active === "overview" && <Overview live={live} view={view} />}
      {active === "log" && <div className="log-tab"><LiveLog runId={runId} /></div>}
      {active === "audit" && <Audit runId={runId} tick={view.position} />}
      {active === "replay" && <Replay run={view} />}
    </div>
  );
}

export function Properties({ view }: { view: RunView }) {
  const rows: [string, React.ReactNode][] = [
    ["Status", <StatusBadge key="s" status={view.status} />],
    ["Start time", fmtTime(view.started ?? view.submitted)],
    ["Duration", fmtDuration(view.duration)],
    ["Name", view.name || "—"],
    ["Run id", <code key="id">{view.run_id}</code>],
    ["Target", view.target],
    ["Script", view.script],
    ["Arguments", view.args.join(" ") || "—"],
    ["Code snapshot", view.snapshot ? <code key="snap" title={view.snapshot}>{view.snapshot.slice(0, 12)}</code> : "—"],
    ["User", view.user || "—"],
    ["Host", view.host || "—"],
    ["Exit code", view.exit_code ?? "—"],
  ];
  if (view.reason) rows.push(["Reason", view.reason]);
  return (
    <dl className="props" data-testid="properties">
      {rows.map(([k, v]) => (
        <div key={k}><dt>{k}</dt><dd>{v}</dd></div>
      ))}
    </dl>
  );
}

function Overview({ live, view }: { live: LiveRun; view: RunView }) {
  const artifacts = useArtifacts(view.run_id, live.artifacts);
  const names = live.names;
  const refs = [{ run_id: view.run_id, label: `#${view.number}` }];
  const metrics = Object.entries(view.metrics).sort(([a], [b]) => a.localeCompare(b));
  return (
    <div className="overview">
      <div className="overview-top">
        <section>
          <h3>Properties</h3>
          <Properties view={view} />
        </section>
        <section>
          <h3>Parameters</h3>
          <KeyValues values={view.params} testId="params" empty="No parameters logged." />
          <h3>Tags</h3>
          <KeyValues values={view.tags} testId="tags" empty="No tags." />
        </section>
        <section>
          <h3>Metrics</h3>
          {metrics.length === 0 ? <p className="muted">No metrics logged yet.</p> : (
            <table className="grid metrics" data-testid="metrics">
              <tbody>
                {metrics.map(([k, v]) => (
                  <tr key={k} data-metric={k}><th>{k}</th><td className="num">{fmtValue(v)}</td></tr>
                ))}
              </tbody>
            </table>
          )}
          {names && names.arrays.length > 0 && (
            <p className="muted">Arrays: {names.arrays.join(", ")}</p>
          )}
        </section>
      </div>
      {names && (names.arrays.length > 0 || tableMetrics(names.scalars).length > 0) && (
        <section>
          <h3>Charts</h3>
          <div className="charts">
            {names.arrays.map((m) => <ArrayChart key={m} metric={m} runs={refs} live={live.live} />)}
            {tableMetrics(names.scalars).map((m) => <SeriesChart key={m} metric={m} runs={refs} live={live.live} minPoints={2} />)}
          </div>
        </section>
      )}
      {names && <SystemMetrics names={names.scalars} runs={refs} live={live.live} />}
      {artifacts && <Images run={view} artifacts={artifacts} />}
      {artifacts && <Outputs run={view} artifacts={artifacts} />}
    </div>
  );
}

/** A run's parameters or tags: key and value, by key. */
function KeyValues({ values, testId, empty }: { values: Record<string, string>; testId: string; empty: string }) {
  const rows = Object.entries(values).sort(([a], [b]) => a.localeCompare(b));
  if (rows.length === 0) return <p className="muted">{empty}</p>;
  return (
    <table className="grid keyvalues" data-testid={testId}>
      <tbody>
        {rows.map(([k, v]) => (
          <tr key={k} data-key={k}><th>{k}</th><td>{v}</td></tr>
        ))}
      </tbody>
    </table>
  );
}
