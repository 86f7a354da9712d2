"""Hostile pipeline YAMLs (issue 21, items 3, 4 and an absolute `pattern:`): each is one clear line from
`elt-dagster validate`, and in the config folder each is one `config_errors` asset while the other pipelines load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from elt_dagster_tests.conftest import write
from elt_dagster_tests.engine.config.yaml_files import yaml_bomb
from elt_dagster_tests.faults.summary import record
from elt_dagster_tests.pipelines import shop_yaml

pytestmark = pytest.mark.faults

TARGET = "target:\n  table: t\n"
SOURCE = "sources:\n  - path: ../data\n"
HOSTILE = {
    "bomb": (yaml_bomb().replace("path: data", "path: ../data"), "l4[5] (line 10): the file holds more than 50,000"),
    "name_50mb": ("name: " + "n" * 50_000_000 + "\n" + SOURCE + TARGET, "line 1: `name` holds a value of more than"),
    "name_100kb": (SOURCE + TARGET + "name: " + "n" * 100_000 + "\n", "name (line 5): a value of 100,000 characters"),
    "self_alias": (SOURCE + TARGET + "x: &x [*x]\n", "x[0] (line 5): the alias *x is inside the collection it names"),
    "elt_config_history": (
        SOURCE + "target:\n  table: config_history\n  db_schema: elt\n",
        "target.db_schema (line 5): schema 'elt' is reserved",
    ),
    "elt_fingerprints": (
        SOURCE + "target:\n  table: file_fingerprints\n  db_schema: elt\n",
        "target.db_schema (line 5): schema 'elt' is reserved",
    ),
    "quarantine_of_another": (
        SOURCE + "target:\n  table: orders__rejected\n",
        "target.table (line 4): 'orders__rejected'",
    ),
    "absolute_pattern": (
        SOURCE + '    pattern: "/etc/*.csv"\n' + TARGET,
        "sources[0].pattern (line 3): '/etc/*.csv' is absolute",
    ),
}
KEYS_OF_FOLDER = """
import json, sys
from pathlib import Path
from elt_dagster.definitions import build_definitions
defs = build_definitions(Path(sys.argv[1]))
keys = sorted(key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys())
print(json.dumps({"keys": keys, "invalid": defs.metadata["invalid_configs"].value}))
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A config folder: `shop`, a pipeline whose table is called `config_history`, and every hostile file."""
    write(tmp_path / "data" / "a.csv", "id,amount\n1,1.5\n")
    folder = tmp_path / "configs"
    write(folder / "shop.yaml", shop_yaml("public"))
    write(folder / "shadow.yaml", shop_yaml("public", table="config_history").replace("name: shop", "name: shadow"))
    for name, (text, _) in HOSTILE.items():
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    return folder


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """A command in a subprocess; the timeout only turns a hang (a YAML bomb expanding) into a failure."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=300)


def test_validate_says_each_hostile_yaml_in_one_line(folder: Path) -> None:
    done = run("-m", "elt_dagster.cli", "validate", *(str(folder / f"{name}.yaml") for name in HOSTILE))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    problems = [line for line in done.stderr.splitlines() if line.startswith("  - ")]
    assert len(problems) == len(HOSTILE), done.stderr
    for (name, (_, expected)), problem in zip(HOSTILE.items(), problems, strict=True):
        assert expected in problem, (name, problem)
        record("hostile configs", f"validate {name}", "one-line config error at the key and line")


def test_the_code_location_loads_with_every_hostile_yaml_in_its_folder(folder: Path) -> None:
    done = run("-c", KEYS_OF_FOLDER, str(folder))
    assert done.returncode == 0, done.stderr
    built = json.loads(done.stdout.splitlines()[-1])
    keys = set(built["keys"])
    assert {"shop/orders", "shadow/config_history", "shadow/config_history_table"} <= keys
    record("hostile configs", "table named config_history", "loads as <name>/config_history_table")
    for name, (_, expected) in HOSTILE.items():
        assert f"config_errors/{name}" in keys and expected in built["invalid"][str(folder / f"{name}.yaml")]
        record("hostile configs", f"{name} in the config folder", "a config_errors asset; the others load")
