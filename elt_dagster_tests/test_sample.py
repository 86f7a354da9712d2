"""The sample pipeline of the README's quick start passes its own checks out of the box."""

from __future__ import annotations

import shutil
from pathlib import Path

from dagster import DagsterEventType, instance_for_test

from elt_dagster.definitions import build_definitions

ROOT = Path(__file__).resolve().parents[1]


def sample_only(tmp_path: Path) -> Path:
    """A config folder holding the repository's sample alone (configs/ may also hold the user's own pipelines)."""
    configs = tmp_path / "configs"
    configs.mkdir()
    shutil.copy(ROOT / "configs" / "orders.yaml", configs)  # its source, ../data/orders, is copied beside it
    shutil.copytree(ROOT / "data" / "orders", tmp_path / "data" / "orders")
    return configs


def test_the_sample_loads_and_every_check_passes(database_url: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ELT_STATE_DIR", str(tmp_path / "state"))
    defs = build_definitions(sample_only(tmp_path))
    with instance_for_test() as instance:
        job = defs.resolve_job_def("orders_elt")
        result = job.execute_in_process(instance=instance, tags={"elt/full_refresh": "true"})
        assert result.success
        checks = instance.all_logs(result.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
        outcomes = {
            e.dagster_event.event_specific_data.check_name: e.dagster_event.event_specific_data.passed for e in checks
        }
    assert outcomes == {"rejected_ratio": True, "columns_match_schema": True, "counts_add_up": True}
