"""Compute targets: `local` works without configuration; runstream.toml adds more."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from runstream_agent.targets import TargetError, load_target, load_targets


def test_local_is_built_in(tmp_path: Path) -> None:
    target = load_target(tmp_path, "local")
    assert (target.name, target.type, target.python) == ("local", "local", sys.executable)


def test_targets_come_from_runstream_toml(tmp_path: Path) -> None:
    (tmp_path / "runstream.toml").write_text(
        '[targets.fast]\npython = "venv/bin/python"\nenv = { OMP_NUM_THREADS = "8" }\n')
    target = load_target(tmp_path, "fast")
    assert target.python == str(tmp_path / "venv" / "bin" / "python")
    assert target.env == {"OMP_NUM_THREADS": "8"}
    assert set(load_targets(tmp_path)) == {"local", "fast"}


def test_an_unknown_target_is_an_error_listing_the_known_ones(tmp_path: Path) -> None:
    (tmp_path / "runstream.toml").write_text("[targets.gpu]\n")
    with pytest.raises(TargetError, match="'cluster'; known targets: gpu, local"):
        load_target(tmp_path, "cluster")


def test_a_target_this_agent_cannot_run_is_refused(tmp_path: Path) -> None:
    (tmp_path / "runstream.toml").write_text('[targets.box]\ntype = "docker"\n')
    with pytest.raises(TargetError, match="type 'docker'"):
        load_target(tmp_path, "box")


@pytest.mark.parametrize(("text", "says"), [
    ("[targets.x]\ncolour = 1\n", "unknown keys colour"),
    ("[targets.x]\nenv = { A = 1 }\n", "table of strings"),
    ("targets = 3\n", "table of targets"),
    ("[targets.x\n", "not valid TOML"),
])
def test_bad_configuration_is_explained(tmp_path: Path, text: str, says: str) -> None:
    (tmp_path / "runstream.toml").write_text(text)
    with pytest.raises(TargetError, match=says):
        load_targets(tmp_path)
