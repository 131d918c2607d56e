"""The snapshot holds the project as git would see it, and the run works on a copy."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from runstream_agent.snapshot import SnapshotError, select_files, take_snapshot


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "iris"
    for name in ["train.py", "lib/model.py", "data/big.csv", "notes.log", "outputs/model.pkl",
                 ".git/HEAD", ".runstream/runstream.db", "lib/__pycache__/model.pyc",
                 "lib/scratch/tmp.txt", "lib/keep.txt"]:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    (root / ".gitignore").write_text("data/\n*.log\n")
    (root / "lib" / ".gitignore").write_text("scratch/\n")
    return root


def test_gitignored_and_generated_files_are_left_out(project: Path) -> None:
    assert select_files(project) == [".gitignore", "lib/.gitignore", "lib/keep.txt",
                                     "lib/model.py", "train.py"]


def test_the_archive_and_the_working_copy_hold_the_same_files(project: Path,
                                                              tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    snapshot = take_snapshot(project, tmp_path / "snap.tar.gz", workdir)
    with tarfile.open(snapshot.archive) as tar:
        assert sorted(tar.getnames()) == snapshot.files
    assert sorted(p.relative_to(workdir).as_posix() for p in workdir.rglob("*")
                  if p.is_file()) == snapshot.files
    assert (workdir / "outputs").is_dir() and not any((workdir / "outputs").iterdir())
    assert len(snapshot.sha256) == 64


def test_editing_the_project_after_the_snapshot_changes_nothing_in_the_copy(
        project: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    take_snapshot(project, tmp_path / "snap.tar.gz", workdir)
    (project / "train.py").write_text("edited")
    assert (workdir / "train.py").read_text() == "train.py"


def test_a_project_too_big_to_snapshot_names_its_largest_files(project: Path,
                                                               tmp_path: Path) -> None:
    (project / "weights.bin").write_bytes(b"0" * 5000)
    with pytest.raises(SnapshotError, match=r"weights\.bin.*\.gitignore"):
        take_snapshot(project, tmp_path / "snap.tar.gz", tmp_path, max_bytes=1000)
