"""What a docker target's image is made of, and the hashes that name it.

Two images per recipe, each tagged and labelled (``runstream.recipe``) with
the sha256 of what it is made of, so each is reused exactly while that is
unchanged:

- the dependencies image ``runstream-deps:<hash>``: the rendered Dockerfile
  (the base image's name, the interpreter, the setup commands), the base
  image's id, the project's requirements (file contents and inline packages)
  and runstream's own requirements;
- the run image ``runstream-target:<hash>``, on top of it: runstream's version
  and a fingerprint of its code (so the image follows runstream's code,
  released or not; rebuilding only this layer takes seconds).

A requirements file that includes another (``-r other.txt``) is hashed by its
own text only; change the including file (or ``runstream prepare --rebuild``)
after editing the included one.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import runstream
import runstream_agent
from runstream_agent.containers.options import DockerOptions

__all__ = ["DEPS_TEMPLATE", "IMAGE_REPOSITORY", "RECIPE_LABEL", "TEMPLATE", "DepsRecipe",
           "Recipe", "make_recipe", "runstream_requirements", "write_runstream_tree"]

IMAGE_REPOSITORY = "runstream-target"
DEPS_REPOSITORY = "runstream-deps"
RECIPE_LABEL = "runstream.recipe"
EXTRAS = ("agent", "kafka")  # what the agent inside needs: the CLI parts and the Kafka sink
PACKAGES = (runstream, runstream_agent)  # copied into the image (not the server)
SITE = "/opt/runstream/site"

# The dependencies image: stage "base" runs the setup commands; stage "wheels" installs
# the wheels downloaded on the host (no index, no network) into a folder that the last
# stage copies, so the wheel files themselves stay out of the image.
DEPS_TEMPLATE = """\
# runstream docker target, dependencies image, recipe v2 (built by `runstream prepare`)
FROM {base} AS base
{setup}
FROM base AS wheels
COPY wheels/ /wheels/
RUN {python} -m pip install --no-index --no-deps --no-cache-dir --disable-pip-version-check \\
    --no-warn-script-location --target /site /wheels/*.whl

FROM base
COPY --from=wheels /site/ {site}/
ENV PYTHONPATH={site} PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLCONFIGDIR=/opt/runstream/matplotlib
# Matplotlib, when the requirements have it, builds its font cache on first import, in
# every fresh container (and, past 5 s, says so on stderr): built once, here, in a folder
# any user may write.
RUN mkdir -p /opt/runstream/matplotlib && chmod 1777 /opt/runstream/matplotlib && \
    {python} -c "import importlib.util as u; u.find_spec('matplotlib') and \
__import__('matplotlib.font_manager')"
"""

# The run image: runstream's code on top of the dependencies image. It changes more often
# than the requirements, and rebuilding this layer alone takes seconds.
TEMPLATE = """\
# runstream docker target, run image, recipe v1 (built by `runstream prepare`)
FROM {deps}
COPY runstream/ {site}/
RUN {python} -m compileall -q {site}/runstream {site}/runstream_agent
"""


def _digest(parts: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class DepsRecipe:
    """The base image, setup commands and every requirement's wheels."""

    dockerfile: str
    base: str
    base_id: str
    python: str
    requirements: tuple[tuple[str, str], ...]  # (file path, text)
    packages: tuple[str, ...]
    runstream_requirements: tuple[str, ...]

    @property
    def digest(self) -> str:
        return _digest({
            "dockerfile": self.dockerfile, "base_id": self.base_id,
            "requirements": [text for _path, text in self.requirements],
            "packages": list(self.packages),
            "runstream_requirements": list(self.runstream_requirements)})

    @property
    def tag(self) -> str:
        return f"{DEPS_REPOSITORY}:{self.digest[:16]}"

    @property
    def wanted(self) -> tuple[str, ...]:
        """What ``pip download`` gets: runstream's requirements and the project's."""
        return self.runstream_requirements + self.packages

    def labels(self) -> dict[str, str]:
        return {RECIPE_LABEL: self.digest, "runstream.base": self.base}


@dataclass(frozen=True)
class Recipe:
    """The run image: the dependencies image plus runstream's code."""

    deps: DepsRecipe
    dockerfile: str
    runstream_version: str
    runstream_fingerprint: str

    @property
    def digest(self) -> str:
        return _digest({"deps": self.deps.digest, "dockerfile": self.dockerfile,
                        "runstream": [self.runstream_version, self.runstream_fingerprint]})

    @property
    def tag(self) -> str:
        return f"{IMAGE_REPOSITORY}:{self.digest[:16]}"

    @property
    def python(self) -> str:
        return self.deps.python

    def labels(self) -> dict[str, str]:
        return {RECIPE_LABEL: self.digest, "runstream.version": self.runstream_version,
                "runstream.deps": self.deps.digest, "runstream.base": self.deps.base}


def make_recipe(options: DockerOptions, python: str, base_id: str) -> Recipe:
    setup = "".join(f"RUN {command}\n" for command in options.setup)
    deps = DepsRecipe(
        dockerfile=DEPS_TEMPLATE.format(base=options.image, setup=setup, python=python,
                                        site=SITE),
        base=options.image, base_id=base_id, python=python,
        requirements=tuple((str(p), p.read_text()) for p in options.requirements),
        packages=options.packages, runstream_requirements=runstream_requirements())
    return Recipe(deps=deps, dockerfile=TEMPLATE.format(deps=deps.tag, python=python, site=SITE),
                  runstream_version=_version(), runstream_fingerprint=_fingerprint())


def runstream_requirements() -> tuple[str, ...]:
    """runstream's own requirements, with those of the agent and Kafka extras."""
    try:
        declared = importlib.metadata.requires("runstream") or []
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError("runstream is not installed as a package (pip install -e . or "
                           "pip install runstream): its requirements are unknown") from None
    chosen = []
    for line in declared:
        requirement, _, marker = line.partition(";")
        extras = re.findall(r"""extra\s*==\s*["']([^"']+)["']""", marker)
        if extras and not set(extras) & set(EXTRAS):
            continue
        rest = re.sub(r"""(and\s+)?extra\s*==\s*["'][^"']+["'](\s+and)?""", "", marker).strip()
        chosen.append(f"{requirement.strip()}; {rest}" if rest else requirement.strip())
    # "runstream[agent]" style self-references are covered by the lines of that extra.
    return tuple(sorted({r for r in chosen if not r.startswith("runstream")}))


def write_runstream_tree(dest: Path) -> None:
    """Copy runstream's SDK and agent packages (and a minimal dist-info, so that
    importlib.metadata knows the version) into ``dest``."""
    for package, files in _package_files():
        for rel in files:
            target = dest / package / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(_package_root(package) / rel, target)
    info = dest / f"runstream-{_version()}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: runstream\n"
                                   f"Version: {_version()}\n")


def _package_root(name: str) -> Path:
    module = runstream if name == "runstream" else runstream_agent
    assert module.__file__ is not None
    return Path(module.__file__).parent


def _package_files() -> list[tuple[str, list[str]]]:
    out = []
    for module in PACKAGES:
        name = module.__name__
        root = _package_root(name)
        files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                       if p.is_file() and "__pycache__" not in p.parts
                       and p.suffix not in (".pyc", ".pyo"))
        out.append((name, files))
    return out


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for package, files in _package_files():
        root = _package_root(package)
        for rel in files:
            digest.update(f"{package}/{rel}\0".encode())
            digest.update(hashlib.sha256((root / rel).read_bytes()).digest())
    return digest.hexdigest()


def _version() -> str:
    try:
        return importlib.metadata.version("runstream")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"
