"""The layout holds: imports flow one way (envs <- rollouts -> train -> eval, cluster on top), no module
imports another that imports it back, package tests leave ``cluster`` alone, and no file is over 600 lines.

Imports are read from the source (AST), wherever they stand: at the top of a file or inside a function
(only those under ``if TYPE_CHECKING:`` are left out: they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("envs", "rollouts", "train", "eval", "cluster")
# What each package may import of the others (cluster composes them all; nothing imports cluster).
ALLOWED = {
    "envs": set(),
    "rollouts": {"envs"},
    "train": {"envs", "rollouts"},
    "eval": {"envs", "rollouts", "train"},
    "cluster": {"envs", "rollouts", "train", "eval"},
}
MAX_LINES = 600


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    base = REPO.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:`` (annotations only: never imported)."""
    out, todo = [], [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            todo += node.orelse
            continue
        todo += ast.iter_child_nodes(node)
    return out


def imports(path: Path) -> set[str]:
    """The first-party modules ``path`` imports: ``from a.b import c`` is ``a.b.c`` when that is a module."""
    out = set()
    for node in runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                out.add(full if is_module(full) else node.module)
    return {name for name in out if name.split(".")[0] in PACKAGES}


def package_files() -> list[Path]:
    return sorted(f for pkg in PACKAGES for f in (REPO / pkg).rglob("*.py"))


GRAPH = {module_name(f): imports(f) for f in package_files()}


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_flow_one_way(package):
    wrong = {
        f"{mod} imports {dep}"
        for mod, deps in GRAPH.items()
        if mod.split(".")[0] == package
        for dep in deps
        if dep.split(".")[0] not in ALLOWED[package] | {package}
    }
    assert not wrong, sorted(wrong)


def test_no_import_cycles_between_modules():
    cycles = []
    state: dict[str, str] = {}  # "open" while on the current path, "done" after

    def visit(mod: str, path: list[str]) -> None:
        state[mod] = "open"
        for dep in sorted(GRAPH.get(mod, ())):
            if dep == mod:
                continue
            if state.get(dep) == "open":
                cycles.append(" -> ".join([*path[path.index(dep) :], dep]))
            elif dep not in state:
                visit(dep, [*path, dep])
        state[mod] = "done"

    for mod in sorted(GRAPH):
        if mod not in state:
            visit(mod, [mod])
    assert not cycles, cycles


@pytest.mark.parametrize("package", [p for p in PACKAGES if p != "cluster"])
def test_package_tests_do_not_import_cluster(package):
    offenders = [
        str(f.relative_to(REPO))
        for f in sorted((REPO / "tests" / package).rglob("*.py"))
        if any(name.split(".")[0] == "cluster" for name in imports(f))
    ]
    assert not offenders


def test_no_package_file_is_over_600_lines():
    long = {str(f.relative_to(REPO)): n for f in package_files() if (n := len(f.read_text().splitlines())) > MAX_LINES}
    assert not long
