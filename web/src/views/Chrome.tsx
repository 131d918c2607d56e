// Around every page: the output drawer, the error bar, the token prompt.

import { useState } from "react";
import { useModel } from "../app/context";
import { linkHandler, paths } from "../app/router";
import { LiveLog } from "../components/LiveLog";
import { StatusBadge } from "../components/StatusBadge";
import { useObservable } from "../state/observable";

export function LogDrawer() {
  const model = useModel();
  useObservable(model.ui);
  useObservable(model.runs);
  const runId = model.ui.logRun;
  if (!runId) return null;
  const run = model.runs.get(runId);
  return (
    <section className="drawer" aria-label="Output">
      <div className="drawer-head">
        <strong>Output of {run ? `#${run.number} ${run.script}` : runId}</strong>
        {run && <StatusBadge status={run.status} />}
        <span className="spacer" />
        <a href={paths.run(runId)} onClick={linkHandler(paths.run(runId))}>details</a>
        <button type="button" aria-label="close output" onClick={() => model.ui.showLog(null)}>✕</button>
      </div>
      <LiveLog key={runId} runId={runId} />
    </section>
  );
}

export function ErrorBar() {
  const model = useModel();
  useObservable(model.errors);
  if (!model.errors.items.length) return null;
  return (
    <div className="errors" role="alert">
      {model.errors.items.map((e) => (
        <div key={e.id} className="error">
          <span>{e.message}</span>
          <button type="button" aria-label="dismiss" onClick={() => model.errors.dismiss(e.id)}>✕</button>
        </div>
      ))}
    </div>
  );
}

export function TokenPrompt() {
  const model = useModel();
  useObservable(model.conn);
  const [token, setToken] = useState("");
  if (!model.conn.needToken) return null;
  return (
    <div className="modal-backdrop">
      <form
        className="modal"
        role="dialog"
        aria-label="API token"
        onSubmit={(e) => {
          e.preventDefault();
          if (token.trim()) model.setToken(token);
        }}
      >
        <h2>This server needs an API token</h2>
        <p className="hint">{model.conn.tokenMessage}</p>
        <input type="password" autoFocus placeholder="token" aria-label="token" value={token}
          onChange={(e) => setToken(e.target.value)} />
        <div className="modal-actions">
          <button type="submit" className="primary">Connect</button>
        </div>
      </form>
    </div>
  );
}

export function ConnectionDot() {
  const model = useModel();
  useObservable(model.conn);
  const state = model.conn.state;
  const label = state === "live" ? "live" : state === "starting" || state === "connecting" ? "connecting…" : state === "reconnecting" ? "reconnecting…" : "offline";
  return <span className={`conn conn-${state}`} data-testid="connection" title="live feed">{label}</span>;
}
