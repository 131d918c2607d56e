"""A second client that keeps POSTing one new run while something else happens, and
records how long each POST waited: what "the writer never stalls" is measured by, in
tests and in bench/run_creation.py."""

from __future__ import annotations

import threading
import time
from types import TracebackType

from runstream.client import Client
from runstream.codec import encode_batch
from runstream.events import RunSubmitted, new_event, run_stream

__all__ = ["SideClient"]


class SideClient:
    """``with SideClient(url, "probe") as side: …`` — ``side.latencies`` are seconds."""

    def __init__(self, url: str, prefix: str, *, every: float = 0.02,
                 timeout: float = 600) -> None:
        self.url = url
        self.prefix = prefix
        self.every = every
        self.timeout = timeout
        self.latencies: list[float] = []
        self._ready = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SideClient:
        self._thread.start()
        self._ready.wait(self.timeout)  # its connection is open before the caller goes on
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        client = Client(self.url, timeout=self.timeout)
        client.get_json("/api")
        self._ready.set()
        i = 0
        while not self._done.is_set():
            one = encode_batch([new_event(run_stream(f"{self.prefix}_{i}"), 0,
                                          RunSubmitted(project=self.prefix, script="p.py"))])
            started = time.perf_counter()
            client.post_events(one)
            self.latencies.append(time.perf_counter() - started)
            i += 1
            self._done.wait(self.every)
