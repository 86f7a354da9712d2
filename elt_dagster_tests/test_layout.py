"""The layout the project agreed on: an engine that imports nothing from Dagster, modules one can read in a sitting."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "elt_dagster"
ENGINE = PACKAGE / "engine"
MAX_MODULE_LINES = 300
LONG_MODULE_REASON = "Longer than 300 lines because"
MAX_FUNCTION_LINES = 50
LONG_FUNCTION_REASON = "Longer than 50 lines because"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_engine_imports_nothing_from_dagster() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(m for m in imported_modules(path) if m.split(".")[0] == "dagster")
        for path in ENGINE.rglob("*.py")
    }
    assert {path: found for path, found in offenders.items() if found} == {}


def test_importing_every_engine_module_loads_no_dagster() -> None:
    modules = [
        ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        for path in sorted(ENGINE.rglob("*.py"))
    ]
    probe = f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\nprint('dagster' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_modules_are_small_or_say_why_not() -> None:
    long = {
        str(path.relative_to(PACKAGE)): lines
        for path in PACKAGE.rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
        and LONG_MODULE_REASON not in path.read_text(encoding="utf-8")
    }
    assert long == {}


def test_functions_are_short_or_say_why_not() -> None:
    long = {}
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                body = "\n".join(text.splitlines()[node.lineno - 1 : node.end_lineno])
                if lines > MAX_FUNCTION_LINES and LONG_FUNCTION_REASON not in body:
                    long[f"{path.relative_to(PACKAGE)}:{node.name}"] = lines
    assert long == {}
