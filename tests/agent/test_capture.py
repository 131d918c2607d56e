"""Capture: both pipes become one numbered, timestamped sequence of lines, batched."""

from __future__ import annotations

import itertools
import os
import threading
import time

from runstream.events import LogLines
from runstream_agent.capture import MAX_LINE, LineCapture


def capture_from(writes: list[tuple[int, bytes]], pause: float = 0.0,
                 **kwargs: float) -> tuple[list[LogLines], list[tuple[int, bytes]]]:
    """Feed ``writes`` (1 = stdout, 2 = stderr) through real pipes into a capture."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    batches: list[LogLines] = []
    echoed: list[tuple[int, bytes]] = []
    capture = LineCapture({out_r: 1, err_r: 2}, batches.append,
                          echo=lambda fd, chunk: echoed.append((fd, chunk)), **kwargs)

    def writer() -> None:
        for fd, data in writes:
            os.write(out_w if fd == 1 else err_w, data)
            if pause:
                time.sleep(pause)
        os.close(out_w)
        os.close(err_w)

    thread = threading.Thread(target=writer)
    thread.start()
    capture.run()
    thread.join()
    os.close(out_r)
    os.close(err_r)
    return batches, echoed


def flat(batches: list[LogLines]) -> list[tuple[int, int, str]]:
    """(line number, fd, text) of every captured line."""
    return [(b.first + i, fd, line) for b in batches
            for i, (fd, line) in enumerate(zip(b.fds, b.lines, strict=True))]


def test_lines_of_both_pipes_are_numbered_in_arrival_order() -> None:
    batches, _ = capture_from([(1, b"one\n"), (2, b"two\n"), (1, b"three\n")], pause=0.01)
    assert flat(batches) == [(0, 1, "one"), (1, 2, "two"), (2, 1, "three")]


def test_batches_are_contiguous_and_times_never_go_back() -> None:
    batches, _ = capture_from([(1, f"line {i}\n".encode()) for i in range(5000)])
    assert [n for n, _, _ in flat(batches)] == list(range(5000))
    for previous, batch in itertools.pairwise(batches):
        assert batch.first == previous.first + len(previous.lines)
    times = [t for b in batches for t in b.times]
    assert times == sorted(times)


def test_a_line_split_across_writes_is_one_line() -> None:
    batches, _ = capture_from([(1, b"hal"), (1, b"f a line\nand "), (1, b"more\n")], pause=0.01)
    assert [text for _, _, text in flat(batches)] == ["half a line", "and more"]


def test_a_last_line_without_newline_and_crlf_endings_are_kept() -> None:
    batches, _ = capture_from([(1, b"windows\r\n"), (2, b"no newline at the end")])
    assert sorted(text for _, _, text in flat(batches)) == ["no newline at the end", "windows"]


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    batches, _ = capture_from([(1, b"caf\xe9\n")])
    assert flat(batches) == [(0, 1, "caf\ufffd")]


def test_a_very_long_line_is_cut_into_pieces() -> None:
    batches, _ = capture_from([(1, b"x" * (MAX_LINE * 2 + 10) + b"\n")])
    assert [len(text) for _, _, text in flat(batches)] == [MAX_LINE, MAX_LINE, 10]


def test_lines_are_shipped_within_the_window_while_the_pipe_stays_open() -> None:
    out_r, out_w = os.pipe()
    arrived: list[float] = []
    capture = LineCapture({out_r: 1}, lambda batch: arrived.append(time.monotonic()),
                          window=0.02)
    thread = threading.Thread(target=capture.run)
    thread.start()
    written = time.monotonic()
    os.write(out_w, b"epoch 1\n")
    time.sleep(0.3)
    assert arrived and arrived[0] - written < 0.1
    os.close(out_w)
    thread.join()
    os.close(out_r)


def test_full_batches_go_out_at_once() -> None:
    batches, _ = capture_from([(1, b"x\n" * 250)], max_lines=100, window=10.0)
    assert [len(b.lines) for b in batches] == [100, 100, 50]


def test_the_output_is_echoed_as_read() -> None:
    _, echoed = capture_from([(1, b"out\n"), (2, b"err\n")], pause=0.01)
    assert echoed == [(1, b"out\n"), (2, b"err\n")]
