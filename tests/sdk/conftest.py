"""Shared fixtures of the SDK's tests: a standalone run into a memory sink, its logger."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runstream.logger import Logger
from runstream.memorysink import MemorySink
from runstream.settings import SdkSettings
from runstream.standalone import StandaloneRun


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
def run(tmp_path: Path, sink: MemorySink) -> Iterator[StandaloneRun]:
    settings = SdkSettings(url="http://unused", spool_dir=tmp_path / "spool",
                           project="proj", exit_patience=0.2)
    run = StandaloneRun.start(settings, ["train.py", "--lr", "0.1"], sink=sink,
                              hook_exceptions=False)
    yield run
    run.close()


@pytest.fixture
def logger(run: StandaloneRun) -> Iterator[Logger]:
    logger = Logger(run)
    yield logger
    logger.close()
