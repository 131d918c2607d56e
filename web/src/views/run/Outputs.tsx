// A run's files: images shown inline, every file with Download and Promote.

import { useEffect, useState } from "react";
import type { Artifact, ModelVersion, RunView } from "../../api/types";
import { useModel } from "../../app/context";
import { linkHandler, paths } from "../../app/router";
import { fmtSize, fmtTime } from "../../lib/format";
import { FileImage, FileLink } from "../Files";

export function isImage(a: Artifact): boolean {
  return a.media_type.startsWith("image/") || /\.(png|jpe?g|gif|svg|webp)$/i.test(a.path);
}

export function useArtifacts(runId: string, tick = 0): Artifact[] | null {
  const model = useModel();
  const [items, setItems] = useState<Artifact[] | null>(null);
  useEffect(() => {
    let ok = true;
    model.api.get<Artifact[]>(`/api/runs/${encodeURIComponent(runId)}/artifacts`).then(
      (a) => ok && setItems(a),
      (err: unknown) => model.errors.report(err, "outputs"),
    );
    return () => {
      ok = false;
    };
  }, [model, runId, tick]);
  return items;
}

export function artifactUrl(api: { href: (p: string, q?: Record<string, string>) => string },
                            runId: string, path: string, inline = false): string {
  const p = `/api/runs/${encodeURIComponent(runId)}/artifacts/${path.split("/").map(encodeURIComponent).join("/")}`;
  return api.href(p, inline ? { inline: "1" } : {});
}

export function Images({ run, artifacts }: { run: RunView; artifacts: Artifact[] }) {
  const model = useModel();
  const images = artifacts.filter(isImage);
  if (!images.length) return null;
  return (
    <section>
      <h3>Images</h3>
      <div className="images">
        {images.map((a) => (
          <figure key={a.path}>
            <FileImage api={model.api} src={artifactUrl(model.api, run.run_id, a.path, true)} alt={a.path} />
            <figcaption>{a.path}</figcaption>
          </figure>
        ))}
      </div>
    </section>
  );
}

function defaultName(run: RunView, path: string): string {
  const stem = (path.split("/").pop() ?? path).replace(/\.[^.]*$/, "");
  return `${run.project}-${stem}`;
}

function Promote({ run, artifact }: { run: RunView; artifact: Artifact }) {
  const model = useModel();
  const [asking, setAsking] = useState(false);
  const [name, setName] = useState(defaultName(run, artifact.path));
  const [made, setMade] = useState<ModelVersion | null>(null);
  const [busy, setBusy] = useState(false);
  if (made) {
    return (
      <span className="promoted" data-testid="promoted">
        registered <a href={paths.model(made.name)} onClick={linkHandler(paths.model(made.name))}>
          {made.name} version {made.version}</a>
      </span>
    );
  }
  if (!asking) return <button type="button" onClick={() => setAsking(true)}>Promote</button>;
  return (
    <form
      className="promote"
      onSubmit={(e) => {
        e.preventDefault();
        setBusy(true);
        model.api.post<ModelVersion>("/api/models", { run_id: run.run_id, path: artifact.path, name: name.trim() })
          .then(setMade, (err: unknown) => model.errors.report(err, "promote"))
          .finally(() => setBusy(false));
      }}
    >
      <input aria-label="model name" value={name} autoFocus onChange={(e) => setName(e.target.value)} />
      <button type="submit" className="primary" disabled={busy || !name.trim()}>Register</button>
      <button type="button" onClick={() => setAsking(false)}>Cancel</button>
    </form>
  );
}

export function Outputs({ run, artifacts }: { run: RunView; artifacts: Artifact[] }) {
  const model = useModel();
  return (
    <section>
      <h3>Outputs</h3>
      {artifacts.length === 0 ? <p className="muted">No outputs.</p> : (
        <table className="grid outputs">
          <thead>
            <tr><th>file</th><th>size</th><th>sha256</th><th>added</th><th /></tr>
          </thead>
          <tbody>
            {artifacts.map((a) => (
              <tr key={a.path} data-path={a.path}>
                <td>{a.path}</td>
                <td className="num">{fmtSize(a.size)}</td>
                <td><code title={a.sha256}>{a.sha256.slice(0, 12)}</code></td>
                <td>{fmtTime(a.added)}</td>
                <td className="actions">
                  <FileLink api={model.api} href={artifactUrl(model.api, run.run_id, a.path)}
                    name={a.path.split("/").pop() ?? a.path}
                    onError={(err) => model.errors.report(err, "download")}>Download</FileLink>
                  <Promote run={run} artifact={a} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
