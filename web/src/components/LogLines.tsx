// Printed output: virtualized (100,000 lines stay smooth), ANSI colours, and an
// auto-scroll that follows new lines until the user scrolls up.

import { useCallback, useEffect, useState } from "react";
import { hasAnsi, parseAnsi, type Segment } from "../lib/ansi";
import type { LogBuffer } from "../state/logbuffer";
import { VirtualList } from "./VirtualList";

const LINE = 18;

function Styled({ segments }: { segments: Segment[] }) {
  return (
    <>
      {segments.map((s, i) => (
        <span
          key={i}
          style={{
            color: s.style.fg,
            background: s.style.bg,
            fontWeight: s.style.bold ? 700 : undefined,
            opacity: s.style.dim ? 0.7 : undefined,
            fontStyle: s.style.italic ? "italic" : undefined,
            textDecoration: s.style.underline ? "underline" : undefined,
          }}
        >
          {s.text}
        </span>
      ))}
    </>
  );
}

export function LogLines({ buffer, version, empty }: { buffer: LogBuffer; version: number; empty?: string }) {
  const [follow, setFollow] = useState(true);
  const [seen, setSeen] = useState(0);
  const count = buffer.length;
  const onScroll = useCallback((atEnd: boolean) => {
    setFollow(atEnd);
  }, []);
  const newLines = follow ? 0 : count - seen;
  // Remember how many lines the user had when they stopped following.
  useEffect(() => {
    if (follow) setSeen(count);
  }, [follow, count]);

  const renderRow = (i: number) => {
    const text = buffer.texts[i] ?? "";
    const fd = buffer.fds[i] ?? 1;
    return (
      <div className={`logline${fd === 2 ? " stderr" : ""}`}>
        <span className="lineno">{i + 1}</span>
        <span className="linetext">{hasAnsi(text) ? <Styled segments={parseAnsi(text).segments} /> : text}</span>
      </div>
    );
  };
  void version;
  return (
    <div className="logview" data-lines={count} data-follow={follow}>
      <VirtualList
        count={count}
        rowHeight={LINE}
        renderRow={renderRow}
        onScroll={onScroll}
        stickToEnd={follow}
        className="logscroll"
        testId="log-lines"
      />
      {count === 0 && <div className="log-empty">{empty ?? "no output yet"}</div>}
      {!follow && (
        <button type="button" className="follow" onClick={() => setFollow(true)}>
          ↓ follow{newLines > 0 ? ` (${newLines} new)` : ""}
        </button>
      )}
    </div>
  );
}
