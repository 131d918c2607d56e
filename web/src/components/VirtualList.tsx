// A list that renders only the rows in view: fixed row height, any number of rows.

import { useCallback, useEffect, useLayoutEffect, useRef, useState, type ReactNode } from "react";

export interface VirtualListProps {
  count: number;
  rowHeight: number;
  renderRow: (index: number) => ReactNode;
  className?: string;
  overscan?: number;
  /** Called on every scroll with whether the list is scrolled to its end. */
  onScroll?: (atEnd: boolean) => void;
  /** When true, the list keeps its end in view as rows are added. */
  stickToEnd?: boolean;
  header?: ReactNode;
  testId?: string;
}

export function VirtualList(props: VirtualListProps) {
  const { count, rowHeight, renderRow, className, overscan = 8, onScroll, stickToEnd, header } = props;
  const box = useRef<HTMLDivElement>(null);
  const [top, setTop] = useState(0);
  const [height, setHeight] = useState(600);
  const frame = useRef(0);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const observer = new ResizeObserver(() => setHeight(el.clientHeight));
    observer.observe(el);
    setHeight(el.clientHeight);
    return () => observer.disconnect();
  }, []);

  const scrolled = useCallback(() => {
    const el = box.current;
    if (!el) return;
    onScroll?.(el.scrollHeight - el.scrollTop - el.clientHeight < rowHeight * 1.5);
    if (frame.current) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = 0;
      setTop(el.scrollTop);
    });
  }, [onScroll, rowHeight]);

  useLayoutEffect(() => {
    const el = box.current;
    if (el && stickToEnd) {
      el.scrollTop = el.scrollHeight;
      setTop(el.scrollTop);
    }
  }, [count, stickToEnd]);

  const headerHeight = header ? rowHeight : 0;
  const first = Math.max(0, Math.floor((top - headerHeight) / rowHeight) - overscan);
  const last = Math.min(count, Math.ceil((top + height) / rowHeight) + overscan);
  const rows: ReactNode[] = [];
  for (let i = first; i < last; i++) {
    rows.push(
      <div key={i} className="vrow" style={{ top: i * rowHeight, height: rowHeight }}>
        {renderRow(i)}
      </div>,
    );
  }
  return (
    <div ref={box} className={`vlist ${className ?? ""}`} onScroll={scrolled} data-testid={props.testId}>
      {header}
      <div className="vbody" style={{ height: count * rowHeight }}>
        {rows}
      </div>
    </div>
  );
}
