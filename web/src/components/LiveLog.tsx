// A run's output, loaded over HTTP and then tailed live on the tab's feed.

import { useEffect, useRef, useState } from "react";
import { useModel } from "../app/context";
import type { LogPage, RunView } from "../api/types";
import { FrameBatcher } from "../state/batch";
import { LogBuffer } from "../state/logbuffer";
import { LogLines } from "./LogLines";

const PAGE = 50_000;

export function LiveLog({ runId }: { runId: string }) {
  const model = useModel();
  const buffer = useRef(new LogBuffer());
  const [version, setVersion] = useState(0);
  const [loading, setLoading] = useState(true);

  useEffect(() => {
    const buf = new LogBuffer();
    buffer.current = buf;
    setVersion(0);
    setLoading(true);
    let stop = () => undefined as void;
    const batcher = new FrameBatcher<Parameters<LogBuffer["addEvents"]>[0][number]>((events) => {
      if (buf.addEvents(events)) setVersion(buf.version);
    });
    let live = true;
    const id = encodeURIComponent(runId);
    (async () => {
      // The run's position first: the pages then hold every line up to it (at least),
      // and the live tail starts after it. Lines are kept by number: none twice.
      const run = model.runs.get(runId) ?? await model.api.get<RunView>(`/api/runs/${id}`);
      let start = 0;
      for (;;) {
        const page = await model.api.get<LogPage>(`/api/runs/${id}/logs`, { start, limit: PAGE });
        if (!live) return;
        buf.addPage(page.lines);
        setVersion(buf.version);
        if (page.lines.length < PAGE) break;
        start = page.lines[page.lines.length - 1]![0] + 1;
      }
      setLoading(false);
      stop = model.feed.subscribe(`log/${runId}`, run.position, { onEvents: (events) => batcher.push(events) });
    })().catch((err: unknown) => {
      setLoading(false);
      model.errors.report(err, `output of ${runId}`);
    });
    return () => {
      live = false;
      stop();
    };
  }, [model, runId]);

  return <LogLines buffer={buffer.current} version={version} empty={loading ? "loading…" : undefined} />;
}
