"""A docker target's table, its image recipe and the wheels' platform (no engine needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runstream_agent.containers import recipe as recipe_module
from runstream_agent.containers.inside import OOM_REASON, explain, oom_kills
from runstream_agent.containers.options import DockerOptions, parse_memory
from runstream_agent.containers.recipe import make_recipe, write_runstream_tree
from runstream_agent.containers.wheels import Platform
from runstream_agent.outcome import Outcome
from runstream_agent.targets import TargetError, load_target

DOCKER = """
[targets.docker-python]
type = "docker"
image = "runstream-base:py3"
requirements = "requirements.txt"
packages = ["pyarrow>=15"]
setup = ["apt-get update"]
env = { MPLBACKEND = "Agg" }
memory = "1.5g"
cpus = 0.5
kafka = "127.0.0.1:9092"
"""


def write(project: Path, toml: str, requirements: str = "numpy\n") -> Path:
    (project / "runstream.toml").write_text(toml)
    (project / "requirements.txt").write_text(requirements)
    return project


def test_a_docker_target_reads_its_image_requirements_limits_and_broker(tmp_path: Path) -> None:
    target = load_target(write(tmp_path, DOCKER), "docker-python")
    assert (target.type, target.python, target.kafka) == ("docker", "python3", "127.0.0.1:9092")
    assert target.env == {"MPLBACKEND": "Agg"}
    assert target.docker == DockerOptions(
        image="runstream-base:py3", requirements=(tmp_path / "requirements.txt",),
        packages=("pyarrow>=15",), setup=("apt-get update",), memory=3 << 29, cpus=0.5,
        network="host")


def test_docker_defaults_are_a_python_image_no_limits_and_the_host_network(
        tmp_path: Path) -> None:
    (tmp_path / "runstream.toml").write_text('[targets.box]\ntype = "docker"\n')
    target = load_target(tmp_path, "box")
    assert target.docker == DockerOptions()
    assert (target.docker.image, target.docker.network) == ("python:3.11-slim", "host")


@pytest.mark.parametrize(("table", "says"), [
    ('image = ""', "`image` must name the base image"),
    ('requirements = "missing.txt"', "'missing.txt' does not exist"),
    ("memory = \"lots\"", "`memory` must be a size"),
    ("memory = \"1m\"", "below the 6 MiB"),
    ("cpus = 0", "`cpus` must be a positive number"),
    ('setup = "apt-get update"', "`setup` must be a list of strings"),
    ('gpus = "all"', "unknown keys gpus"),
])
def test_bad_docker_options_name_the_key_and_an_example(tmp_path: Path, table: str,
                                                        says: str) -> None:
    (tmp_path / "runstream.toml").write_text(f'[targets.box]\ntype = "docker"\n{table}\n')
    with pytest.raises(TargetError, match=says):
        load_target(tmp_path, "box")


def test_docker_keys_are_unknown_to_a_local_target(tmp_path: Path) -> None:
    (tmp_path / "runstream.toml").write_text('[targets.x]\nmemory = "1g"\n')
    with pytest.raises(TargetError, match="unknown keys memory"):
        load_target(tmp_path, "x")


@pytest.mark.parametrize(("text", "size"), [
    ("512m", 512 << 20), ("2g", 2 << 30), ("1.5GiB", 3 << 29), ("64MB", 64 << 20),
    (8 << 20, 8 << 20)])
def test_memory_sizes(text: str | int, size: int) -> None:
    assert parse_memory(text) == size


def test_the_recipe_changes_with_what_goes_into_the_image(tmp_path: Path) -> None:
    target = load_target(write(tmp_path, DOCKER), "docker-python")
    assert target.docker is not None
    first = make_recipe(target.docker, "python3", "sha256:base")
    assert make_recipe(target.docker, "python3", "sha256:base").digest == first.digest
    assert first.tag == f"runstream-target:{first.digest[:16]}"
    assert first.deps.tag in first.dockerfile  # the run image is built on the deps image
    assert make_recipe(target.docker, "python3", "sha256:other").deps.digest != \
        first.deps.digest
    (tmp_path / "requirements.txt").write_text("numpy==2.0\n")
    changed = make_recipe(target.docker, "python3", "sha256:base")
    assert changed.deps.digest != first.deps.digest and changed.digest != first.digest


def test_runstream_code_changes_only_the_run_image(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    target = load_target(write(tmp_path, DOCKER), "docker-python")
    assert target.docker is not None
    before = make_recipe(target.docker, "python3", "sha256:base")
    monkeypatch.setattr(recipe_module, "_fingerprint", lambda: "edited")
    after = make_recipe(target.docker, "python3", "sha256:base")
    assert after.deps.digest == before.deps.digest and after.digest != before.digest


def test_the_image_gets_runstream_and_its_agent_without_the_server(tmp_path: Path) -> None:
    write_runstream_tree(tmp_path)
    assert (tmp_path / "runstream" / "spool.py").is_file()
    assert (tmp_path / "runstream_agent" / "containers" / "inside.py").is_file()
    assert not (tmp_path / "runstream_server").exists()
    assert not list(tmp_path.rglob("__pycache__"))
    assert "Name: runstream" in next(tmp_path.glob("runstream-*.dist-info")).joinpath(
        "METADATA").read_text()
    requirements = recipe_module.runstream_requirements()
    assert any(r.startswith("msgspec") for r in requirements)  # the SDK
    assert any(r.startswith("kafka-python") for r in requirements)  # the Kafka sink
    assert not any(r.startswith(("aiohttp", "sqlalchemy", "docker")) for r in requirements)


def test_wheels_are_asked_for_every_manylinux_up_to_the_images_glibc() -> None:
    args = Platform("cpython", "3.11", "x86_64", "glibc", "2.36").pip_args()
    platforms = {args[i + 1] for i, a in enumerate(args) if a == "--platform"}
    assert {"manylinux_2_36_x86_64", "manylinux_2_28_x86_64", "manylinux_2_17_x86_64",
            "manylinux2014_x86_64", "manylinux1_x86_64", "linux_x86_64"} <= platforms
    assert "manylinux_2_37_x86_64" not in platforms
    assert args[args.index("--python-version") + 1] == "3.11"
    assert "--only-binary=:all:" in args


@pytest.mark.parametrize(("name", "text"), [
    ("memory.events", "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n"),  # cgroup v2
    ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"),  # cgroup v1
])
def test_oom_kills_are_read_from_the_containers_memory_cgroup(tmp_path: Path, name: str,
                                                             text: str) -> None:
    (tmp_path / name).write_text(text)
    assert oom_kills((tmp_path / "absent", tmp_path / name)) > 0
    assert oom_kills((tmp_path / "absent",)) == 0


def test_a_sigkilled_script_is_named_out_of_memory_only_after_an_oom_kill(
        monkeypatch: pytest.MonkeyPatch) -> None:
    killed = Outcome("failed", -9, "killed by signal SIGKILL")
    monkeypatch.setattr("runstream_agent.containers.inside.oom_kills", lambda: 0)
    assert explain(killed) == killed
    monkeypatch.setattr("runstream_agent.containers.inside.oom_kills", lambda: 1)
    assert explain(killed) == Outcome("failed", -9, OOM_REASON)
    assert explain(Outcome("failed", 1, "ValueError: x")).reason == "ValueError: x"


def test_the_lab_declares_a_docker_target_with_its_requirements() -> None:
    lab = Path(__file__).resolve().parents[2] / "examples" / "classifying_iris"
    target = load_target(lab, "docker-python")
    assert target.type == "docker" and target.docker is not None
    assert target.docker.requirements == (lab / "requirements.txt",)
    required = (lab / "requirements.txt").read_text()
    assert all(name in required for name in ("numpy", "scikit-learn", "matplotlib"))
