// Run details' "System" section: the series the run agent sampled from the script's
// process tree (CPU, memory, disk, network, GPUs; runstream_agent.system), one small
// live chart each, drawn by the same series charts as the run's own metrics.

import { systemMetrics } from "../../state/columns";
import { SeriesChart, type LiveSource, type RunRef } from "./MetricCharts";

export function SystemMetrics({ names, runs, live }: {
  /** The run's stepped (scalar) metric names; those under `sys/` are shown here. */
  names: readonly string[];
  runs: readonly RunRef[];
  live?: LiveSource;
}) {
  const shown = systemMetrics(names);
  if (shown.length === 0) return null;
  return (
    <section className="system-metrics" data-testid="system-metrics">
      <h3>System</h3>
      <p className="muted">
        Sampled by the run agent from the script's process tree (disk and network bytes
        are cumulative since the start).
      </p>
      <div className="charts">
        {shown.map((m) => (
          <div key={m} data-system-metric={m}>
            <SeriesChart metric={m} runs={runs} live={live} />
          </div>
        ))}
      </div>
    </section>
  );
}
