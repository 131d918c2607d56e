"""Writing what the server sends (snapshots, artifacts, models) only inside a chosen folder.

Archives, artifact listings and link files come from a server or a file that may be
hostile, so nothing here trusts a name. Snapshots are unpacked by our own loop rather
than ``tarfile``'s extraction: regular files and folders are written first into a fresh
staging folder (so no link exists yet that a later member could write through), links
are checked by their text alone and made last, and ``realpath`` is never consulted (its
silent truncation of long paths is the CVE-2025-4517 escape). Everything is staged
beside the destination and moved into place only when all of it was written: a refusal
leaves nothing behind.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import shutil
import stat
import tarfile
import tempfile
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO, cast

from runstream_agent.snapshot import MAX_SNAPSHOT_BYTES

__all__ = ["Limits", "Refused", "extract_snapshot", "move_into_place", "safe_file_name",
           "safe_relative", "staging"]

NAME_BYTES = 255  # one path component, as most file systems allow
PATH_BYTES = 4000  # a whole relative path, under Linux's PATH_MAX of 4096
_CHUNK = 1 << 20
_READ_AHEAD = 1 << 16


class Refused(ValueError):
    """A name, member or size that would write outside the destination or without bound."""


@dataclass(frozen=True)
class Limits:
    """How much one snapshot may unpack to. A snapshot is at most MAX_SNAPSHOT_BYTES of
    files when taken (``runstream submit``), so anything larger was not made by us."""

    max_bytes: int = MAX_SNAPSHOT_BYTES
    max_members: int = 100_000
    # Source code compresses 3-10x; 1000x is a bomb. Small archives are exempt.
    max_ratio: float = 200.0
    ratio_floor: int = 32 << 20


def safe_relative(name: str, what: str = "member") -> PurePosixPath:
    """``name`` as a relative path that stays inside its folder, or Refused."""
    allowed = ("use a relative path of plain names (no leading '/', no '..', no control "
               "characters)")
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise Refused(f"{what} {name!r} has a control character in its name: {allowed}")
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith("\\"):
        raise Refused(f"{what} {name!r} is an absolute path: {allowed}")
    parts = [p for p in path.parts if p != "."]
    if ".." in parts:
        raise Refused(f"{what} {name!r} climbs out with '..': {allowed}")
    if not parts:
        raise Refused(f"{what} {name!r} names no file: {allowed}")
    if len(name.encode()) > PATH_BYTES or any(len(p.encode()) > NAME_BYTES for p in parts):
        raise Refused(f"{what} {name[:80]!r}… has a name longer than {NAME_BYTES} bytes or a "
                      f"path longer than {PATH_BYTES} bytes")
    return PurePosixPath(*parts)


def safe_file_name(name: str) -> str:
    """A single file name made from ``name``: its last part, no control characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if unicodedata.category(c) != "Cc").strip()
    if base in ("", ".", "..") or len(base.encode()) > NAME_BYTES:
        raise Refused(f"{name[:80]!r} cannot be used as a file name: it is empty, '.', '..' "
                      f"or longer than {NAME_BYTES} bytes once its folders are removed")
    return base


@contextmanager
def staging(dest: Path) -> Iterator[Path]:
    """A fresh folder beside ``dest`` (same file system, so moving it is a rename),
    removed unless the caller moved its content away."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name[:40]}.", suffix=".partial",
                                dir=dest.parent))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # does not follow links


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def move_into_place(tmp: Path, dest: Path) -> None:
    """Move the staged files of ``tmp`` into ``dest``: one rename when ``dest`` is new or
    empty, else file by file after checking that none of them can fail or leave ``dest``."""
    if not dest.exists() or (dest.is_dir() and not dest.is_symlink()
                             and not any(dest.iterdir())):
        if dest.exists():
            dest.rmdir()
        tmp.chmod(0o777 & ~_umask())  # mkdtemp made it private
        tmp.rename(dest)
        return
    root = dest.resolve()
    moves: list[tuple[Path, Path]] = []
    for path in sorted(tmp.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            continue
        rel = path.relative_to(tmp)
        target = dest / rel
        if not target.parent.resolve().is_relative_to(root):
            raise Refused(f"refusing to write {rel.as_posix()!r}: {target.parent} leads "
                          f"outside {dest} through a link")
        if target.is_dir() and not target.is_symlink():
            raise Refused(f"cannot write {rel.as_posix()!r}: {target} is a folder; remove "
                          "it or choose another folder")
        for parent in rel.parents:
            if parent != Path(".") and (dest / parent).exists() \
                    and not (dest / parent).is_dir():
                raise Refused(f"cannot write {rel.as_posix()!r}: {dest / parent} is a file; "
                              "remove it or choose another folder")
        moves.append((path, target))
    for path, target in moves:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)


def extract_snapshot(data: bytes, dest: Path, limits: Limits = Limits()) -> int:
    """Unpack a snapshot (tar, possibly compressed, or zip) into the new or empty folder
    ``dest``; returns the number of files. Raises Refused, naming the member, and then
    leaves nothing behind."""
    with staging(dest) as tmp:
        buffer = io.BytesIO(data)
        writer = _Writer(tmp, limits, len(data))
        try:
            if zipfile.is_zipfile(buffer):
                _unzip(buffer, writer)
            else:
                buffer.seek(0)
                _untar(buffer, writer)
            writer.make_links()
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, lzma.LZMAError) as exc:
            raise Refused(f"the snapshot is not a readable tar or zip archive ({exc})") from None
        move_into_place(tmp, dest)
        return writer.files


class _Writer:
    """Writes members under ``root`` while counting them against the limits."""

    def __init__(self, root: Path, limits: Limits, packed: int) -> None:
        self.root = root
        self.limits = limits
        self.packed = max(packed, 1)
        self.members = self.files = self.total = 0
        self.links: list[tuple[PurePosixPath, str]] = []
        self.linked: set[PurePosixPath] = set()
        self.regular: set[PurePosixPath] = set()

    def member(self, name: str) -> PurePosixPath:
        self.members += 1
        if self.members > self.limits.max_members:
            raise Refused(f"the snapshot has more than {self.limits.max_members} members "
                          f"(at {name!r}); refusing it")
        rel = safe_relative(name)
        for part in (rel, *rel.parents):
            if part in self.linked:
                raise Refused(f"member {name!r} is written through the link {part.as_posix()!r}"
                              " in the same snapshot; refusing it")
        return rel

    def grow(self, name: str, size: int) -> None:
        self.total += size
        lim = self.limits
        if self.total > lim.max_bytes:
            raise Refused(f"the snapshot unpacks to more than {lim.max_bytes / 1e6:.0f} MB "
                          f"(at member {name!r}); refusing it")
        if self.total > lim.ratio_floor and self.total > lim.max_ratio * self.packed:
            raise Refused(
                f"the snapshot's {self.packed / 1e3:.0f} KB unpack to more than "
                f"{self.total / 1e6:.0f} MB (at member {name!r}), over {lim.max_ratio:.0f} "
                "times its size: refusing it as a decompression bomb")

    def folder(self, rel: PurePosixPath) -> None:
        self._guard(rel, lambda: (self.root / rel).mkdir(parents=True, exist_ok=True))

    def file(self, rel: PurePosixPath, source: IO[bytes], size: int, executable: bool) -> None:
        self.grow(rel.as_posix(), size)

        def write() -> None:
            target = self.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            mode = (0o777 if executable else 0o666) & ~_umask()
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
            with os.fdopen(fd, "wb") as out:
                written = 0
                while chunk := source.read(min(_CHUNK, size - written + 1)):
                    written += len(chunk)
                    if written > size:  # never more than the header declared
                        raise Refused(f"member {rel.as_posix()!r} holds more than it declares")
                    out.write(chunk)

        self._guard(rel, write)
        self.regular.add(rel)
        self.files += 1

    def link(self, rel: PurePosixPath, target: str) -> None:
        """Accept a link whose text stays inside: some leading '..' no deeper than the
        link's own folder (whose parts are real folders), then plain names."""
        parts = PurePosixPath(target).parts
        ups = len(parts) - len(tuple(p for p in parts if p != ".."))
        plain = parts[ups:]
        if (not target or target.startswith("/") or parts[:ups] != ("..",) * ups
                or any(p in ("..", ".") for p in plain) or ups > len(rel.parts) - 1
                or any(unicodedata.category(c) == "Cc" for c in target)):
            raise Refused(f"member {rel.as_posix()!r} is a link to {target!r}, which leads "
                          "outside the snapshot; refusing it")
        self.links.append((rel, target))
        self.linked.add(rel)

    def make_links(self) -> None:
        for rel, target in self.links:
            self._guard(rel, partial(os.symlink, target, self.root / rel))

    def _guard(self, rel: PurePosixPath, action: Callable[[], object]) -> None:
        try:
            action()
        except OSError as exc:
            raise Refused(f"member {rel.as_posix()!r} cannot be written ({exc.strerror}); "
                          "refusing the snapshot") from None


class _Bounded(io.RawIOBase):
    """The decompressed tar stream, cut off past the limits: a backstop for bytes no
    member header declares (long-name and pax headers are read whole by ``tarfile``)."""

    def __init__(self, source: IO[bytes], writer: _Writer) -> None:
        self.source = source
        self.writer = writer
        self.read_bytes = 0
        lim = writer.limits
        self.base = min(lim.max_bytes, max(lim.ratio_floor, int(lim.max_ratio * writer.packed)))

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.source.read(len(b))
        self.read_bytes += len(data)
        # Plus each member's header and padding (up to 1 KB), and the read-ahead.
        if self.read_bytes > self.base + 1024 * self.writer.members + _READ_AHEAD:
            raise Refused(f"the snapshot unpacks to more than {self.base / 1e6:.0f} MB; "
                          "refusing it as too large or a decompression bomb")
        b[:len(data)] = data
        return len(data)


def _decompressed(buffer: IO[bytes]) -> IO[bytes]:
    head = buffer.read(6)
    buffer.seek(0)
    if head.startswith(b"\x1f\x8b"):
        return cast(IO[bytes], gzip.GzipFile(fileobj=buffer))
    if head.startswith(b"BZh"):
        return cast(IO[bytes], bz2.BZ2File(buffer))
    if head.startswith(b"\xfd7zXZ\x00"):
        return cast(IO[bytes], lzma.LZMAFile(buffer))
    return buffer


def _untar(buffer: IO[bytes], writer: _Writer) -> None:
    stream = io.BufferedReader(_Bounded(_decompressed(buffer), writer), _READ_AHEAD)
    with tarfile.open(fileobj=stream, mode="r|") as tf:
        for member in tf:  # lazily: a bomb is refused at its first oversized header
            rel = writer.member(member.name)
            if member.isdir():
                writer.folder(rel)
            elif member.isreg():
                source = tf.extractfile(member)
                assert source is not None  # a regular member always has content
                writer.file(rel, source, member.size, bool(member.mode & 0o100))
            elif member.issym():
                writer.link(rel, member.linkname)
            elif member.islnk():
                original = safe_relative(member.linkname)
                if original not in writer.regular:
                    raise Refused(f"member {member.name!r} is a hard link to "
                                  f"{member.linkname!r}, which is not a file of the snapshot")
                with (writer.root / original).open("rb") as fh:
                    writer.file(rel, fh, (writer.root / original).stat().st_size,
                                bool(member.mode & 0o100))
            else:
                raise Refused(f"member {member.name!r} is a device, fifo or other special "
                              "file; a code snapshot holds only files, folders and links")


def _unzip(buffer: IO[bytes], writer: _Writer) -> None:
    with zipfile.ZipFile(buffer) as zf:
        for info in zf.infolist():
            rel = writer.member(info.filename)
            mode = info.external_attr >> 16
            if info.is_dir():
                writer.folder(rel)
            elif stat.S_IFMT(mode) and not stat.S_ISREG(mode):
                raise Refused(f"member {info.filename!r} is a link or special file; only "
                              "files and folders are unpacked from a zip snapshot")
            else:
                with zf.open(info) as source:
                    writer.file(rel, source, info.file_size, bool(mode & 0o100))
