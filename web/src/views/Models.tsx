// The model registry: models, their versions, where each came from, and downloads.
// A version is a file (runstream's promote) or a directory (an MLflow model: MLmodel
// and the files beside it), whose files are listed and downloaded one by one.

import { useEffect, useState } from "react";
import type { ManifestEntry } from "../api/generated";
import type { ModelDetail, ModelSummary, ModelVersion } from "../api/types";
import { useModel } from "../app/context";
import { linkHandler, paths } from "../app/router";
import { fmtSize, fmtTime } from "../lib/format";
import { FileLink } from "./Files";
import { useObservable } from "../state/observable";

function useRefetch<T>(path: string): T | null {
  const model = useModel();
  useObservable(model.runs); // run numbers
  const [tick, setTick] = useState(0);
  const [data, setData] = useState<T | null>(null);
  useEffect(() => {
    // A version created anywhere: fetch again (the `models` topic carries only those).
    const after = model.runs.position || (model.conn.status?.position ?? 0);
    return model.feed.subscribe("models", after, { onEvents: () => setTick((t) => t + 1) });
  }, [model]);
  useEffect(() => {
    let ok = true;
    model.api.get<T>(path).then((d) => ok && setData(d), (err: unknown) => model.errors.report(err, "models"));
    return () => {
      ok = false;
    };
  }, [model, path, tick]);
  return data;
}

export function Models() {
  const models = useRefetch<ModelSummary[]>("/api/models");
  return (
    <div className="page">
      <h1>Models</h1>
      {!models ? <p className="muted">loading…</p> : models.length === 0 ? (
        <p className="muted">No models yet. Promote a run's output from its details page.</p>
      ) : (
        <table className="grid" data-testid="models">
          <thead>
            <tr><th>model</th><th>latest version</th><th>versions</th><th>aliases</th><th>updated</th></tr>
          </thead>
          <tbody>
            {models.map((m) => (
              <tr key={m.name} data-model={m.name}>
                <td><a href={paths.model(m.name)} onClick={linkHandler(paths.model(m.name))}>{m.name}</a></td>
                <td className="num">{m.latest || "—"}</td>
                <td className="num">{m.versions}</td>
                <td>{Object.entries(m.aliases).map(([a, v]) => `@${a}→${v}`).join(", ")}</td>
                <td>{fmtTime(m.updated)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

export function ModelPage({ name }: { name: string }) {
  const model = useModel();
  const detail = useRefetch<ModelDetail>(`/api/models/${encodeURIComponent(name)}`);
  const numbers = new Map(model.runs.runs().map((r) => [r.run_id, r.number]));
  return (
    <div className="page">
      <h1>Model {name}</h1>
      <p><a href={paths.models()} onClick={linkHandler(paths.models())}>← all models</a></p>
      {!detail ? <p className="muted">loading…</p> : (
        <table className="grid" data-testid="versions">
          <thead>
            <tr><th>version</th><th>aliases</th><th>source run</th><th>file</th><th>created</th><th>sha256</th><th>size</th><th /></tr>
          </thead>
          <tbody>
            {[...detail.versions].reverse().map((v) => (
              <tr key={v.version} data-version={v.version} data-kind={v.kind}>
                <td className="num">{v.version}</td>
                <td>{v.aliases.map((a) => `@${a}`).join(", ")}</td>
                <td>
                  <a href={paths.run(v.run_id)} onClick={linkHandler(paths.run(v.run_id))}>
                    {numbers.has(v.run_id) ? `#${numbers.get(v.run_id)} ` : ""}<code>{v.run_id}</code>
                  </a>
                </td>
                <td>{v.kind === "directory" ? `${v.path || "."}/ (MLflow model)` : v.path}</td>
                <td>{fmtTime(v.created)}</td>
                <td><code title={v.sha256}>{v.sha256.slice(0, 12)}</code></td>
                <td className="num">{fmtSize(v.size)}</td>
                <td>
                  {v.kind === "directory" ? <DirectoryFiles name={name} version={v} /> : (
                    <FileLink api={model.api} name={name}
                      href={model.api.href(`/api/models/${encodeURIComponent(name)}/versions/${v.version}/download`)}
                      onError={(err) => model.errors.report(err, "download")}>
                      Download
                    </FileLink>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

// A directory version's files, fetched when first opened, each downloadable.
function DirectoryFiles({ name, version }: { name: string; version: ModelVersion }) {
  const model = useModel();
  const [files, setFiles] = useState<ManifestEntry[] | null>(null);
  const base = `/api/models/${encodeURIComponent(name)}/versions/${version.version}`;
  return (
    <details onToggle={(e) => {
      if (!(e.currentTarget as HTMLDetailsElement).open || files) return;
      model.api.get<ManifestEntry[]>(`${base}/files`).then(setFiles, (err: unknown) => model.errors.report(err, "models"));
    }}>
      <summary>Files</summary>
      {!files ? <p className="muted">loading…</p> : (
        <ul data-testid="version-files">
          {files.map((f) => (
            <li key={f.path}>
              <FileLink api={model.api} name={f.path.split("/").pop() ?? f.path}
                href={model.api.href(`${base}/files/${f.path.split("/").map(encodeURIComponent).join("/")}`)}
                onError={(err) => model.errors.report(err, "download")}>
                {f.path}
              </FileLink> <span className="muted">{fmtSize(f.size)}</span>
            </li>
          ))}
        </ul>
      )}
    </details>
  );
}
