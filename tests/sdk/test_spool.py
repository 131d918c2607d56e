"""The spool keeps a stream's events on disk, in order, until they are acknowledged."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runstream import spool as spool_module
from runstream.spool import Record, Spool, SpoolBusy, stream_folders


def records(first: int, n: int, size: int = 10) -> list[Record]:
    return [Record(seq, f"event {seq}".encode().ljust(size, b".")) for seq in
            range(first, first + n)]


def test_appended_records_are_read_back_in_order(tmp_path: Path) -> None:
    spool = Spool.create(tmp_path, "run/a_1")
    spool.append(records(0, 3))
    spool.append(records(3, 2))
    assert [r.seq for r in spool.read(-1, 100, 1 << 20)] == [0, 1, 2, 3, 4]
    assert [r.data for r in spool.read(2, 1, 1 << 20)] == [records(3, 1)[0].data]
    assert spool.pending == 5


def test_records_must_continue_the_sequence(tmp_path: Path) -> None:
    spool = Spool.create(tmp_path, "run/a_1")
    spool.append(records(0, 2))
    with pytest.raises(ValueError, match="does not follow"):
        spool.append(records(3, 1))


def test_reopening_finds_everything_that_was_appended(tmp_path: Path) -> None:
    spool = Spool.create(tmp_path, "run/a_1")
    spool.append(records(0, 4))
    spool.ack(1)
    spool.close()
    again = Spool.open(tmp_path / "run%2Fa_1")
    assert again.stream == "run/a_1"
    assert (again.acked, again.next_seq) == (1, 4)
    assert [r.seq for r in again.read(again.acked, 100, 1 << 20)] == [2, 3]


def test_a_crash_mid_append_loses_only_the_torn_batch(tmp_path: Path) -> None:
    """A process appends two batches, then dies while writing a third."""
    script = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from runstream.spool import Record, Spool
        spool = Spool.create(Path({str(tmp_path)!r}), "run/a_1")
        spool.append([Record(0, b"zero"), Record(1, b"one")])
        spool.append([Record(2, b"two")])
        segment = sorted(spool.path.glob("*.seg"))[-1]
        with open(segment, "ab") as fh:  # the first bytes of a record, as a crash leaves
            fh.write(b"\\x20\\x00\\x00\\x00\\x01\\x02")
        os._exit(9)
    """)
    assert subprocess.run([sys.executable, "-c", script]).returncode == 9
    spool = Spool.open(tmp_path / "run%2Fa_1")
    assert [r.data for r in spool.read(-1, 100, 1 << 20)] == [b"zero", b"one", b"two"]
    spool.append([Record(3, b"three")])  # the writer carries on after the last good record
    assert [r.seq for r in spool.read(-1, 100, 1 << 20)] == [0, 1, 2, 3]


def test_a_corrupt_tail_record_is_cut_off(tmp_path: Path) -> None:
    spool = Spool.create(tmp_path, "run/a_1")
    spool.append(records(0, 3))
    spool.close()
    [segment] = (tmp_path / "run%2Fa_1").glob("*.seg")
    data = bytearray(segment.read_bytes())
    data[-1] ^= 0xFF  # the last record's bytes no longer match its CRC
    segment.write_bytes(bytes(data))
    again = Spool.open(tmp_path / "run%2Fa_1")
    assert [r.seq for r in again.read(-1, 100, 1 << 20)] == [0, 1]
    assert again.next_seq == 2


def test_read_respects_count_and_byte_limits(tmp_path: Path) -> None:
    spool = Spool.create(tmp_path, "run/a_1")
    spool.append(records(0, 10, size=100))
    assert len(spool.read(-1, 4, 1 << 20)) == 4
    assert len(spool.read(-1, 100, 250)) == 3  # stops once past the byte limit
    assert len(spool.read(-1, 100, 1)) == 1  # always at least one


def test_acknowledged_segments_are_deleted_and_the_rest_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spool_module, "SEGMENT_BYTES", 200)
    spool = Spool.create(tmp_path, "run/a_1")
    for seq in range(10):
        spool.append(records(seq, 1, size=100))  # a segment holds two records
    assert len(list(spool.path.glob("*.seg"))) == 5
    spool.ack(5)
    assert len(list(spool.path.glob("*.seg"))) == 2
    assert [r.seq for r in spool.read(spool.acked, 100, 1 << 20)] == [6, 7, 8, 9]
    spool.close()
    again = Spool.open(spool.path)
    assert (again.first_seq, again.next_seq) == (6, 10)


def test_seq_continues_after_everything_was_acknowledged_and_reopened(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spool_module, "SEGMENT_BYTES", 80)
    spool = Spool.create(tmp_path, "run/a_1")
    spool.append(records(0, 3, size=100))
    spool.ack(2)
    assert list(spool.path.glob("*.seg")) == []
    spool.close()
    again = Spool.open(spool.path)
    assert again.next_seq == 3


def test_a_spool_is_held_by_one_process_at_a_time(tmp_path: Path) -> None:
    spool = Spool.create(tmp_path, "run/a_1")
    script = ("from pathlib import Path; from runstream.spool import Spool; "
              f"Spool.open(Path({str(spool.path)!r}))")
    busy = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert "SpoolBusy" in busy.stderr
    spool.close()
    assert subprocess.run([sys.executable, "-c", script]).returncode == 0


def test_open_in_the_same_process_reports_busy(tmp_path: Path) -> None:
    spool = Spool.create(tmp_path, "run/a_1")
    with pytest.raises(SpoolBusy, match="locked"):
        Spool.open(spool.path)


def test_a_stream_can_be_created_only_once(tmp_path: Path) -> None:
    Spool.create(tmp_path, "run/a_1")
    with pytest.raises(FileExistsError):
        Spool.create(tmp_path, "run/a_1")
    assert [p.name for p in stream_folders(tmp_path)] == ["run%2Fa_1"]


def test_a_finished_delivered_spool_is_removed_on_close(tmp_path: Path) -> None:
    spool = Spool.create(tmp_path, "run/a_1")
    spool.append(records(0, 2))
    spool.mark_finished()
    spool.ack(0)
    assert not spool.done
    spool.ack(1)
    assert spool.close() is True
    assert not spool.path.exists()


def test_an_unfinished_spool_stays_on_close(tmp_path: Path) -> None:
    spool = Spool.create(tmp_path, "run/a_1")
    spool.append(records(0, 2))
    spool.ack(1)
    assert spool.close() is False
    assert spool.path.exists()


def test_stashed_blobs_survive_reopening_until_dropped(tmp_path: Path) -> None:
    spool = Spool.create(tmp_path / "spool", "run/a_1")
    source = tmp_path / "model.pkl"
    source.write_bytes(b"weights")
    spool.stash_blob(source, "ab" * 32)
    assert source.exists()
    spool.close()
    again = Spool.open(tmp_path / "spool" / "run%2Fa_1")
    [(sha, path)] = again.stashed_blobs()
    assert sha == "ab" * 32 and path.read_bytes() == b"weights"
    again.drop_blob(sha)
    assert again.stashed_blobs() == [] and not path.exists()


def test_a_lock_descriptor_can_be_handed_to_a_child_process(tmp_path: Path) -> None:
    spool = Spool.create(tmp_path, "run/a_1")
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from runstream.spool import Record, Spool
        spool = Spool.open(Path({str(spool.path)!r}), lock_fd=int(sys.argv[1]))
        spool.append([Record(0, b"from the child")])
    """)
    child = subprocess.run([sys.executable, "-c", script, str(spool.lock_fd)],
                           pass_fds=(spool.lock_fd,))
    assert child.returncode == 0
    os.close(spool.lock_fd)
    assert Spool.open(spool.path).next_seq == 1


# -- a full disk ------------------------------------------------------------------------

def full_disk_while_reserved(monkeypatch: pytest.MonkeyPatch, spool: Spool) -> None:
    """Writes fail with ENOSPC for as long as the spool's reserve holds the last space."""
    real_write = os.write

    def write(fd: int, data: bytes | memoryview) -> int:
        if (spool.path / "reserve").exists():
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(spool_module.os, "write", write)


def test_a_spool_holds_a_reserve_for_the_last_events(tmp_path: Path) -> None:
    spool = Spool.create(tmp_path, "run/a_1")
    assert (spool.path / "reserve").stat().st_size == spool_module.RESERVE_BYTES
    spool.close()


def test_on_a_full_disk_only_an_append_that_asks_gets_the_reserve(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spool = Spool.create(tmp_path, "run/a_1")
    spool.append(records(0, 2))
    full_disk_while_reserved(monkeypatch, spool)
    with pytest.raises(OSError, match="No space left"):
        spool.append(records(2, 1))
    assert spool.next_seq == 2  # nothing of it written, no seq taken
    spool.append(records(2, 1), use_reserve=True)  # the run's last event
    spool.mark_finished()
    assert [r.seq for r in spool.read(-1, 100, 1 << 20)] == [0, 1, 2]
    spool.close()
    reopened = Spool.open(spool.path)
    assert reopened.last_seq == 2 and reopened.finished
    reopened.close()


def test_an_acknowledgement_that_cannot_be_written_keeps_every_segment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spool_module, "SEGMENT_BYTES", 100)
    spool = Spool.create(tmp_path, "run/a_1")
    for i in range(4):
        spool.append(records(i, 1, size=120))  # a segment each
    real = spool_module._write_int

    def full(path: Path, value: int, *, durable: bool) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(spool_module, "_write_int", full)
    spool.ack(2)  # on a full disk: nothing deleted, nothing raised
    assert len(list(spool.path.glob("*.seg"))) == 4 and spool.pending == 1
    monkeypatch.setattr(spool_module, "_write_int", real)
    spool.ack(3)
    assert len(list(spool.path.glob("*.seg"))) <= 1
    spool.close()
