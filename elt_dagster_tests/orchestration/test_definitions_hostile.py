"""Config folders written to break the code location: a YAML bomb, tables and files named like the project's own
assets. Each bad file becomes one `config_errors` asset (or loads under a key of its own); the others load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import AssetKey, instance_for_test

from elt_dagster.definitions import build_definitions
from elt_dagster.engine.config.models import RESERVED_PIPELINE_NAMES
from elt_dagster.orchestration.component import CONFIG_ERRORS_GROUP
from elt_dagster.orchestration.health import COVERAGE_KEY
from elt_dagster_tests.conftest import fetch, write
from elt_dagster_tests.engine.config.yaml_files import yaml_bomb
from elt_dagster_tests.pipelines import shop_yaml

KEYS_OF_FOLDER = """
import json, sys
from pathlib import Path
from elt_dagster.definitions import build_definitions
defs = build_definitions(Path(sys.argv[1]))
keys = sorted(key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys())
print(json.dumps({"keys": keys, "invalid": defs.metadata["invalid_configs"].value}))
"""


def asset_keys(defs) -> set[str]:
    return {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A config folder with one valid pipeline, `shop`."""
    write(tmp_path / "data" / "a.csv", "id,amount\n1,1.50\n")
    write(tmp_path / "configs" / "shop.yaml", shop_yaml("public"))
    return tmp_path / "configs"


def test_a_yaml_bomb_in_the_folder_becomes_a_config_error_and_the_others_load(folder: Path) -> None:
    (folder / "bomb.yaml").write_text(yaml_bomb(), encoding="utf-8")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    # in a subprocess: without the caps building the definitions never ends; the timeout only guards against that
    command = [sys.executable, "-c", KEYS_OF_FOLDER, str(folder)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    built = json.loads(done.stdout.splitlines()[-1])
    assert {"shop/orders", "config_errors/bomb"} <= set(built["keys"])
    assert "the file holds more than 50,000 keys and values" in built["invalid"][str(folder / "bomb.yaml")]


@pytest.mark.parametrize("table", ["config_history", "extracted", "validated"])
def test_a_table_named_like_a_step_asset_gets_a_key_of_its_own(folder: Path, table: str) -> None:
    write(folder / "other.yaml", shop_yaml("public", table=table).replace("name: shop", "name: other"))
    keys = asset_keys(build_definitions(folder))
    own = {"other/extracted", "other/validated", "other/config_history"}
    assert own | {f"other/{table}_table", f"other/{table}__rejected"} <= keys
    assert {"shop/orders", "shop/orders__rejected"} <= keys  # the keys of other tables are as they were


def test_a_table_called_config_history_loads_under_its_own_key(
    tmp_path: Path, database_url: str, db_schema: str
) -> None:
    write(tmp_path / "data" / "a.csv", "id,amount\n1,1.50\n2,2\n")
    write(tmp_path / "configs" / "shop.yaml", shop_yaml(db_schema, table="config_history"))
    with instance_for_test() as instance:
        defs = build_definitions(tmp_path / "configs")
        assert defs.resolve_job_def("shop_elt").execute_in_process(instance=instance).success
        table = instance.get_latest_materialization_event(AssetKey(["shop", "config_history_table"]))
        assert table is not None and table.asset_materialization.metadata["inserted"].value == 2
        assert instance.get_latest_materialization_event(AssetKey(["shop", "config_history"])) is not None
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".config_history') == [(2,)]


def test_a_target_in_the_bookkeeping_schema_is_a_config_error_asset(folder: Path) -> None:
    write(folder / "takeover.yaml", shop_yaml("elt", table="config_history").replace("name: shop", "name: takeover"))
    defs = build_definitions(folder)
    assert {"shop/orders", "config_errors/takeover"} <= asset_keys(defs)
    error = defs.metadata["invalid_configs"].value[str(folder / "takeover.yaml")]
    assert "target.db_schema (line 7): schema 'elt' is reserved" in error


def test_broken_files_whose_names_dagster_cant_use_or_that_clash_get_keys_of_their_own(folder: Path) -> None:
    for name in ("a-b.yaml", "a_b.yaml", "a_b.yml", "café.yaml"):
        write(folder / name, "sources: [unclosed\n")
    write(folder / "config_errors.yaml", shop_yaml("public").replace("name: shop\n", ""))  # named after its file
    defs = build_definitions(folder)
    broken = {key for key in asset_keys(defs) if key.startswith("config_errors/")}
    assert broken == {f"config_errors/{name}" for name in ("a_b", "a_b_2", "a_b_3", "caf_", "config_errors")}
    assert "shop/orders" in asset_keys(defs)
    error = defs.metadata["invalid_configs"].value[str(folder / "config_errors.yaml")]
    assert "'config_errors' is reserved for elt-dagster's own assets" in error


def test_the_reserved_pipeline_names_are_the_dagster_layers_own_key_prefixes() -> None:
    assert {CONFIG_ERRORS_GROUP, COVERAGE_KEY.path[0]} <= RESERVED_PIPELINE_NAMES
