"""``history checkout`` against hostile snapshots: nothing is written outside ``-d``, no
bomb is unpacked, and a refusal names the member and leaves nothing behind."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from runstream.codec import encode_batch
from runstream.events import RunSubmitted
from runstream_agent.cli import main
from runstream_agent.files import Limits, Refused, extract_snapshot
from tests.conftest import ServerProcess
from tests.server.history import RunWriter

PATH_MAX = os.pathconf("/", "PC_PATH_MAX")
STEPS = "abcdefghijklmnop"


class Archive:
    """Builds a tar.gz member by member, as an attacker would."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buffer, mode="w:gz")  # noqa: SIM115

    def add(self, name: str, *, content: bytes | None = None, symlink_to: str | None = None,
            hardlink_to: str | None = None, kind: bytes | None = None) -> Archive:
        info = tarfile.TarInfo(name)
        info.mode = 0o755
        if symlink_to is not None:
            info.type, info.linkname = tarfile.SYMTYPE, symlink_to
        elif hardlink_to is not None:
            info.type, info.linkname = tarfile.LNKTYPE, hardlink_to
        elif kind is not None:
            info.type = kind
        elif content is None:
            info.type = tarfile.DIRTYPE
        else:
            info.size = len(content)
        self.tar.addfile(info, io.BytesIO(content) if content is not None else None)
        return self

    def bytes(self) -> bytes:
        self.tar.close()
        return self.buffer.getvalue()


def realpath_overflow_archive(dest_len: int) -> bytes:
    """CVE-2025-4517: a chain of symlinks whose expansion overflows PATH_MAX, so that
    ``os.path.realpath`` stops expanding and the ``data`` filter sees a harmless path,
    while the kernel follows the links out of the destination (CPython's own test case)."""
    component = "d" * ((PATH_MAX - dest_len - 1) // (len(STEPS) + 1))
    arc = Archive()
    path = ""
    for step in STEPS:
        arc.add(os.path.join(path, component))
        arc.add(os.path.join(path, step), symlink_to=component)
        path = os.path.join(path, component)
    linkpath = os.path.join(*STEPS, "l" * 254)
    arc.add(linkpath, symlink_to=os.path.join(*[".."] * len(STEPS)))
    arc.add("escape", symlink_to=os.path.join(linkpath, ".."))
    arc.add("flaglink", hardlink_to=os.path.join("escape", "flag"))
    arc.add("flaglink", content=b"overwritten")
    arc.add("escape/newfile", content=b"new")
    return arc.bytes()


def test_a_realpath_overflow_archive_writes_nothing_outside_at_any_destination_length(
        tmp_path: Path) -> None:
    # One archive, tried at 30 destination lengths around the one it was made for.
    base = len(str(tmp_path / "o00" / "d"))
    data = realpath_overflow_archive(base + 15)
    for k in range(30):
        outer = tmp_path / f"o{k:02d}"
        outer.mkdir()
        (outer / "flag").write_text("secret")
        dest = outer / ("d" * (1 + k))
        with pytest.raises(Refused, match="through the link"):
            extract_snapshot(data, dest)
        assert [p.name for p in outer.iterdir()] == ["flag"], f"destination length {k}"
        assert (outer / "flag").read_text() == "secret"


def zeros_bomb(size: int = 210 << 20) -> bytes:
    class Zeros(io.RawIOBase):
        left = size

        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray) -> int:  # type: ignore[override]
            n = min(len(b), self.left)
            b[:n] = bytes(n)
            self.left -= n
            return n

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        info = tarfile.TarInfo("data/zeros.bin")
        info.size = size
        tf.addfile(info, io.BufferedReader(Zeros()))
    return buffer.getvalue()


def submit_with_snapshot(server: ServerProcess, tmp_path: Path, data: bytes) -> None:
    snap = tmp_path / "snap.tgz"
    snap.write_bytes(data)
    client = server.client()
    sha = client.put_blob(snap)
    w = RunWriter("hostile_1")
    w.emit(RunSubmitted(project="iris", script="train.py", args=[], snapshot=sha))
    client.post_events(encode_batch(w.events))


def test_checkout_refuses_a_decompression_bomb_and_leaves_nothing(
        server: ServerProcess, tmp_path: Path) -> None:
    bomb = zeros_bomb()
    assert len(bomb) < 300_000  # 210 MB of zeros in about 204 KB
    submit_with_snapshot(server, tmp_path, bomb)
    parent = tmp_path / "work"
    parent.mkdir()
    result = CliRunner().invoke(
        main, ["history", "checkout", "--run", "hostile_1", "-d", str(parent / "code")],
        env={"RUNSTREAM_URL": server.url})
    assert result.exit_code == 1, result.output
    assert "decompression bomb" in result.output and "data/zeros.bin" in result.output
    assert list(parent.iterdir()) == []  # no folder, no staging left


def test_checkout_of_the_overflow_archive_refuses_it_naming_the_member(
        server: ServerProcess, tmp_path: Path) -> None:
    parent = tmp_path / "work"
    parent.mkdir()
    (parent / "flag").write_text("secret")
    dest = parent / "code"
    submit_with_snapshot(server, tmp_path, realpath_overflow_archive(len(str(dest))))
    result = CliRunner().invoke(main, ["history", "checkout", "--run", "hostile_1",
                                       "-d", str(dest)], env={"RUNSTREAM_URL": server.url})
    assert result.exit_code == 1, result.output
    assert "is written through the link 'a'" in " ".join(result.output.split())
    assert [p.name for p in parent.iterdir()] == ["flag"]


@pytest.mark.parametrize(("archive", "refusal"), [
    (Archive().add("/etc/evil", content=b"x"), "absolute path"),
    (Archive().add("a/../../evil", content=b"x"), "climbs out"),
    (Archive().add("up", symlink_to="../outside"), "leads outside"),
    (Archive().add("abs", symlink_to="/etc/passwd"), "leads outside"),
    (Archive().add("a").add("a/l", symlink_to="../../x"), "leads outside"),
    (Archive().add("hard", hardlink_to="/etc/passwd"), "absolute path"),
    (Archive().add("hard", hardlink_to="missing.txt"), "not a file of the snapshot"),
    (Archive().add("fifo", kind=tarfile.FIFOTYPE), "device, fifo"),
    (Archive().add("tty", kind=tarfile.CHRTYPE), "device, fifo"),
    (Archive().add("esc\x1b[2Jname", content=b"x"), "control character"),
    (Archive().add("cr\rname", content=b"x"), "control character"),
])
def test_hostile_members_are_refused_by_name_and_all_or_nothing(
        tmp_path: Path, archive: Archive, refusal: str) -> None:
    # A good file first: it must not be left behind when a later member is refused.
    data = archive.bytes()
    merged = Archive().add("train.py", content=b"print(1)\n")
    with tarfile.open(fileobj=io.BytesIO(data)) as arc:
        for member in arc.getmembers():
            merged.tar.addfile(member, arc.extractfile(member) if member.isreg() else None)
    with pytest.raises(Refused, match=refusal):
        extract_snapshot(merged.bytes(), tmp_path / "code")
    assert list(tmp_path.iterdir()) == []


def test_limits_on_members_and_size_are_refused_naming_the_member(tmp_path: Path) -> None:
    arc = Archive()
    for k in range(5):
        arc.add(f"f{k}.py", content=b"x" * 100)
    data = arc.bytes()
    with pytest.raises(Refused, match=r"more than 3 members \(at 'f3.py'\)"):
        extract_snapshot(data, tmp_path / "a", Limits(max_members=3))
    with pytest.raises(Refused, match=r"more than 0 MB \(at member 'f2.py'\)"):
        extract_snapshot(data, tmp_path / "b", Limits(max_bytes=250))
    assert list(tmp_path.iterdir()) == []


def test_bytes_no_member_declares_are_bounded_too(tmp_path: Path) -> None:
    # tarfile reads a long-name header whole, before any member size can be checked.
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.GNU_FORMAT) as tf:
        tf.addfile(tarfile.TarInfo("n" * (4 << 20)), io.BytesIO())
    with pytest.raises(Refused, match="decompression bomb"):
        extract_snapshot(buffer.getvalue(), tmp_path / "code", Limits(ratio_floor=1 << 20))
    assert list(tmp_path.iterdir()) == []


def test_a_safe_snapshot_with_inner_links_and_folders_is_written(tmp_path: Path) -> None:
    data = (Archive().add("src").add("src/model.py", content=b"W = 1\n")
            .add("src/run.sh", content=b"#!/bin/sh\n").add("link.py", symlink_to="src/model.py")
            .add("src/up.py", symlink_to="../link.py").bytes())
    dest = tmp_path / "code"
    dest.mkdir()  # an empty folder is fine too
    assert extract_snapshot(data, dest) == 2
    assert (dest / "link.py").read_text() == "W = 1\n"
    assert os.readlink(dest / "src" / "up.py") == "../link.py"
    assert (dest / "src" / "up.py").read_text() == "W = 1\n"
    assert os.access(dest / "src" / "run.sh", os.X_OK)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["code"]


def test_zip_snapshots_are_checked_the_same_way(tmp_path: Path) -> None:
    good = io.BytesIO()
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("pkg/train.py", "print(1)\n")
    extract_snapshot(good.getvalue(), tmp_path / "ok")
    assert (tmp_path / "ok" / "pkg" / "train.py").read_text() == "print(1)\n"

    bad = io.BytesIO()
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("train.py", "print(1)\n")
        zf.writestr("../../evil.py", "x")
    with pytest.raises(Refused, match=r"'../../evil.py' climbs out"):
        extract_snapshot(bad.getvalue(), tmp_path / "bad")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok"]
