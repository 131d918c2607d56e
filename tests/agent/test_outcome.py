"""How a run ended, from its exit code and what it printed on stderr."""

from __future__ import annotations

from runstream_agent.outcome import Outcome, TracebackWatch, decide

TRACEBACK = """Traceback (most recent call last):
  File "train.py", line 3, in <module>
    f()
  File "train.py", line 2, in f
    def f(): return 1/0
                    ~^~
ZeroDivisionError: division by zero""".splitlines()


def watched(lines: list[str], fd: int = 2) -> TracebackWatch:
    watch = TracebackWatch()
    for line in lines:
        watch.feed(fd, line)
    return watch


def test_exit_zero_is_completed() -> None:
    assert decide(0, canceled=False, watch=TracebackWatch()) == Outcome("completed", 0)


def test_a_traceback_gives_the_failure_its_exception_line() -> None:
    outcome = decide(1, canceled=False, watch=watched(TRACEBACK))
    assert outcome == Outcome("failed", 1, "ZeroDivisionError: division by zero")
    assert outcome.cli_exit_code == 1


def test_the_last_traceback_wins_and_stdout_is_ignored() -> None:
    chained = [*TRACEBACK, "", "During handling of the above exception, another exception "
               "occurred:", "", "Traceback (most recent call last):", '  File "x"',
               "KeyError: 'lr'"]
    assert decide(1, canceled=False, watch=watched(chained)).reason == "KeyError: 'lr'"
    assert decide(1, canceled=False, watch=watched(TRACEBACK, fd=1)).reason == "exit code 1"


def test_without_a_traceback_the_reason_is_the_exit_code() -> None:
    outcome = decide(3, canceled=False, watch=TracebackWatch())
    assert (outcome.reason, outcome.cli_exit_code) == ("exit code 3", 3)


def test_a_signal_is_named() -> None:
    assert decide(-9, canceled=False, watch=TracebackWatch()).reason == "killed by signal SIGKILL"


def test_a_cancel_wins_over_the_exit_code() -> None:
    outcome = decide(1, canceled=True, watch=watched(TRACEBACK))
    assert (outcome.status, outcome.cli_exit_code) == ("canceled", 130)
