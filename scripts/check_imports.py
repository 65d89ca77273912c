"""Fail when the project's imports form a cycle, between files or between top-level packages.

Every `import` counts, including those inside functions (a lazy import still ties the two modules together:
it only moves the failure from import time to call time). The pipeline reads one way, so the package graph
has an order (printed on success; docs/architecture.md explains it), each package importing only from packages
earlier in it, never back.

Built on the standard library (`ast` for the imports, `graphlib` for the order): import-linter's contracts are
written for the children of one root package, and this repository's packages are top-level siblings.

Usage: `python scripts/check_imports.py [ROOT]`; prints each cycle found and exits 1, else one summary line.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

# Folders that hold the product's packages; tests/, benchmarks/ and scripts/ import them and are not imported.
SKIP = {".venv", ".git", "tests", "benchmarks", "scripts", "build", "dist", "data", "mlruns", "node_modules"}


def packages(root: Path) -> list[str]:
    """Top-level folders with an __init__.py: the project's packages."""
    return sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in SKIP and (p / "__init__.py").is_file())


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(tree: ast.AST, module: str, is_package: bool) -> Iterable[str]:
    """Absolute names of everything `tree` imports (relative imports resolved against `module`)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                base = node.module or ""
            yield base
            # `from package import module` imports the module, not only a name in the package.
            yield from (f"{base}.{alias.name}" for alias in node.names)


def file_graph(root: Path) -> dict[str, set[str]]:
    """module -> the project's modules it imports (names that are not modules resolve to their module)."""
    files = {
        module_name(root, path): path
        for package in packages(root)
        for path in (root / package).rglob("*.py")
        if not SKIP.intersection(path.relative_to(root).parts)
    }
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets = set()
        for name in imported_names(tree, module, path.name == "__init__.py"):
            while name and name not in files:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def package_graph(files: dict[str, set[str]]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, targets in files.items():
        top = module.split(".")[0]
        graph.setdefault(top, set()).update(t.split(".")[0] for t in targets if t.split(".")[0] != top)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Cycles of `graph`, one per strongly tangled group: graphlib reports one, its edge is dropped, repeat."""
    remaining = {node: set(targets) for node, targets in graph.items()}
    found = []
    while True:
        try:
            tuple(TopologicalSorter(remaining).static_order())
            return found
        except CycleError as err:
            cycle = list(reversed(err.args[1]))  # graphlib lists it against the import direction
            found.append(cycle)
            remaining[cycle[0]].discard(cycle[1])


def main(argv: list[str]) -> int:
    root = Path(argv[0] if argv else Path(__file__).resolve().parent.parent)
    files = file_graph(root)
    by_package = package_graph(files)
    problems = [("file", c) for c in cycles(files)] + [("package", c) for c in cycles(by_package)]
    for level, cycle in problems:
        print(f"import cycle between {level}s: {' -> '.join(cycle)}")
    if problems:
        return 1
    order = " -> ".join(TopologicalSorter(by_package).static_order())
    print(f"no import cycles: {len(files)} modules in {len(by_package)} packages ({order})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
