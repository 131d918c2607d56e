"""What users install: the sdist and the wheel (built as `pip install "runstream[server]"`
gets them) carry the built web UI, the installed `runstream server` serves it, and it
takes a run that the real MLflow client logs to it.

scripts/check-install does the work (build, install into a fresh venv without Node.js,
start the server, fetch / and its assets, install mlflow-skinny, log a run with MLflow,
read it back through /api/runs); these tests hold it to its word both ways.
They need PyPI (or pip's cache) for the dependencies; about 1 minute each when nothing
changed (the built wheels are cached by the sources' hash), a few more after a change.
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECK = ROOT / "scripts" / "check-install"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def check_install(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CHECK), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=900, check=False)


@pytest.fixture(scope="module")
def checked() -> subprocess.CompletedProcess[str]:
    return check_install()


def test_the_installed_wheel_serves_the_web_ui(
        checked: subprocess.CompletedProcess[str]) -> None:
    output = checked.stdout + checked.stderr
    assert checked.returncode == 0, output
    assert "with no Node.js on PATH" in output
    assert re.search(r"the installed wheel serves the web UI: / and [1-9]\d* files under /assets/",
                     output), output


def test_the_installed_server_keeps_what_mlflow_logs(
        checked: subprocess.CompletedProcess[str]) -> None:
    """mlflow-skinny in the same fresh venv logs a run (param, stepped metric, log_text)
    with MLFLOW_TRACKING_URI at the installed server; /api/runs must show all of it."""
    output = checked.stdout + checked.stderr
    assert checked.returncode == 0, output
    assert "installing mlflow-skinny" in output
    assert re.search(r"the installed server keeps what MLflow logged: run [0-9a-f]{32} with its "
                     r"param, metric and artifact", output), output


def without_web_ui(wheel: Path, into: Path) -> Path:
    """A copy of `wheel` without runstream_server/static (as a build without the UI hook
    would make it)."""
    stripped = into / wheel.name
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(stripped, "w") as target:
        for item in source.infolist():
            if item.filename.startswith("runstream_server/static/"):
                continue
            data = source.read(item)
            if item.filename.endswith(".dist-info/RECORD"):
                data = b"".join(line for line in data.splitlines(keepends=True)
                                if not line.startswith(b"runstream_server/static/"))
            target.writestr(item, data)
    return stripped


def test_a_wheel_without_the_web_ui_fails_the_check(
        checked: subprocess.CompletedProcess[str], tmp_path: Path) -> None:
    found = re.search(r"installing (\S+\.whl)\[server\]", checked.stdout)
    assert found, checked.stdout + checked.stderr
    wheel = without_web_ui(Path(found.group(1)), tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        assert not [n for n in archive.namelist() if "/static/" in n]

    done = check_install("--wheel", str(wheel))

    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "the installed server does not serve the web UI" in output
    assert "GET / answered 503" in output
    assert "mlflow-skinny" not in output  # a wheel without its UI is not worth more checks
