"""setuptools commands that put the built web UI into runstream's sdist and wheel.

pyproject.toml names them under [tool.setuptools.cmdclass]; setuptools loads this file by
its path (not as part of a package), so web_ui, beside it, is imported from this folder.

- sdist: builds the UI first, so the sdist ships it and a wheel built from the sdist needs
  no Node.js (the sdist has no web/, so nothing is built there: web_ui checks it is present).
- build_py: builds the UI (when web/ changed) before the package data is collected, so a
  wheel built straight from a checkout carries it too. Editable installs (`pip install -e .`,
  scripts/setup) build nothing: they serve the checkout's static folder, which
  scripts/build-web keeps current.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist
from setuptools.errors import SetupError

sys.path.insert(0, str(Path(__file__).resolve().parent))
import web_ui


def build_web_ui() -> None:
    try:
        web_ui.build()
    except web_ui.WebBuildError as e:
        raise SetupError(f"runstream: {e}") from e


class BuildPy(build_py):
    def run(self) -> None:
        if not self.editable_mode:
            build_web_ui()
            # The package data may have been listed before the UI existed: list it again.
            self.__dict__.pop("data_files", None)
            # build/lib outlives a build: drop the last build's UI, whose assets (named by
            # their hash) would otherwise ship beside the new ones.
            shutil.rmtree(Path(self.build_lib) / web_ui.PACKAGE_STATIC, ignore_errors=True)
        super().run()


class Sdist(sdist):
    def run(self) -> None:
        build_web_ui()
        super().run()
