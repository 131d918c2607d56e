// Which metrics are charted and which are table columns; remembered in this browser.

import { useModel } from "../app/context";
import { DEFAULT_CHARTS, chosen } from "../state/settings";

export function SettingsDialog({ metrics, onClose }: { metrics: readonly string[]; onClose: () => void }) {
  const model = useModel();
  const settings = model.settings.value;
  const charts = chosen(settings.charts, metrics, DEFAULT_CHARTS);
  const columns = chosen(settings.columns, metrics);
  const toggle = (list: string[], m: string) =>
    list.includes(m) ? list.filter((x) => x !== m) : metrics.filter((x) => x === m || list.includes(x));
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
        <div className="modal-actions">
          <button type="button" onClick={() => model.settings.update({ charts: null, columns: null })}>
            Reset
          </button>
          <button type="button" className="primary" onClick={onClose}>Done</button>
        </div>
      </div>
    </div>
  );
}
