"""The web app's own unit tests (vitest: state logic, live feed, charts' datasets),
run from pytest so that one test run covers them."""

from __future__ import annotations

import subprocess

from tests.web.conftest import ROOT


def test_the_web_apps_unit_tests_pass(web_build: None) -> None:
    result = subprocess.run(["npx", "--no-install", "vitest", "run", "--reporter=dot"],
                            cwd=ROOT / "web", capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
