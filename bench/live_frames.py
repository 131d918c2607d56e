"""The websocket's encoding of a backlog: 10,000 stored events (log lines and metric
batches, as a run writes them) to JSON frames, as ``runstream_server.wire`` encodes them.
Prints figures; decides nothing.

    python bench/live_frames.py [--events 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runstream.codec import encode_payload  # noqa: E402
from runstream.events import LogLines, MetricsLogged  # noqa: E402
from runstream_server import wire  # noqa: E402
from runstream_server.eventstore import StoredEvent  # noqa: E402


def events(n: int) -> list[StoredEvent]:
    out = []
    for i in range(n):
        if i % 2:
            payload: object = LogLines(first=i, lines=[f"epoch {i} loss 0.{i:04d}"] * 3,
                                       times=[1.0 * i] * 3, fds=[1] * 3)
        else:
            payload = MetricsLogged(names=["loss", "acc"], index=[0, 1] * 10,
                                    steps=list(range(20)), times=[1.5 * i] * 20,
                                    values=[0.123456789 * k for k in range(20)])
        kind = "log.lines" if i % 2 else "metrics.logged"
        out.append(StoredEvent(i + 1, f"e{i:06d}", "run/bench", i + 1, kind, 1, 1.7e9 + i,
                               1.7e9 + i, encode_payload(payload)))  # type: ignore[arg-type]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    times, size = [], 0
    for _ in range(args.repeat):
        batch = events(args.events)  # fresh: payloads decoded inside the timing
        t0 = time.perf_counter()
        texts = list(wire.frames("run/bench", "run/bench", batch, backlog=True))
        times.append(time.perf_counter() - t0)
        size = sum(len(t) for t in texts)
    print(f"{args.events} events -> {len(texts)} frames, {size / 1e6:.1f} MB of JSON: "
          f"median {statistics.median(times) * 1000:.1f} ms, best {min(times) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
