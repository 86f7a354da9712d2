"""Fault suite: two dg components naming the same pipeline, and a config version recorded outside Dagster."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from elt_dagster.cli import main
from elt_dagster.definitions import build_definitions
from elt_dagster_tests.conftest import write
from elt_dagster_tests.faults.summary import record
from elt_dagster_tests.orchestration.test_component import add_pipeline, load_defs, make_project
from elt_dagster_tests.orchestration.test_config_history_events import (
    FIXED_DAY,
    materialized_versions,
    pipeline_yaml,
    source_tick,
)
from elt_dagster_tests.orchestration.test_config_history_events import name as name  # a fixture
from elt_dagster_tests.pipelines import shop_yaml

pytestmark = pytest.mark.faults


def test_two_dg_components_naming_one_pipeline(tmp_path: Path, db_schema: str, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "project"
    module = make_project(root)
    monkeypatch.syspath_prepend(str(root / "src"))
    first = add_pipeline(root, module, "orders_a", shop_yaml(db_schema, path="data"))
    second = add_pipeline(root, module, "orders_b", shop_yaml(db_schema, path="data"))
    defs = load_defs(root)  # Dagster's own merge would refuse: "different resources with same key 'shop_config'"
    assert defs.resolve_job_def("shop_elt") is not None
    broken = next(s for s in defs.resolve_all_asset_specs() if s.key == dg.AssetKey(["config_errors", "pipeline"]))
    assert f"{second}: name: pipeline 'shop' is already defined by {first}" in (broken.description or "")
    record("dg names", "two EltPipeline components naming one pipeline", "config_errors asset naming both files")


def test_a_version_recorded_by_rejects_replay_reaches_the_ui(
    tmp_path: Path, name: str, db_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "data" / "a.csv", "id,day\n1,2024-01-31\n2,31/01/2024\n")
    path = write(tmp_path / "configs" / f"{name}.yaml", pipeline_yaml(name, db_schema))
    monkeypatch.setenv("ELT_CONFIG_DIR", str(path.parent))
    defs = build_definitions(path.parent)
    with dg.instance_for_test() as instance:
        assert defs.resolve_job_def(f"{name}_elt").execute_in_process(instance=instance).success
        write(path, pipeline_yaml(name, db_schema, FIXED_DAY))
        assert main(["rejects", "replay", name]) == 0
        source_tick(defs, name, instance)
        assert materialized_versions(instance, name) == [1, 2]
    record("config history", "version recorded by `rejects replay` (CLI)", "materialised at the next sensor tick")
