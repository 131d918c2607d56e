"""Runs for the web tests and the benchmark, written as their agents would write them.

``IrisRun`` writes one run's stream (submitted → started → lines → metrics →
outputs → completed) with chosen timestamps, so the UI has real durations,
arrays, series, images and a model file to show.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from runstream.client import Client
from runstream.codec import encode_batch
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

__all__ = ["IrisRun", "images", "post", "seed_iris", "seed_many"]


@dataclass
class IrisRun:
    """One run's stream, with consecutive seqs and explicit timestamps."""

    run_id: str
    t: float
    project: str = "iris"
    seq: int = 0
    line: int = 0
    events: list[Envelope] = field(default_factory=list)

    def emit(self, payload: Payload, dt: float = 0.0) -> Envelope:
        self.t += dt
        event = new_event(run_stream(self.run_id), self.seq, payload, ts=self.t)
        self.seq += 1
        self.events.append(event)
        return event

    def submitted(self, script: str, args: Sequence[str]) -> Envelope:
        return self.emit(RunSubmitted(project=self.project, script=script, args=list(args),
                                      user="ada", host="lab-1", snapshot="5e" * 32))

    def params(self, params: dict[str, str], dt: float = 0.05) -> Envelope:
        return self.emit(ParamsLogged(params=dict(params)), dt)

    def tags(self, tags: dict[str, str], dt: float = 0.05) -> Envelope:
        return self.emit(TagsSet(tags=dict(tags)), dt)

    def untag(self, keys: Sequence[str], dt: float = 0.05) -> Envelope:
        return self.emit(TagsDeleted(keys=list(keys)), dt)

    def renamed(self, name: str, dt: float = 0.05) -> Envelope:
        return self.emit(RunRenamed(name=name), dt)

    def started(self, dt: float = 0.4) -> Envelope:
        return self.emit(RunStarted(pid=4242, host="lab-1"), dt)

    def lines(self, texts: Sequence[str], dt: float = 0.2, fd: int = 1) -> Envelope:
        first, self.line = self.line, self.line + len(texts)
        return self.emit(LogLines(first=first, lines=list(texts), times=[self.t + dt] * len(texts),
                                  fds=[fd] * len(texts)), dt)

    def metrics(self, points: dict[str, list[MetricValue]], dt: float = 0.1,
                first_step: int = 0) -> Envelope:
        names = list(points)
        index: list[int] = []
        steps: list[int] = []
        values: list[MetricValue] = []
        for k, name in enumerate(names):
            for step, value in enumerate(points[name], start=first_step):
                index.append(k)
                steps.append(step)
                values.append(value)
        return self.emit(MetricsLogged(names=names, index=index, steps=steps,
                                       times=[self.t + dt] * len(index), values=values), dt)

    def artifact(self, path: str, sha256: str, size: int, media_type: str,
                 dt: float = 0.05) -> Envelope:
        return self.emit(ArtifactAdded(path=path, sha256=sha256, size=size,
                                       media_type=media_type), dt)

    def completed(self, status: str = "completed", exit_code: int = 0,
                  dt: float = 0.2) -> Envelope:
        return self.emit(RunCompleted(status=status, exit_code=exit_code), dt)  # type: ignore[arg-type]


def post(client: Client, events: Sequence[Envelope], batch: int = 2_000) -> None:
    for i in range(0, len(events), batch):
        client.post_events(encode_batch(events[i:i + batch]))


def _curves(c: float, seed: int) -> dict[str, list[float]]:
    rng = random.Random(seed)
    thresholds = [i / 20 for i in range(21)]
    skill = 1 - math.exp(-3 * c)
    precision = [min(1.0, 0.5 + 0.5 * t * skill + rng.uniform(-0.02, 0.02)) for t in thresholds]
    recall = [max(0.0, 1 - t ** (1 + 2 * skill) + rng.uniform(-0.02, 0.02)) for t in thresholds]
    fscore = [2 * p * r / (p + r) if p + r else 0.0 for p, r in zip(precision, recall, strict=True)]
    return {"Precision": precision, "Recall": recall, "Thresholds": thresholds, "Fscore": fscore}


def images(out: Path, c: float) -> dict[str, Path]:
    """cm.png and roc.png for one run (small matplotlib figures)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    good = int(40 * (1 - math.exp(-3 * c)))
    cm = [[50, 0, 0], [0, good, 50 - good], [0, 50 - good - 2, good + 2]]
    fig, ax = plt.subplots(figsize=(3.2, 2.8), dpi=80)
    ax.imshow(cm, cmap="Blues")
    for i, row in enumerate(cm):
        for j, v in enumerate(row):
            ax.text(j, i, str(v), ha="center", va="center")
    ax.set_title(f"confusion matrix (C={c})")
    fig.tight_layout()
    fig.savefig(out / "cm.png")
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(3.2, 2.8), dpi=80)
    xs = [i / 50 for i in range(51)]
    ax.plot(xs, [x ** (1 - 0.9 * (1 - math.exp(-3 * c))) for x in xs])
    ax.plot([0, 1], [0, 1], "--", color="grey")
    ax.set_title(f"ROC (C={c})")
    fig.tight_layout()
    fig.savefig(out / "roc.png")
    plt.close(fig)
    return {"cm.png": out / "cm.png", "roc.png": out / "roc.png"}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def iris_run(run_id: str, c: float, t0: float, *, files: dict[str, Path] | None = None,
             finish: bool = True, seed: int = 0) -> IrisRun:
    """The iris lab's script with regularization ``c``: prints, logs, saves outputs."""
    run = IrisRun(run_id, t0)
    run.submitted("iris_sklearn.py", [str(c)])
    run.started()
    run.lines([f"\x1b[1mClassifying iris\x1b[0m with regularization rate \x1b[36m{c}\x1b[0m",
               "loading data: 150 samples, 4 features"])
    loss = [1.2 * math.exp(-k * (0.2 + c)) + 0.05 for k in range(12)]
    run.metrics({"loss": list[MetricValue](loss)}, dt=0.5)
    accuracy = round(0.6 + 0.37 * (1 - math.exp(-3 * c)), 4)
    curves = _curves(c, seed)
    run.lines([f"Accuracy is \x1b[32m{accuracy}\x1b[0m", "\x1b[33mwarning\x1b[0m: "
               "lbfgs converged slowly"], dt=0.4)
    points: dict[str, list[MetricValue]] = {
        "Regularization Rate": [c], "Accuracy": [accuracy],
        "MaxFscore": [round(max(curves["Fscore"]), 4)]}
    for name, values in curves.items():
        points[name] = [list(values)]  # one array value each
    run.metrics(points, dt=0.3 + 2 * c)
    if files:
        for path, local in files.items():
            media = "image/png" if path.endswith(".png") else "application/octet-stream"
            run.artifact(f"outputs/{path}", _sha(local), local.stat().st_size, media)
    if finish:
        run.lines(["done"], dt=0.1)
        run.completed(dt=0.1)
    return run


RATES = (0.01, 0.05, 0.1, 0.3, 0.5, 1.0)


def seed_iris(client: Client, work: Path, rates: Sequence[float] = RATES,
              t0: float | None = None) -> list[str]:
    """The iris sweep: one finished run per rate, with images and a model file."""
    t = time.time() - 600 if t0 is None else t0
    ids = []
    for k, c in enumerate(rates):
        run_id = f"iris_{int(t * 1000)}_{k}"
        files = images(work / run_id, c)
        model = work / run_id / "model.pkl"
        model.write_bytes(f"pickled model C={c} {uuid.uuid4().hex}".encode())
        files["model.pkl"] = model
        for local in files.values():
            client.put_blob(local)
        post(client, iris_run(run_id, c, t + 20 * k, files=files, seed=k).events)
        ids.append(run_id)
    return ids


def seed_many(client: Client, n: int, t0: float | None = None) -> None:
    """``n`` small finished runs (no files), for scale: about 6 events each."""
    rng = random.Random(7)
    t = time.time() - 10 * n if t0 is None else t0
    events: list[Envelope] = []
    for k in range(n):
        c = round(rng.uniform(0.01, 1.0), 3)
        run = IrisRun(f"scale_{k:06d}", t + 5 * k)
        run.submitted("iris_sklearn.py", [str(c)])
        run.started()
        run.lines([f"Accuracy is {c}"])
        run.metrics({"Accuracy": [round(0.6 + 0.37 * c + rng.uniform(-.05, .05), 4)],
                     "MaxFscore": [round(0.55 + 0.4 * c + rng.uniform(-.05, .05), 4)],
                     "Regularization Rate": [c]}, dt=rng.uniform(1, 4))
        run.completed("failed" if rng.random() < 0.05 else "completed", dt=0.2)
        events.extend(run.events)
        if len(events) >= 5_000:
            post(client, events)
            events = []
    post(client, events)
