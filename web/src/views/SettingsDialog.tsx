// Which metrics are charted and which metrics, parameters and tags are table
// columns; remembered in this browser.

import { useModel } from "../app/context";
import { DEFAULT_PARAMS, shownParams, shownTags, textColumns } from "../state/columns";
import { DEFAULT_CHARTS, chosen } from "../state/settings";

export function SettingsDialog({ metrics, onClose }: { metrics: readonly string[]; onClose: () => void }) {
  const model = useModel();
  const settings = model.settings.value;
  const charts = chosen(settings.charts, metrics, DEFAULT_CHARTS);
  const columns = chosen(settings.columns, metrics);
  const toggle = (list: string[], m: string) =>
    list.includes(m) ? list.filter((x) => x !== m) : metrics.filter((x) => x === m || list.includes(x));
  const runs = model.runs.runs();
  const text = textColumns(runs);
  const params = shownParams(settings.params, text, runs.length);
  const tags = shownTags(settings.tags, text);
  const flip = (list: readonly string[], all: readonly string[], k: string) =>
    list.includes(k) ? list.filter((x) => x !== k) : all.filter((x) => x === k || list.includes(x));
  return (
    <div className="modal-backdrop" onClick={onClose}>
      <div className="modal settings" role="dialog" aria-label="Settings" onClick={(e) => e.stopPropagation()}>
        <h2>Metrics</h2>
        <p className="hint">Choose which metrics are charted and shown as table columns.</p>
        <table>
          <thead>
            <tr><th>metric</th><th>chart</th><th>column</th></tr>
          </thead>
          <tbody>
            {metrics.map((m) => (
              <tr key={m}>
                <td>{m}</td>
                <td>
                  <input type="checkbox" aria-label={`chart ${m}`} checked={charts.includes(m)}
                    onChange={() => model.settings.update({ charts: toggle(charts, m) })} />
                </td>
                <td>
                  <input type="checkbox" aria-label={`column ${m}`} checked={columns.includes(m)}
                    onChange={() => model.settings.update({ columns: toggle(columns, m) })} />
                </td>
              </tr>
            ))}
            {metrics.length === 0 && <tr><td colSpan={3}>No scalar metrics logged yet.</td></tr>}
          </tbody>
        </table>
        <h2>Parameters</h2>
        <p className="hint" data-testid="params-hint">
          {settings.params === null
            ? `Automatic: the table shows up to ${DEFAULT_PARAMS} parameters whose values differ between the shown runs (a single run's first ${DEFAULT_PARAMS}). Tick or untick to choose your own.`
            : "Your choice of parameter columns. Reset goes back to automatic."}
        </p>
        <table>
          <thead>
            <tr><th>parameter</th><th>column</th></tr>
          </thead>
          <tbody>
            {text.params.map((k) => (
              <tr key={k}>
                <td>{k}</td>
                <td>
                  <input type="checkbox" aria-label={`column params.${k}`} checked={params.includes(k)}
                    onChange={() => model.settings.update({ params: flip(params, text.params, k) })} />
                </td>
              </tr>
            ))}
            {text.params.length === 0 && <tr><td colSpan={2}>No parameters logged yet.</td></tr>}
          </tbody>
        </table>
        <h2>Tags</h2>
        <p className="hint">Tag columns are not shown unless chosen here.</p>
        <table>
          <thead>
            <tr><th>tag</th><th>column</th></tr>
          </thead>
          <tbody>
            {text.tags.map((k) => (
              <tr key={k}>
                <td>{k}</td>
                <td>
                  <input type="checkbox" aria-label={`column tags.${k}`} checked={tags.includes(k)}
                    onChange={() => model.settings.update({ tags: flip(tags, text.tags, k) })} />
                </td>
              </tr>
            ))}
            {text.tags.length === 0 && <tr><td colSpan={2}>No tags set yet.</td></tr>}
          </tbody>
        </table>
        <div className="modal-actions">
          <button type="button" onClick={() => model.settings.update({ charts: null, columns: null, params: null, tags: [] })}>
            Reset
          </button>
          <button type="button" className="primary" onClick={onClose}>Done</button>
        </div>
      </div>
    </div>
  );
}
