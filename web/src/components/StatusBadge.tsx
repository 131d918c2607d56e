import { STATUS_LABEL } from "../lib/format";

export function StatusBadge({ status, onClick }: { status: string; onClick?: () => void }) {
  const label = STATUS_LABEL[status] ?? status;
  return onClick ? (
    <button type="button" className={`status status-${status}`} onClick={onClick} title="show output">
      {label}
    </button>
  ) : (
    <span className={`status status-${status}`}>{label}</span>
  );
}
