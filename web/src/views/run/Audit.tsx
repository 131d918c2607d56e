// A run's events in order: the audit trail, straight from the event store.

import { useEffect, useState } from "react";
import type { AuditEntry } from "../../api/types";
import { useModel } from "../../app/context";
import { fmtTime } from "../../lib/format";

export function Audit({ runId, tick }: { runId: string; tick: number }) {
  const model = useModel();
  const [entries, setEntries] = useState<AuditEntry[] | null>(null);
  useEffect(() => {
    let ok = true;
    model.api.get<AuditEntry[]>(`/api/runs/${encodeURIComponent(runId)}/events`).then(
      (e) => ok && setEntries(e),
      (err: unknown) => model.errors.report(err, "audit"),
    );
    return () => {
      ok = false;
    };
  }, [model, runId, tick]);
  if (!entries) return <p className="muted">loading…</p>;
  return (
    <table className="grid audit" data-testid="audit">
      <thead>
        <tr><th>position</th><th>stream</th><th>seq</th><th>type</th><th>v</th><th>time</th><th>recorded</th><th>summary</th></tr>
      </thead>
      <tbody>
        {entries.map((e) => (
          <tr key={e.position}>
            <td className="num">{e.position}</td>
            <td>{e.stream}</td>
            <td className="num">{e.seq}</td>
            <td><code>{e.type}</code></td>
            <td className="num">{e.v}</td>
            <td>{fmtTime(e.ts)}</td>
            <td>{fmtTime(e.recorded)}</td>
            <td className="summary">{e.summary}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
