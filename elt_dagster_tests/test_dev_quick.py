"""`python3 dev.py test --quick` leaves out the fault suite and the daemon, browser and deployment tests;
`python3 dev.py test` (what CI runs) hands its arguments to pytest untouched."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def dev_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dev", ROOT / "dev.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def collected(args: list[str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return [line for line in done.stdout.splitlines() if "::" in line]


def test_the_full_suite_gets_the_arguments_as_given() -> None:
    dev = dev_module()
    assert dev.test_args([]) == []
    assert dev.test_args(["-x", "-k", "quick"]) == ["-x", "-k", "quick"]


def test_the_quick_tier_leaves_out_the_slow_folders_and_nothing_else() -> None:
    dev = dev_module()
    quick = {test.split("::")[0] for test in collected(dev.test_args(["--quick", "elt_dagster_tests"]))}
    test_files = {str(path.relative_to(ROOT)) for path in (ROOT / "elt_dagster_tests").rglob("test_*.py")}
    slow = {path for path in test_files if path.split("/")[1] in dev.QUICK_TIER_SKIPS}
    assert slow and quick == test_files - slow
