"""Builds the web UI (web/) into server/runstream_server/static, which the server serves at /.

One implementation for both callers: `scripts/build-web` (a checkout) and the setuptools
build (build_support/commands.py), so the wheel and the sdist always carry the built UI.

Idempotent and fast when nothing changed: the Vite build is skipped when the hash of
web/'s sources matches the one stamped beside the last build, and `npm ci` runs only when
web/package-lock.json changed. Node.js is needed only when a build is due. Without web/
(a tree unpacked from the sdist, which ships the built UI) nothing is built: the built UI
must then be there.

Usage: python3 build_support/web_ui.py [--force]       (standard library only)
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEB = "web"
PACKAGE_STATIC = "runstream_server/static"  # inside the package (and the wheel)
STATIC = f"server/{PACKAGE_STATIC}"
STAMP = ".build-hash"
LOCK_STAMP = "node_modules/.runstream-lock"
# What the build reads (relative to web/); tests are left out so editing one rebuilds nothing.
SOURCES = ("index.html", "package.json", "package-lock.json", "tsconfig.json", "vite.config.ts",
           "src")
NODE_HINT = "install Node.js 20+ with npm (Debian: apt-get install nodejs npm)"


class WebBuildError(Exception):
    """The web UI could not be built, or is missing where it cannot be built."""


def log(message: str) -> None:
    print(f"build-web: {message}", file=sys.stderr, flush=True)


def sources_hash(web: Path) -> str:
    """The hash of web/'s sources, the same as `sha256sum` of each file listed in byte order,
    piped to `sha256sum` (the stamp earlier versions of scripts/build-web wrote)."""
    files: list[str] = []
    for name in SOURCES:
        path = web / name
        if path.is_file():
            files.append(name)
        elif path.is_dir():
            files.extend(p.relative_to(web).as_posix() for p in path.rglob("*")
                         if p.is_file() and not p.name.endswith(".test.ts"))
    listing = "".join(f"{hashlib.sha256((web / f).read_bytes()).hexdigest()}  {f}\n"
                      for f in sorted(files, key=lambda f: f.encode()))
    return hashlib.sha256(listing.encode()).hexdigest()


def is_fresh(root: Path = ROOT) -> bool:
    """Whether the built UI exists and was built from web/'s current sources."""
    static = root / STATIC
    stamp = static / STAMP
    return ((static / "index.html").is_file() and stamp.is_file()
            and stamp.read_text().strip() == sources_hash(root / WEB))


def _run(args: list[str], cwd: Path) -> None:
    done = subprocess.run(args, cwd=cwd, check=False)
    if done.returncode != 0:
        raise WebBuildError(f"`{' '.join(args)}` failed in {cwd} (exit {done.returncode}); "
                            "its output is above")


def build(root: Path = ROOT, *, force: bool = False) -> bool:
    """Makes sure `root`'s static folder holds the UI built from its web/; returns whether a
    build ran. Raises WebBuildError saying what to do when that is impossible."""
    web, static = root / WEB, root / STATIC
    if not web.is_dir():
        if (static / "index.html").is_file():
            return False
        raise WebBuildError(
            f"the web UI is missing: there is no {STATIC}/index.html and no {WEB}/ to build it "
            "from. Build from a git checkout of runstream (needs Node.js 20+) or from its sdist, "
            "which ships the built UI.")
    want = sources_hash(web)
    if not force and is_fresh(root):
        return False
    npm, npx = shutil.which("npm"), shutil.which("npx")
    if npm is None or npx is None:
        raise WebBuildError(
            f"building the web UI ({WEB}/ into {STATIC}) needs Node.js, but npm/npx are not on "
            f"PATH: {NODE_HINT}. Or build from runstream's sdist, which ships the built UI.")
    lock = hashlib.sha256((web / "package-lock.json").read_bytes()).hexdigest()
    lock_stamp = web / LOCK_STAMP
    if not lock_stamp.is_file() or lock_stamp.read_text().strip() != lock:
        log("installing web/ dependencies (npm ci)")
        _run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], web)
        lock_stamp.write_text(lock + "\n")
    log(f"building the web UI into {STATIC}")
    _run([npx, "--no-install", "tsc", "--noEmit", "-p", "."], web)
    _run([npx, "--no-install", "vite", "build", "--logLevel", "warn"], web)
    if not (static / "index.html").is_file():
        raise WebBuildError(f"the Vite build ran but wrote no {STATIC}/index.html: "
                            "check build.outDir in web/vite.config.ts")
    (static / STAMP).write_text(want + "\n")
    return True


def main(argv: list[str]) -> int:
    if argv not in ([], ["--force"]):
        print("usage: scripts/build-web [--force]", file=sys.stderr)
        return 2
    try:
        build(force=argv == ["--force"])
    except WebBuildError as e:
        log(str(e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
