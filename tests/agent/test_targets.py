"""Compute targets: `local` works without configuration; runstream.toml adds more."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from runstream.settings import SdkSettings
from runstream_agent.submission import prepare
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
    (tmp_path / "runstream.toml").write_text('[targets.box]\ntype = "slurm"\n')
    with pytest.raises(TargetError, match="type 'slurm'"):
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


def test_a_target_may_name_a_kafka_broker_and_topic(tmp_path: Path) -> None:
    (tmp_path / "runstream.toml").write_text(
        '[targets.cluster]\nkafka = "kafka-1:9092"\ntopic = "lab.events"\n'
        '[targets.http]\nkafka = ""\n')
    targets = load_targets(tmp_path)
    assert (targets["cluster"].kafka, targets["cluster"].topic) == ("kafka-1:9092", "lab.events")
    assert (targets["http"].kafka, targets["http"].topic) == ("", None)
    assert (targets["local"].kafka, targets["local"].topic) == (None, None)


@pytest.mark.parametrize(("text", "says"), [
    ("[targets.x]\nkafka = 9092\n", "`kafka` must be a string"),
    ("[targets.x]\ntopic = \"\"\n", "`topic` must be a topic name"),
])
def test_bad_kafka_settings_are_explained(tmp_path: Path, text: str, says: str) -> None:
    (tmp_path / "runstream.toml").write_text(text)
    with pytest.raises(TargetError, match=says):
        load_targets(tmp_path)


@pytest.mark.parametrize(("table", "env", "expected"), [
    ("", {}, ("", "")),
    ("", {"RUNSTREAM_KAFKA": "env:9092", "RUNSTREAM_KAFKA_TOPIC": "t"}, ("env:9092", "t")),
    ('kafka = "toml:9092"\n', {"RUNSTREAM_KAFKA": "env:9092"}, ("toml:9092", "")),
    ('kafka = "toml:9092"\ntopic = "lab"\n', {}, ("toml:9092", "lab")),
    ('kafka = ""\n', {"RUNSTREAM_KAFKA": "env:9092"}, ("", "")),
])
def test_the_targets_kafka_key_wins_over_the_environment(
        tmp_path: Path, table: str, env: dict[str, str], expected: tuple[str, str]) -> None:
    project = tmp_path / "lab"
    project.mkdir()
    (project / "train.py").write_text("print(1)\n")
    (project / "runstream.toml").write_text(f"[targets.t]\n{table}")
    settings = SdkSettings.from_env({**env, "RUNSTREAM_SPOOL_DIR": str(tmp_path / "spool")})
    spec, spool = prepare(project, "train.py", [], "t", settings)
    spool.close()
    shutil.rmtree(spec.workdir)
    assert (spec.kafka, spec.kafka_topic) == expected
