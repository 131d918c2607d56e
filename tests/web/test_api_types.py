"""The web UI's API types (web/src/api/generated.ts) are generated from the server's
structs: the file in the repository is what scripts/generate writes, and it type-checks."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from runstream_server.api.typescript import declarations
from runstream_server.generate import typescript
from tests.conftest import missing_service
from tests.web.conftest import ROOT

GENERATED = ROOT / "web" / "src" / "api" / "generated.ts"


def test_the_generated_api_types_are_fresh() -> None:
    assert GENERATED.is_file(), f"{GENERATED} is missing: run scripts/generate"
    assert GENERATED.read_text(encoding="utf-8") == typescript(), (
        f"{GENERATED.relative_to(ROOT)} is stale: run scripts/generate")


def test_the_generated_api_types_name_every_struct_as_the_server_does() -> None:
    text = GENERATED.read_text(encoding="utf-8")
    for name in ("RunView", "RunList", "LogPage", "IngestReply", "PromoteIn", "Request",
                 "RunListQuery", "AsOfQuery", "MetricQuery", "Status"):
        assert f"export interface {name} {{" in text, name
    assert 'archived?: "hide" | "include" | "only";' in text  # a literal is a union
    assert "limit?: number;" in text  # an integer is a number; a client may leave it out


class Point(msgspec.Struct, array_like=True):
    step: int
    value: float


class Reply(msgspec.Struct):
    """What the server answers."""

    name: str
    points: list[Point]
    tags: dict[str, int | str] = {}
    best: float | None = None
    kind: Literal["a", "b"] = "a"


class Sparse(msgspec.Struct, omit_defaults=True):
    error: str
    field: str | None = None


class Ask(msgspec.Struct):
    limit: Annotated[int, msgspec.Meta(ge=1, description="page size")] = 10


def test_the_emitter_maps_msgspec_types_to_typescript() -> None:
    out = declarations([Reply, Sparse, Ask], "header", inputs=[Ask])
    assert out == """// header

export interface Ask {
  /** page size */
  limit?: number;
}

export type Point = [number, number];

/** What the server answers. */
export interface Reply {
  name: string;
  points: Point[];
  tags: Record<string, number | string>;
  best: number | null;
  kind: "a" | "b";
}

export interface Sparse {
  error: string;
  field?: string | null;
}
"""


def test_the_generated_api_types_type_check_with_the_uis_compiler_options(
        tmp_path: Path) -> None:
    if shutil.which("npx") is None or not (ROOT / "web" / "node_modules").is_dir():
        missing_service("npm (Node.js 20+) with web/node_modules (scripts/build-web)")
    # The UI's own tsconfig, on this file alone: what else the UI holds has its own tests.
    config = tmp_path / "tsconfig.json"
    config.write_text(json.dumps({
        "extends": str(ROOT / "web" / "tsconfig.json"),
        "compilerOptions": {"types": [], "noUnusedLocals": True},
        "include": [str(GENERATED)]}))
    result = subprocess.run(["npx", "--no-install", "tsc", "--noEmit", "-p", str(config)],
                            cwd=ROOT / "web", capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
