"""No module of runstream, runstream_agent or runstream_server imports itself back.

The graph is read from the source (every ``import`` and ``from … import``,
also those inside functions: a lazy import hides a cycle, it does not remove
it) and its strongly connected components are the cycles.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"runstream": ROOT / "sdk" / "runstream",
            "runstream_agent": ROOT / "agent" / "runstream_agent",
            "runstream_server": ROOT / "server" / "runstream_server"}


def modules(packages: Mapping[str, Path]) -> dict[str, Path]:
    """Dotted module name -> source file (a package is its ``__init__.py``)."""
    found: dict[str, Path] = {}
    for folder in packages.values():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder.parent).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, known: Mapping[str, Path]) -> set[str]:
    """The known modules that module ``name`` (its source at ``path``) imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the package, up level - 1 packages
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            # ``from pkg import sub`` imports the module pkg.sub; ``from pkg import f``, pkg.
            for alias in node.names:
                submodule = f"{module}.{alias.name}"
                targets.add(submodule if submodule in known else module)
    return {t for t in targets if t in known and t != name}


def import_graph(packages: Mapping[str, Path]) -> dict[str, set[str]]:
    known = modules(packages)
    return {name: imported(name, path, known) for name, path in known.items()}


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def path_through(graph: Mapping[str, set[str]], component: list[str]) -> list[str]:
    """One import chain around ``component``, from its first module back to it."""
    members = set(component)
    start = component[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        node = frontier.pop(0)
        for child in sorted(graph[node] & members):
            if child == start:
                chain = [node]
                while chain[-1] != start:
                    chain.append(previous[chain[-1]])
                return [start, *reversed(chain[:-1]), start]
            if child not in previous:
                previous[child] = node
                frontier.append(child)
    return component


def test_no_module_of_the_three_packages_imports_itself_back() -> None:
    graph = import_graph(PACKAGES)
    assert {"runstream.sink", "runstream_agent.cli.run", "runstream_server.app"} <= graph.keys()
    found = cycles(graph)
    assert not found, "import cycles (each: one chain around it):\n" + "\n".join(
        " -> ".join(path_through(graph, component)) for component in found)


def test_the_cycle_finder_names_a_cycle_and_ignores_a_chain(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from pkg import a\n")
    (package / "a.py").write_text("import pkg.b\n")
    (package / "b.py").write_text("def f():\n    from .sub import c\n")  # lazy and relative
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "c.py").write_text("from pkg import a\n")
    (package / "d.py").write_text("from pkg import a\n")  # imports the cycle; not in it
    graph = import_graph({"pkg": package})
    assert graph["pkg.b"] == {"pkg.sub.c"} and graph["pkg.d"] == {"pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.sub.c"]]
    assert path_through(graph, ["pkg.a", "pkg.b", "pkg.sub.c"]) == [
        "pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"]
