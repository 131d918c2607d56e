"""What the terminal shows while an image is prepared (on stderr).

On a terminal: one line per step with a spinner and the time it took, the
build's latest log line beside the running step. Elsewhere (a log file, CI):
one plain line per step. The whole build log is kept, to be shown if it fails.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

__all__ = ["BuildDisplay"]

LINE_WIDTH = 70


class BuildDisplay:
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.log_lines: list[str] = []
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> BuildDisplay:
        if self.console.is_terminal:
            self._progress = Progress(
                SpinnerColumn(finished_text="[green]✓"), TextColumn("{task.description}"),
                TimeElapsedColumn(), TextColumn("[dim]{task.fields[line]}"),
                console=self.console, transient=False)
            self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._finish_step()
        if self._progress is not None:
            self._progress.stop()

    def step(self, text: str) -> None:
        self._finish_step()
        if self._progress is None:
            self.console.print(Text(f"prepare: {text}"), highlight=False)
            return
        self._task = self._progress.add_task(text, total=1, line="")

    def log(self, line: str) -> None:
        self.log_lines.append(line)
        if self._progress is not None and self._task is not None and line.strip():
            text = line.strip()
            if len(text) > LINE_WIDTH:
                text = text[:LINE_WIDTH - 1] + "…"
            self._progress.update(self._task, line=text)

    def _finish_step(self) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=1, line="")
        self._task = None
