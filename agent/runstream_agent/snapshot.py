"""The code snapshot of a run: the project folder as it was when the run was submitted.

Files are chosen like git would: ``.gitignore`` files (the root's and nested
ones) are respected, and ``.git``, ``.runstream``, ``outputs/`` and
``__pycache__`` are always left out. The snapshot is stored as a tar.gz blob
(its sha256 goes into ``run.submitted``) and copied into a working folder
where the run executes, so editing the project while runs wait changes none.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pathspec

from runstream.client import file_sha256

__all__ = ["MAX_SNAPSHOT_BYTES", "Snapshot", "SnapshotError", "select_files", "take_snapshot"]

MAX_SNAPSHOT_BYTES = 300 << 20
ALWAYS_SKIPPED_AT_ROOT = frozenset({".git", ".runstream", "outputs"})
ALWAYS_SKIPPED = frozenset({"__pycache__", ".git"})


class SnapshotError(ValueError):
    pass


@dataclass(frozen=True)
class Snapshot:
    archive: Path  # the tar.gz
    sha256: str
    files: list[str]  # posix paths relative to the project folder
    size: int  # bytes of the files (uncompressed)


def select_files(project_dir: Path) -> list[str]:
    """The project's files to snapshot, as sorted posix paths relative to it."""
    chosen: list[str] = []
    specs: list[tuple[PurePosixPath, pathspec.GitIgnoreSpec]] = []
    for folder, dirs, files in os.walk(project_dir):
        rel = PurePosixPath(Path(folder).relative_to(project_dir).as_posix())
        ignore_file = Path(folder) / ".gitignore"
        if ignore_file.is_file():
            lines = ignore_file.read_text(errors="replace").splitlines()
            specs.append((rel, pathspec.GitIgnoreSpec.from_lines(lines)))
        keep_dirs = []
        for name in sorted(dirs):
            path = rel / name
            if name in ALWAYS_SKIPPED or (rel == PurePosixPath(".")
                                          and name in ALWAYS_SKIPPED_AT_ROOT):
                continue
            if not _ignored(specs, path, is_dir=True):
                keep_dirs.append(name)
        dirs[:] = keep_dirs
        for name in files:
            path = rel / name
            if not _ignored(specs, path, is_dir=False) and (Path(folder) / name).exists():
                chosen.append(path.as_posix())
    return sorted(chosen)


def _ignored(specs: list[tuple[PurePosixPath, pathspec.GitIgnoreSpec]], path: PurePosixPath,
             *, is_dir: bool) -> bool:
    for base, spec in specs:
        if base != PurePosixPath(".") and base not in path.parents:
            continue
        rel = path.relative_to(base).as_posix() if base != PurePosixPath(".") else path.as_posix()
        if spec.match_file(rel + "/" if is_dir else rel):
            return True
    return False


def take_snapshot(project_dir: Path, archive: Path, workdir: Path,
                  max_bytes: int = MAX_SNAPSHOT_BYTES) -> Snapshot:
    """Write the project's files as ``archive`` (tar.gz) and copy them into ``workdir``
    (with an empty ``outputs/``). Raises SnapshotError when the project is too big."""
    files = select_files(project_dir)
    size = sum((project_dir / f).stat().st_size for f in files)
    if size > max_bytes:
        largest = sorted(files, key=lambda f: (project_dir / f).stat().st_size)[-3:]
        raise SnapshotError(
            f"the project folder holds {size / 1e6:.0f} MB to snapshot, more than the "
            f"{max_bytes / 1e6:.0f} MB limit; the largest files are {', '.join(largest)}. "
            "Put data outside the project folder or list it in .gitignore")
    with tarfile.open(archive, "w:gz", dereference=True) as tar:
        for name in files:
            tar.add(project_dir / name, arcname=name, recursive=False, filter=_anonymous)
    for name in files:
        target = workdir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(project_dir / name, target)
    (workdir / "outputs").mkdir(exist_ok=True)
    return Snapshot(archive, file_sha256(archive), files, size)


def _anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info

