"""elt-dagster's own names come from `engine/names.py`: no other module types an `_elt_*` name as a string."""

from __future__ import annotations

import ast
from pathlib import Path

from elt_dagster.engine import names
from elt_dagster.engine.config import Target
from elt_dagster.engine.names import REJECTED_SUFFIX, qualified_name

PACKAGE = Path(names.__file__).resolve().parents[1]

EXCEPTIONS = {
    "engine/names.py": "where the names are defined",
    "engine/replay.py": "the replay's own temporary tables (`_elt_replay`, ...): one transaction of this module uses them",
    "orchestration/assets.py": "the op name `<pipeline>_elt` + `_step`, a Dagster name, not a database one",
}


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstring nodes of `tree` (prose may name a column)."""
    found = set()
    for node in ast.walk(tree):
        body = node.body if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef) else []
        for index, statement in enumerate(body):
            # the first statement, or an attribute's docstring right after its assignment
            after_assignment = index > 0 and isinstance(body[index - 1], ast.Assign | ast.AnnAssign)
            is_text = isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)
            if (index == 0 or after_assignment) and is_text:
                found.add(id(statement.value))
    return found


def _elt_literals(path: Path) -> list[str]:
    """`line: text` of each string literal of `path` holding `_elt_`, docstrings left out."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = _docstrings(tree)
    return [
        f"{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and "_elt_" in node.value
        and id(node) not in docstrings
    ]


def test_elt_names_are_typed_only_in_names_module() -> None:
    found = {
        relative: literals
        for path in sorted(PACKAGE.rglob("*.py"))
        if (relative := path.relative_to(PACKAGE).as_posix()) not in EXCEPTIONS and (literals := _elt_literals(path))
    }
    assert found == {}


def test_the_check_sees_a_literal_inside_sql(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text('"""Names `_elt_row_hash` in prose."""\n\nQUERY = "SELECT uuid_send(_elt_row_hash) FROM {}"\n')
    assert _elt_literals(module) == ["3: 'SELECT uuid_send(_elt_row_hash) FROM {}'"]


def test_exceptions_exist() -> None:
    assert all((PACKAGE / relative).is_file() for relative in EXCEPTIONS)


def test_qualified_name() -> None:
    target = Target(table="items", db_schema="sales")
    assert qualified_name(target) == "sales.items"
    assert qualified_name(target, REJECTED_SUFFIX) == "sales.items__rejected"


def test_own_names_share_the_prefix() -> None:
    assert all(name.startswith(names.RESERVED_PREFIX) for name in names.OWN_COLUMNS)
    assert names.OWN_TABLE_SUFFIXES == ("__rejected", "__row_hash", "__pk")
