"""No import circles between the modules of `elt_dagster/`, counting imports inside functions too.

An import inside a function hides a circle from Python (the module is complete by the time the function runs) but
not from a reader: the two modules still depend on each other. So every `import` and `from ... import` counts,
at module level or in a function, relative or absolute; `from pkg import name` is an import of the module
`pkg.name` when there is one, else of `pkg`.

Packages: importing `a.b.c` runs `a` and `a.b` first, but only the edge to the module named (`a.b.c`) is counted,
not edges to its parent packages. Counting the parents would make every package whose `__init__` imports its own
submodules look circular with each submodule that imports a sibling through the package (`elt_dagster/__init__.py`
imports `definitions` on first access, and everything under `elt_dagster` would then import `elt_dagster`). An
`__init__` module is a node like any other, named after its package.

Imports under `if TYPE_CHECKING:` are left out: they never run, and they are how an annotation names a class
without depending on its module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "elt_dagster"

ALLOWED: set[tuple[str, str]] = set()
"""Edges (importer, imported) left out of the check; empty: there is no circle to excuse."""


def module_names(package: Path) -> dict[str, Path]:
    """Every module of `package` by dotted name (a package's `__init__.py` under the package's name)."""
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        names[".".join(parts).removesuffix(".__init__")] = path
    return names


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements under `node`, at any depth, but for the body of an `if TYPE_CHECKING:`."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child):
            yield from _import_nodes(ast.Module(body=child.orelse, type_ignores=[]))
        else:
            yield from _import_nodes(child)


def _targets(node: ast.Import | ast.ImportFrom, name: str, is_package: bool, modules: set[str]) -> set[str]:
    """The modules of `modules` that one import statement in module `name` imports."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names} & modules
    base = node.module or ""
    if node.level:
        anchor = name.split(".") if is_package else name.split(".")[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    named = {f"{base}.{alias.name}" for alias in node.names}
    return {module if module in modules else base for module in named} & modules


def import_graph(package: Path) -> dict[str, set[str]]:
    """For each module of `package`, the modules of `package` it imports (see the module docstring for the rules)."""
    modules = module_names(package)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        found: set[str] = set()
        for node in _import_nodes(tree):
            found |= _targets(node, name, path.name == "__init__.py", set(modules))
        graph[name] = found - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of `graph` as its modules in import order (the first repeated at the end), or None."""
    done: set[str] = set()
    for start in sorted(graph):
        path: list[str] = []
        pending = [iter([start])]
        while pending:
            following = next(pending[-1], None)
            if following is None:
                pending.pop()
                if path:
                    done.add(path.pop())
            elif following in path:
                return [*path[path.index(following) :], following]
            elif following not in done:
                path.append(following)
                pending.append(iter(sorted(graph.get(following, ()))))
    return None


def test_elt_dagster_has_no_import_circles() -> None:
    graph = {
        importer: {imported for imported in targets if (importer, imported) not in ALLOWED}
        for importer, targets in import_graph(PACKAGE).items()
    }
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_the_allowed_edges_still_exist() -> None:
    graph = import_graph(PACKAGE)
    assert {(importer, imported) for importer, imported in ALLOWED if imported not in graph[importer]} == set()


def write_package(root: Path, files: dict[str, str]) -> Path:
    """A package `pkg` under `root` made of `files` (paths relative to it, e.g. `sub/c.py`: source)."""
    for relative, source in files.items():
        path = root / "pkg" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return root / "pkg"


def test_a_circle_through_function_level_and_relative_imports_is_found(tmp_path: Path) -> None:
    package = write_package(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "from . import b\n",
            "b.py": "def f():\n    from pkg.sub.c import value\n    return value\n",
            "sub/__init__.py": "",
            "sub/c.py": "value = 1\n\ndef g():\n    import pkg.a\n",
        },
    )
    assert find_cycle(import_graph(package)) == ["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"]


def test_parent_packages_and_type_checking_imports_make_no_circle(tmp_path: Path) -> None:
    package = write_package(
        tmp_path,
        {
            "__init__.py": "from .a import A\n",
            "a.py": "from pkg.b import B\n\nclass A(B): ...\n",
            "b.py": "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from pkg.a import A\n\nclass B: ...\n",
        },
    )
    graph = import_graph(package)
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.b"}, "pkg.b": set()}
    assert find_cycle(graph) is None
