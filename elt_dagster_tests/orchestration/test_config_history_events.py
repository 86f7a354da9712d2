"""Every recorded config version is a materialisation of `<name>/config_history`, whoever recorded it: a run, a
sensor, `elt-dagster config upload` or `elt-dagster rejects replay` (Dagster's testing API, a real PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from dagster import AssetKey, DagsterInstance, Definitions, build_sensor_context, instance_for_test
from dagster._core.definitions.sensor_definition import SensorExecutionData

from elt_dagster.cli import main
from elt_dagster.definitions import build_definitions
from elt_dagster.engine.config import load_config
from elt_dagster_tests.conftest import fetch, write


@pytest.fixture
def name(db_schema: str, database_url: str) -> Iterator[str]:
    """A pipeline name of this test alone: the config history lives in the shared schema `elt`."""
    pipeline = f"h_{db_schema}"
    yield pipeline
    with psycopg.connect(database_url, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('elt.config_history')").fetchone()[0]:
            conn.execute("DELETE FROM elt.config_history WHERE pipeline = %s", (pipeline,))


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as test_instance:
        yield test_instance


FIXED_DAY = "{type: date, format: '%d/%m/%Y'}"


def pipeline_yaml(name: str, schema: str, day: str = "date") -> str:
    head = f"name: {name}\nsources:\n  - path: ../data\ntarget:\n  table: t\n  db_schema: {schema}\n"
    return head + f"schema:\n  columns:\n    id: integer\n    day: {day}\n"


def source_tick(defs: Definitions, name: str, instance: DagsterInstance) -> SensorExecutionData:
    """One tick of the pipeline's source sensor, its asset events then stored as the sensor daemon stores them."""
    context = build_sensor_context(instance=instance, resources=defs.resources)
    tick = defs.resolve_sensor_def(f"{name}_source_sensor").evaluate_tick(context)
    for event in tick.asset_events or []:
        instance.report_runless_asset_event(event)
    return tick


def materialized_versions(instance: DagsterInstance, name: str) -> list[int]:
    """The `version` of each materialisation of `<name>/config_history`, oldest first."""
    records = instance.fetch_materializations(AssetKey([name, "config_history"]), limit=100, ascending=True).records
    return [
        record.asset_materialization.metadata["version"].value for record in records if record.asset_materialization
    ]


def recorded_versions(database_url: str, name: str) -> list[int]:
    return [row[0] for row in fetch(database_url, "SELECT version FROM elt.config_history WHERE pipeline = %s", name)]


def test_a_version_recorded_by_rejects_replay_is_materialised_at_the_next_sensor_tick(
    tmp_path: Path, name: str, db_schema: str, database_url: str, instance: DagsterInstance, monkeypatch
) -> None:
    write(tmp_path / "data" / "a.csv", "id,day\n1,2024-01-31\n2,31/01/2024\n")
    path = write(tmp_path / "configs" / f"{name}.yaml", pipeline_yaml(name, db_schema))
    monkeypatch.setenv("ELT_CONFIG_DIR", str(path.parent))
    defs = build_definitions(path.parent)
    assert defs.resolve_job_def(f"{name}_elt").execute_in_process(instance=instance).success
    assert materialized_versions(instance, name) == [1]

    write(path, pipeline_yaml(name, db_schema, FIXED_DAY))  # the fix, replayed from the CLI: Dagster is not told
    assert main(["rejects", "replay", name]) == 0
    assert recorded_versions(database_url, name) == [1, 2]
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".t') == [(2,)]  # the row came back
    assert materialized_versions(instance, name) == [1]

    tick = source_tick(defs, name, instance)
    assert [event.metadata["version"].value for event in tick.asset_events] == [2]
    assert materialized_versions(instance, name) == [1, 2]
    latest = instance.get_latest_materialization_event(AssetKey([name, "config_history"]))
    assert latest and latest.asset_materialization
    assert latest.asset_materialization.metadata["content_hash"].value == load_config(path).content_hash
    assert not source_tick(defs, name, instance).asset_events  # once each
    assert materialized_versions(instance, name) == [1, 2]


def test_a_version_uploaded_by_the_cli_is_materialised_by_the_next_run(
    tmp_path: Path, name: str, db_schema: str, database_url: str, instance: DagsterInstance, monkeypatch
) -> None:
    write(tmp_path / "data" / "a.csv", "id,day\n1,2024-01-31\n")
    path = write(tmp_path / "configs" / f"{name}.yaml", pipeline_yaml(name, db_schema))
    monkeypatch.setenv("ELT_CONFIG_DIR", str(path.parent))
    defs = build_definitions(path.parent)
    job = defs.resolve_job_def(f"{name}_elt")
    assert job.execute_in_process(instance=instance).success

    upload = write(tmp_path / "upload" / f"{name}.yaml", pipeline_yaml(name, db_schema, FIXED_DAY))
    assert main(["config", "upload", str(upload)]) == 0  # replaces the YAML in the config folder: version 2
    assert recorded_versions(database_url, name) == [1, 2]
    result = job.execute_in_process(instance=instance)
    assert result.success and result.dagster_run.tags["elt/config_version"] == "2"
    assert materialized_versions(instance, name) == [1, 2]


def test_a_history_dagster_never_saw_is_materialised_whole(
    tmp_path: Path, name: str, db_schema: str, database_url: str, instance: DagsterInstance
) -> None:
    write(tmp_path / "data" / "a.csv", "id,day\n1,2024-01-31\n")
    path = write(tmp_path / "configs" / f"{name}.yaml", pipeline_yaml(name, db_schema))
    defs = build_definitions(path.parent)
    source_tick(defs, name, instance)
    write(path, pipeline_yaml(name, db_schema, FIXED_DAY))
    source_tick(defs, name, instance)
    assert materialized_versions(instance, name) == [1, 2]

    with psycopg.connect(database_url, autocommit=True) as conn:  # the history emptied, a new text recorded
        conn.execute("DELETE FROM elt.config_history WHERE pipeline = %s", (name,))
    write(path, pipeline_yaml(name, db_schema, FIXED_DAY) + "  strict_mode: true\n")
    tick = source_tick(defs, name, instance)
    assert [event.metadata["version"].value for event in tick.asset_events] == [1]
    assert materialized_versions(instance, name) == [1, 2, 1]
