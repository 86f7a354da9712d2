"""What the UI shows beyond the load: asset checks, the preview job, the coverage asset and its sensor, and\n`elt-dagster logs`."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from dagster import (
    AssetCheckSeverity,
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    DefaultSensorStatus,
    build_sensor_context,
    instance_for_test,
    materialize,
)

from elt_dagster.cli import main
from elt_dagster.definitions import build_definitions
from elt_dagster.orchestration.health import COVERAGE_KEY, coverage_sensor
from elt_dagster_tests.conftest import write
from elt_dagster_tests.pipelines import shop_yaml

TABLE = AssetKey(["shop", "orders"])


def shop(tmp_path: Path, db_schema: str, extra: str = "") -> Path:
    write(tmp_path / "data" / "a.csv", "id,amount\n1,1.5\n2,abc\n3,3\n4,4\n")
    write(tmp_path / "configs" / "shop.yaml", shop_yaml(db_schema, extra=extra))
    return tmp_path / "configs"


def run_elt(configs: Path, instance) -> None:
    defs = build_definitions(configs)
    assets = [d for d in defs.assets if getattr(d, "group_names_by_key", None) and d.group_names_by_key.get(TABLE)]
    assert materialize(assets, instance=instance, resources=defs.resources).success


def check_results(instance) -> dict:
    """The check evaluations of the latest run, by check name."""
    latest = instance.get_runs(limit=1)[0]
    events = instance.all_logs(latest.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    return {e.dagster_event.event_specific_data.check_name: e.dagster_event.event_specific_data for e in events}


def test_checks_run_with_each_load(tmp_path: Path, database_url: str, db_schema: str) -> None:
    with instance_for_test() as instance:
        run_elt(shop(tmp_path, db_schema), instance)
        checks = check_results(instance)
        assert set(checks) == {"rejected_ratio", "columns_match_schema", "counts_add_up"}
        ratio = checks["rejected_ratio"]
        assert not ratio.passed and ratio.severity == AssetCheckSeverity.WARN  # 1 of 4 rejected, default max 0
        assert checks["columns_match_schema"].passed and checks["counts_add_up"].passed


def test_rejected_ratio_threshold_and_severity_come_from_the_yaml(
    tmp_path: Path, database_url: str, db_schema: str
) -> None:
    with instance_for_test() as instance:
        run_elt(shop(tmp_path, db_schema, "max_rejected_ratio: 0.2\nrejected_ratio_severity: error\n"), instance)
        ratio = check_results(instance)["rejected_ratio"]
        assert not ratio.passed and ratio.severity == AssetCheckSeverity.ERROR  # 25% > 20%
    with instance_for_test() as instance:
        run_elt(shop(tmp_path / "second", db_schema + "x", "max_rejected_ratio: 0.3\n"), instance)
        assert check_results(instance)["rejected_ratio"].passed


def test_columns_check_fails_when_the_table_disagrees(tmp_path: Path, database_url: str, db_schema: str) -> None:
    """A column altered by hand to a type no YAML type makes (`real`) is left as it is, loaded, and reported by the
    check (a type changed in the YAML is widened or stops the run: engine/load/test_type_changes.py)."""
    configs = shop(tmp_path, db_schema)
    with instance_for_test() as instance:
        run_elt(configs, instance)
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f'ALTER TABLE "{db_schema}".orders ALTER COLUMN amount TYPE real')
        (tmp_path / "data" / "b.csv").write_text("id,amount\n9,9\n")
        run_elt(configs, instance)
        columns = check_results(instance)["columns_match_schema"]
        assert not columns.passed and "amount" in columns.description


def test_preview_job_observes_the_table_without_loading(tmp_path: Path, database_url: str, db_schema: str) -> None:
    configs = shop(tmp_path, db_schema)
    with instance_for_test() as instance:
        run_elt(configs, instance)
        defs = build_definitions(configs)
        (tmp_path / "data" / "new.csv").write_text("id,amount\n50,5\n")  # a preview must not load it
        assert defs.resolve_job_def("shop_preview").execute_in_process(instance=instance).success
        observation = instance.fetch_observations(TABLE, limit=1).records[0].asset_observation
        assert observation.metadata["dagster/row_count"].value == 3
        assert "| id | amount |" in observation.metadata["preview"].value


def coverage_tick(instance: DagsterInstance, cursor: str | None = None):
    return coverage_sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=cursor))


def test_coverage_is_recorded_from_the_report_and_never_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = tmp_path / "coverage.json"
    monkeypatch.setenv("ELT_COVERAGE_JSON", str(report))
    with instance_for_test() as instance:
        none_yet = coverage_tick(instance)  # no report: a skipped tick that says what to run, nothing red
        assert "no coverage report yet" in none_yet.skip_message and "python3 dev.py coverage" in none_yet.skip_message
        assert not none_yet.asset_events and none_yet.cursor is None
        report.write_text("{not json")
        assert "can't be read" in coverage_tick(instance).skip_message
        report.write_text(
            json.dumps(
                {
                    "totals": {
                        "percent_covered": 87.5,
                        "covered_lines": 700,
                        "num_statements": 800,
                        "missing_lines": 100,
                    },
                    "files": {"a.py": {"summary": {"percent_covered": 50.0}}},
                }
            )
        )
        tick = coverage_tick(instance)
        assert [event.asset_key for event in tick.asset_events] == [COVERAGE_KEY] and tick.cursor
        assert "has not changed" in coverage_tick(instance, tick.cursor).skip_message
        for event in tick.asset_events:  # what the daemon does with a tick's events
            instance.report_runless_asset_event(event)
        metadata = instance.get_latest_materialization_event(COVERAGE_KEY).asset_materialization.metadata
        assert metadata["percent_covered"].value == 87.5 and metadata["num_statements"].value == 800
        assert "`a.py` | 50.0%" in metadata["least_covered_files"].value


def test_coverage_is_not_materialised_with_the_pipelines(tmp_path: Path, db_schema: str) -> None:
    defs = build_definitions(shop(tmp_path, db_schema))
    graph = defs.resolve_asset_graph()
    assert not graph.get(COVERAGE_KEY).is_executable  # "Materialize all" can't pick it, so it can't fail
    assert graph.get(TABLE).is_materializable
    selected = defs.resolve_implicit_global_asset_job_def().asset_layer.selected_asset_keys
    assert TABLE in selected and COVERAGE_KEY not in selected
    assert defs.resolve_sensor_def("coverage_sensor").default_status == DefaultSensorStatus.RUNNING


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DAGSTER_HOME of the test's own (SQLite storage), where `elt-dagster logs` finds the runs."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def test_logs_command_prints_the_latest_run(
    tmp_path: Path, database_url: str, db_schema: str, dagster_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with DagsterInstance.get() as instance:
        assert (
            build_definitions(shop(tmp_path, db_schema))
            .resolve_job_def("shop_elt")
            .execute_in_process(instance=instance)
            .success
        )
    assert main(["logs", "shop", "--lines", "200"]) == 0
    out = capsys.readouterr().out
    assert "of shop_elt: SUCCESS" in out.splitlines()[0]
    assert "inserted 3" in out and "rejected:" in out
    assert main(["logs", str(tmp_path / "configs" / "shop.yaml"), "--lines", "200"]) == 0  # its YAML, as well
    assert capsys.readouterr().out == out


def test_logs_command_says_why_a_run_failed(
    tmp_path: Path, database_url: str, db_schema: str, dagster_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = shop(tmp_path, db_schema)
    for path in (tmp_path / "data").glob("*"):
        path.unlink()
    write(tmp_path / "data" / "broken.csv", "id,ctid\n1,2\n")
    with DagsterInstance.get() as instance:
        job = build_definitions(config).resolve_job_def("shop_elt")
        assert not job.execute_in_process(instance=instance, raise_on_error=False).success
    assert main(["logs", "shop"]) == 0
    out = capsys.readouterr().out
    assert "of shop_elt: FAILURE" in out.splitlines()[0]
    assert "Why: " in out and "broken.csv: column 'ctid' has the name of a PostgreSQL system column" in out
