// Always visible: every job as it is submitted, its status changing live.
// The status opens its output (tailing live); the name opens its details.

import { useMemo } from "react";
import { useModel } from "../app/context";
import { linkHandler, paths } from "../app/router";
import { StatusBadge } from "../components/StatusBadge";
import { fmtDuration } from "../lib/format";
import { useObservable } from "../state/observable";

const SHOWN = 150;

export function JobsPanel() {
  const model = useModel();
  const version = useObservable(model.runs);
  const runs = model.runs.runs();
  const jobs = useMemo(() => runs.filter((r) => !r.archived).slice(0, SHOWN), [runs, version]);
  const running = useMemo(() => runs.filter((r) => r.status === "running").length, [runs, version]);
  return (
    <aside className="jobs" aria-label="Jobs">
      <div className="jobs-head">
        <h2>Jobs</h2>
        <span className="muted">{running ? `${running} running` : ""}</span>
      </div>
      <ol className="jobs-list" data-testid="jobs">
        {jobs.map((r) => (
          <li key={r.run_id} className="job" data-run-id={r.run_id} data-status={r.status}>
            <a className="job-name" href={paths.run(r.run_id)} onClick={linkHandler(paths.run(r.run_id))}
              title={`${r.name ? `${r.name}: ` : ""}${r.script} ${r.args.join(" ")}`}>
              <span className="job-number">#{r.number}</span> {r.name || r.script}{" "}
              <span className="muted">{r.name ? `${r.script} ${r.args.join(" ")}`.trim() : r.args.join(" ")}</span>
            </a>
            <div className="job-meta">
              <StatusBadge status={r.status} onClick={() => model.ui.showLog(r.run_id)} />
              <span className="muted">{fmtDuration(r.duration)}</span>
            </div>
          </li>
        ))}
        {jobs.length === 0 && <li className="muted">No jobs yet. Submit one with <code>runstream submit</code>.</li>}
      </ol>
    </aside>
  );
}
