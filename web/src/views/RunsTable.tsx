// The runs table: virtualized rows, sortable columns, click to select
// (ctrl/cmd-click adds, shift-click a range), the run number opens its details.
// Besides the metric columns it is given, it shows the run name (when a run has
// one) and the parameter and tag columns chosen in the settings (state/columns.ts).

import { useEffect, useMemo, useRef } from "react";
import type { RunView } from "../api/types";
import { useModel } from "../app/context";
import { linkHandler, paths } from "../app/router";
import { runColor } from "../charts/curves/colors";
import { StatusBadge } from "../components/StatusBadge";
import { VirtualList } from "../components/VirtualList";
import { fmtDuration, fmtTime, fmtValue } from "../lib/format";
import { PARAM, TAG, shownParams, shownTags, textColumns, textValue } from "../state/columns";
import { useObservable } from "../state/observable";
import type { ClickMods } from "../state/selection";
import type { Sort } from "../state/table";

const ROW = 30;

interface Column {
  key: string;
  title: string;
  width: string;
  cell: (r: RunView) => React.ReactNode;
  numeric?: boolean;
}

const BASE_COLUMNS: Column[] = [
  { key: "number", title: "Run", width: "64px", numeric: true, cell: (r) => (
    <a href={paths.run(r.run_id)} onClick={(e) => { e.stopPropagation(); linkHandler(paths.run(r.run_id))(e); }}>
      <span className="run-color" aria-hidden="true" style={{ color: runColor(r.number) }} title="the run's colour in curves">●</span>#{r.number}
    </a>
  ) },
  { key: "status", title: "Status", width: "104px", cell: (r) => <StatusBadge status={r.status} /> },
  { key: "started", title: "Start time", width: "160px", cell: (r) => fmtTime(r.started ?? r.submitted) },
  { key: "duration", title: "Duration", width: "86px", numeric: true, cell: (r) => fmtDuration(r.duration) },
  { key: "script", title: "Script", width: "minmax(120px, 1.2fr)", cell: (r) => r.script },
  { key: "args", title: "Arguments", width: "minmax(100px, 1fr)", cell: (r) => r.args.join(" ") },
];

const NAME_COLUMN: Column = {
  key: "name", title: "Name", width: "minmax(100px, 1fr)", cell: (r) => r.name,
};

export function RunsTable(props: {
  runs: readonly RunView[];
  metrics: readonly string[];
  selected: readonly string[];
  sort: Sort;
  onSort: (sort: Sort) => void;
  onSelect: (runId: string, mods: ClickMods) => void;
  /** Scroll this run's row into view (after a chart click). */
  reveal: string | null;
}) {
  const { runs, metrics, selected, sort, onSort, onSelect, reveal } = props;
  const model = useModel();
  useObservable(model.settings);
  const settings = model.settings.value;
  const text = useMemo(() => textColumns(runs), [runs]);
  const params = shownParams(settings.params, text, runs.length);
  const tags = shownTags(settings.tags, text);
  const textColumn = (key: string, title: string): Column => ({
    key, title, width: "120px", numeric: text.numeric.has(key), cell: (r: RunView) => textValue(r, key) ?? "",
  });
  const [first, ...rest] = BASE_COLUMNS;
  const columns: Column[] = [
    first!,
    ...(text.named ? [NAME_COLUMN] : []),
    ...rest,
    ...params.map((k) => textColumn(PARAM + k, PARAM + k)),
    ...metrics.map((m) => ({
      key: m, title: m, width: "110px", numeric: true, cell: (r: RunView) => fmtValue(r.metrics[m]),
    })),
    ...tags.map((k) => textColumn(TAG + k, TAG + k)),
  ];
  const template = columns.map((c) => c.width).join(" ");
  const selectedSet = new Set(selected);
  const box = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (!reveal || !box.current) return;
    const index = runs.findIndex((r) => r.run_id === reveal);
    const scroller = box.current.querySelector(".vlist");
    if (index < 0 || !scroller) return;
    const top = (index + 1) * ROW;
    if (top < scroller.scrollTop + ROW || top > scroller.scrollTop + scroller.clientHeight - ROW) {
      scroller.scrollTop = Math.max(0, top - scroller.clientHeight / 2);
    }
  }, [reveal, runs]);

  const header = (
    <div className="trow thead" style={{ gridTemplateColumns: template, height: ROW }}>
      {columns.map((c) => (
        <button
          key={c.key}
          type="button"
          className={`th${c.numeric ? " num" : ""}${sort.key === c.key ? " sorted" : ""}`}
          onClick={() => onSort({ key: c.key, desc: sort.key === c.key ? !sort.desc : c.numeric === true })}
          title={`sort by ${c.title}`}
        >
          {c.title}
          {sort.key === c.key ? (sort.desc ? " ▼" : " ▲") : ""}
        </button>
      ))}
    </div>
  );

  const renderRow = (i: number) => {
    const r = runs[i]!;
    return (
      <div
        className={`trow${selectedSet.has(r.run_id) ? " selected" : ""}${r.archived ? " archived" : ""}`}
        style={{ gridTemplateColumns: template }}
        data-run-id={r.run_id}
        data-number={r.number}
        aria-selected={selectedSet.has(r.run_id)}
        onClick={(e) => onSelect(r.run_id, { additive: e.ctrlKey || e.metaKey, range: e.shiftKey })}
      >
        {columns.map((c) => (
          <div key={c.key} className={`td${c.numeric ? " num" : ""}`} data-col={c.key}>
            {c.cell(r)}
          </div>
        ))}
      </div>
    );
  };

  return (
    <div className="runs-table" ref={box} data-testid="runs-table" data-count={runs.length}>
      <VirtualList count={runs.length} rowHeight={ROW} renderRow={renderRow} header={header} overscan={10} />
      {runs.length === 0 && <div className="table-empty">No runs to show.</div>}
    </div>
  );
}
