"""Builders of event histories for tests: a run's stream written as its agent would."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from runstream.events import (
    ArtifactAdded,
    Envelope,
    LogLines,
    MetricsLogged,
    MetricValue,
    ParamsLogged,
    Payload,
    RunCompleted,
    RunRenamed,
    RunStarted,
    RunSubmitted,
    TagsDeleted,
    TagsSet,
    new_event,
    run_stream,
)

_clock = itertools.count(1_700_000_000)


@dataclass
class RunWriter:
    """Writes one run's stream with consecutive seqs, like the run's agent."""

    run_id: str
    project: str = "iris"
    seq: int = 0
    line: int = 0
    events: list[Envelope] = field(default_factory=list)

    def emit(self, payload: Payload, ts: float | None = None) -> Envelope:
        event = new_event(run_stream(self.run_id), self.seq, payload,
                          ts=float(next(_clock)) if ts is None else ts)
        self.seq += 1
        self.events.append(event)
        return event

    def submitted(self, script: str = "train.py", args: tuple[str, ...] = (),
                  name: str = "") -> Envelope:
        return self.emit(RunSubmitted(project=self.project, script=script, args=list(args),
                                      name=name))

    def params(self, **params: str) -> Envelope:
        return self.emit(ParamsLogged(params=params))

    def tags(self, **tags: str) -> Envelope:
        return self.emit(TagsSet(tags=tags))

    def untag(self, *keys: str) -> Envelope:
        return self.emit(TagsDeleted(keys=list(keys)))

    def renamed(self, name: str) -> Envelope:
        return self.emit(RunRenamed(name=name))

    def started(self) -> Envelope:
        return self.emit(RunStarted(pid=1, host="h"))

    def lines(self, *texts: str) -> Envelope:
        first, self.line = self.line, self.line + len(texts)
        return self.emit(LogLines(first=first, lines=list(texts),
                                  times=[1.0] * len(texts), fds=[1] * len(texts)))

    def metrics(self, points: dict[str, list[MetricValue]], first_step: int = 0) -> Envelope:
        names = list(points)
        index, steps, values = [], [], []
        for k, name in enumerate(names):
            for step, value in enumerate(points[name], start=first_step):
                index.append(k)
                steps.append(step)
                values.append(value)
        return self.emit(MetricsLogged(names=names, index=index, steps=steps,
                                       times=[2.0] * len(index), values=values))

    def artifact(self, path: str, sha256: str = "a" * 64, size: int = 3) -> Envelope:
        return self.emit(ArtifactAdded(path=path, sha256=sha256, size=size))

    def completed(self, status: str = "completed", exit_code: int = 0) -> Envelope:
        return self.emit(RunCompleted(status=status, exit_code=exit_code))  # type: ignore[arg-type]


def finished_run(run_id: str, accuracy: float = 0.9, project: str = "iris") -> list[Envelope]:
    w = RunWriter(run_id, project)
    w.submitted("iris_sklearn.py", ("0.5",))
    w.started()
    w.lines("Accuracy is 0.9", "done")
    w.metrics({"Accuracy": [accuracy], "Precision": [[0.1, 0.2, 0.3]]})
    w.completed()
    return w.events
