"""The spool: one stream's encoded events on disk until the sink acknowledged them.

A spool is a folder per stream (under ``~/.runstream/spool`` by default)::

    stream      the stream's name (the folder name is only a quoted form of it)
    lock        flock()ed by the process writing or sending the stream
    NNN….seg    append-only segments of records, named by their first seq
    acked       the last seq the sink acknowledged
    finished    present once the writer appended the stream's last event
    blobs/      files waiting for upload (content-addressed, by sha256)
    reserve     space held back so the run's last events fit on a full disk
    set-aside/  events the sink refused (see runstream.setaside)

A record is ``<u32 length><u32 crc32><i64 seq>`` and one encoded envelope. An
append is one batch: written, then fsync'd, before the call returns. A crash
can tear only the tail of the last segment; opening the spool cuts it off.
Segments are deleted once every record in them is acknowledged; resending an
acknowledged record is harmless (the server's dedupe absorbs it), losing an
unacknowledged one is not, so the spool errs on the side of keeping.

On a full disk an append raises OSError (ENOSPC) and leaves nothing half
written; the writer counts what it could not keep. The ``reserve`` file
(``RESERVE_BYTES``, allocated when the spool is made) is given up only for an
append that asks for it (``use_reserve``: the run's ``run.completed``), so the
run can always end on record, saying what was lost.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import struct
import tempfile
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

__all__ = ["Record", "Spool", "SpoolBusy", "stream_folders"]

SEGMENT_BYTES = 8 << 20
RESERVE_BYTES = 256 << 10
_HEADER = struct.Struct("<IIq")


class SpoolBusy(RuntimeError):
    """Another process (a running agent or ``runstream sync``) holds the stream."""


@dataclass(frozen=True, slots=True)
class Record:
    seq: int
    data: bytes


@dataclass(slots=True)
class _Segment:
    path: Path
    first: int  # seq of its first record
    last: int  # seq of its last record, first - 1 while empty
    size: int  # bytes committed (written and fsync'd)


def stream_folders(root: Path) -> list[Path]:
    """The spool folders under ``root`` (oldest name first), whether busy or not."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / "stream").is_file())


class Spool:
    """The on-disk queue of one stream. Thread-safe; the owner holds the lock file."""

    def __init__(self, path: Path, stream: str, lock_fd: int) -> None:
        self.path = path
        self.stream = stream
        self._lock_fd = lock_fd
        self._mutex = threading.Lock()
        self._segments: list[_Segment] = []
        self._fd: int | None = None  # append handle of the last segment
        self._cursor: tuple[int, int, int] | None = None  # next seq, segment index, offset
        self.acked = _read_int(path / "acked", -1)
        self.next_seq = self.acked + 1
        self._load_segments()
        (path / "blobs").mkdir(exist_ok=True)
        self._blobs = {p.name for p in (path / "blobs").iterdir() if len(p.name) == 64}
        _hold_reserve(path / "reserve")

    # -- opening ------------------------------------------------------------

    @classmethod
    def create(cls, root: Path, stream: str) -> Spool:
        """A new, empty spool for ``stream``, locked by this process.

        Raises FileExistsError when the stream already has a spool here: the
        folder is built aside and renamed into place, which is atomic, so two
        processes can never both create one stream."""
        root.mkdir(parents=True, exist_ok=True)
        final = root / quote(stream, safe="")
        if final.exists():
            raise FileExistsError(f"the spool of {stream} already exists: {final}")
        tmp = Path(tempfile.mkdtemp(prefix=".new-", dir=root))
        (tmp / "stream").write_text(stream)
        fd = _lock(tmp / "lock", blocking=False)
        try:
            os.rename(tmp, final)
        except OSError:
            os.close(fd)
            shutil.rmtree(tmp, ignore_errors=True)
            raise FileExistsError(f"the spool of {stream} already exists: {final}") from None
        _fsync_dir(root)
        return cls(final, stream, fd)

    @classmethod
    def open(cls, path: Path, *, lock_fd: int | None = None) -> Spool:
        """Open an existing spool; ``lock_fd`` is an inherited descriptor of its lock
        file (a detached agent gets it from the command that created the spool).

        Raises SpoolBusy when another process holds it."""
        stream = (path / "stream").read_text()
        if lock_fd is None:
            try:
                lock_fd = _lock(path / "lock", blocking=False)
            except BlockingIOError:
                raise SpoolBusy(f"{stream} is being written or sent by another process "
                                f"(its spool {path} is locked)") from None
        else:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return cls(path, stream, lock_fd)

    @property
    def lock_fd(self) -> int:
        return self._lock_fd

    def _load_segments(self) -> None:
        paths = sorted(self.path.glob("*.seg"))
        for i, seg_path in enumerate(paths):
            first = int(seg_path.stem)
            last_segment = i == len(paths) - 1
            expected = self._segments[-1].last + 1 if self._segments else None
            if expected is not None and first != expected:
                # A gap between segments: nothing after it can be sent in order.
                for later in paths[i:]:
                    later.unlink()
                break
            last, good = _scan(seg_path, first, verify=last_segment)
            if good < seg_path.stat().st_size:
                with seg_path.open("r+b") as fh:  # cut a torn tail
                    fh.truncate(good)
                    os.fsync(fh.fileno())
            self._segments.append(_Segment(seg_path, first, last, good))
        if self._segments:
            self.next_seq = max(self.next_seq, self._segments[-1].last + 1)
            self._fd = os.open(self._segments[-1].path, os.O_WRONLY | os.O_APPEND)

    # -- writing ------------------------------------------------------------

    def append(self, records: Sequence[Record], *, use_reserve: bool = False) -> None:
        """Write a batch of records durably (fsync'd before returning). Their seqs
        must continue the spool's: ``next_seq``, ``next_seq + 1``, …

        Raises OSError (ENOSPC on a full disk) with nothing of the batch written;
        ``use_reserve`` then gives up the reserve and tries once more."""
        try:
            self._append(records)
        except OSError as exc:
            if not use_reserve or exc.errno not in (errno.ENOSPC, errno.EDQUOT) \
                    or not self.release_reserve():
                raise
            self._append(records)

    def release_reserve(self) -> bool:
        """Free the reserved space for the last events; False if it was gone already."""
        try:
            (self.path / "reserve").unlink()
        except FileNotFoundError:
            return False
        return True

    def _append(self, records: Sequence[Record]) -> None:
        if not records:
            return
        with self._mutex:
            for i, record in enumerate(records):
                if record.seq != self.next_seq + i:
                    raise ValueError(f"{self.stream}: record seq {record.seq} does not follow "
                                     f"{self.next_seq + i - 1}")
            segment = self._writable_segment()
            assert self._fd is not None
            buf = b"".join(
                _HEADER.pack(len(r.data), zlib.crc32(r.data), r.seq) + r.data for r in records)
            try:
                view = memoryview(buf)
                while view:
                    view = view[os.write(self._fd, view):]
                os.fsync(self._fd)
            except OSError:
                os.ftruncate(self._fd, segment.size)  # leave no half batch behind
                raise
            segment.size += len(buf)
            segment.last = records[-1].seq
            self.next_seq = records[-1].seq + 1

    def _writable_segment(self) -> _Segment:
        if self._segments and self._fd is not None and self._segments[-1].size < SEGMENT_BYTES:
            return self._segments[-1]
        if self._fd is not None:
            os.close(self._fd)
        path = self.path / f"{self.next_seq:020d}.seg"
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        _fsync_dir(self.path)
        segment = _Segment(path, self.next_seq, self.next_seq - 1, 0)
        self._segments.append(segment)
        return segment

    def mark_finished(self) -> None:
        """The writer appended the stream's last event; once it is all acknowledged
        the spool may be removed."""
        marker = self.path / "finished"
        try:
            with marker.open("w") as fh:
                os.fsync(fh.fileno())
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT) or not self.release_reserve():
                raise
            with marker.open("w") as fh:
                os.fsync(fh.fileno())

    @property
    def finished(self) -> bool:
        return (self.path / "finished").exists()

    # -- reading and acknowledging (the shipper's side) -----------------------

    def read(self, after: int, max_count: int, max_bytes: int) -> list[Record]:
        """Records with seq > ``after``, in order: at most ``max_count`` and, beyond
        the first, about ``max_bytes`` of data."""
        with self._mutex:
            start = self._locate(after + 1)
            if start is None:
                return []
            index, offset = start
            out: list[Record] = []
            size = 0
            seq = after + 1
            while True:
                segment = self._segments[index]
                for record, end in _records(segment.path, offset, segment.size):
                    out.append(record)
                    size += len(record.data)
                    seq, offset = record.seq + 1, end
                    if len(out) >= max_count or size >= max_bytes:
                        break
                # The cursor stays on the last segment, at its end, for the next append.
                if offset < segment.size or index + 1 == len(self._segments):
                    break
                index, offset = index + 1, 0
                if len(out) >= max_count or size >= max_bytes:
                    break
            self._cursor = (seq, index, offset)
            return out

    def _locate(self, seq: int) -> tuple[int, int] | None:
        if seq >= self.next_seq:
            return None
        if self._cursor is not None and self._cursor[0] == seq:
            index, offset = self._cursor[1:]
            if index < len(self._segments) and self._segments[index].first <= seq:
                return index, offset
        for index, segment in enumerate(self._segments):
            if segment.first <= seq <= segment.last:
                offset = 0
                for record, end in _records(segment.path, 0, segment.size):
                    if record.seq == seq:
                        return index, offset
                    offset = end
        return None

    def ack(self, seq: int) -> None:
        """The sink stored every record up to ``seq``: remember it, drop what is done."""
        with self._mutex:
            if seq <= self.acked:
                return
            self.acked = seq
            done = [s for s in self._segments[:-1] if s.last <= seq]
            last = self._segments[-1] if self._segments else None
            drop_last = last is not None and last.last <= seq and last.size >= SEGMENT_BYTES // 8
            # Once segments go, the acked seq is what tells the next seq: make it durable.
            try:
                _write_int(self.path / "acked", seq, durable=bool(done) or drop_last)
            except OSError as exc:
                if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
                return  # a full disk: keep every segment (resending is harmless), retry later
            for segment in done:
                self._segments.remove(segment)
                segment.path.unlink()
            if self._cursor is not None:
                next_seq, index, offset = self._cursor
                self._cursor = (next_seq, index - len(done), offset) if index >= len(done) else None
            if drop_last and last is not None:
                if self._fd is not None:
                    os.close(self._fd)
                    self._fd = None
                self._segments.remove(last)
                last.path.unlink()
                self._cursor = None

    @property
    def first_seq(self) -> int:
        """The oldest seq still on disk (``next_seq`` when none is)."""
        with self._mutex:
            return self._segments[0].first if self._segments else self.next_seq

    @property
    def last_seq(self) -> int:
        return self.next_seq - 1

    @property
    def pending(self) -> int:
        """How many events are not acknowledged yet."""
        return self.next_seq - 1 - self.acked

    # -- blobs --------------------------------------------------------------

    def stash_blob(self, source: Path, sha256: str, *, move: bool = False) -> None:
        """Keep a file for upload (by ``sha256``) until the sink has it."""
        dest = self.path / "blobs" / sha256
        if sha256 in self._blobs and dest.exists():
            return
        tmp = dest.with_name(f".{sha256}.part")
        moved = False
        if move:
            try:
                os.replace(source, tmp)
                moved = True
            except OSError:  # another file system: copy instead
                pass
        if not moved:
            shutil.copyfile(source, tmp)
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
        with self._mutex:
            self._blobs.add(sha256)

    def stashed_blobs(self) -> list[tuple[str, Path]]:
        with self._mutex:
            return [(sha, self.path / "blobs" / sha) for sha in sorted(self._blobs)]

    def drop_blob(self, sha256: str) -> None:
        with self._mutex:
            self._blobs.discard(sha256)
        (self.path / "blobs" / sha256).unlink(missing_ok=True)

    # -- closing ------------------------------------------------------------

    @property
    def done(self) -> bool:
        """Finished, every event acknowledged and every blob uploaded; no event set
        aside waits to be looked at (``runstream sync --discard-set-aside``)."""
        return self.finished and self.pending == 0 and not self._blobs \
            and not (self.path / "set-aside").is_dir()

    def close(self) -> bool:
        """Release the spool; remove its folder when it is done. True if removed.

        The lock is released by closing its descriptor, not by LOCK_UN, so that a
        process that handed the descriptor to a child does not unlock the child."""
        with self._mutex:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            removed = self.done
            if removed:
                shutil.rmtree(self.path, ignore_errors=True)
            os.close(self._lock_fd)
            return removed


def _records(path: Path, offset: int, end: int) -> Iterator[tuple[Record, int]]:
    """The records of a segment between ``offset`` and ``end``, with each one's end offset."""
    with path.open("rb") as fh:
        fh.seek(offset)
        while offset < end:
            length, _crc, seq = _HEADER.unpack(fh.read(_HEADER.size))
            data = fh.read(length)
            offset += _HEADER.size + length
            yield Record(seq, data), offset


def _scan(path: Path, first: int, *, verify: bool) -> tuple[int, int]:
    """(last seq, length of the good prefix) of a segment; stops at a torn or
    corrupt record (checking CRCs when ``verify``) or a break in the seqs."""
    last = first - 1
    good = 0
    with path.open("rb") as fh:
        while True:
            header = fh.read(_HEADER.size)
            if len(header) < _HEADER.size:
                break
            length, crc, seq = _HEADER.unpack(header)
            if seq != last + 1:
                break
            if verify:
                data = fh.read(length)
                if len(data) < length or zlib.crc32(data) != crc:
                    break
            else:
                fh.seek(length, os.SEEK_CUR)
                if fh.tell() > os.fstat(fh.fileno()).st_size:
                    break
            last = seq
            good += _HEADER.size + length
    return last, good


def _lock(path: Path, *, blocking: bool) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except OSError:
        os.close(fd)
        raise
    return fd


def _hold_reserve(path: Path) -> None:
    """Allocate the reserve unless it is there; on a disk already full, go without."""
    try:
        if path.stat().st_size >= RESERVE_BYTES:
            return
    except FileNotFoundError:
        pass
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    except OSError:
        return
    try:
        try:
            os.posix_fallocate(fd, 0, RESERVE_BYTES)
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise
            os.pwrite(fd, bytes(RESERVE_BYTES), 0)  # a file system without fallocate
        os.fsync(fd)
    except OSError:
        os.close(fd)
        path.unlink(missing_ok=True)  # a partial reserve only holds space nobody can use
        return
    os.close(fd)


def _read_int(path: Path, default: int) -> int:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return default


def _write_int(path: Path, value: int, *, durable: bool) -> None:
    # Usually not fsync'd: losing an ack only means resending events the server dedupes.
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w") as fh:
        fh.write(str(value))
        if durable:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)
    if durable:
        _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
