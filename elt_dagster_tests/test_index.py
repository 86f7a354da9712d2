"""Where each product module is tested: its mirror `elt_dagster_tests/<folder>/test_<module>.py`, or the line below.

A module with no mirrored test file is listed in `TEST_INDEX` with the test files that cover it (paths under
`elt_dagster_tests/`) or why it has none. Adding a module means adding its test file or its line here.
"""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
PACKAGE = TESTS.parent / "elt_dagster"
TEST_PATH = re.compile(r"[\w/]*test_\w+\.py")

TEST_INDEX: dict[str, str] = {
    "cli/__main__.py": "two lines that call cli.main; `python -m elt_dagster.cli` is run by test_cli.py",
    "cli/config.py": "end_to_end/test_cli_config.py (validate, config history/show/diff through the command)",
    "cli/db.py": "deployment/test_instance_storage.py and deployment/test_instance_storage_default.py (`db` commands)",
    "cli/rejects.py": "end_to_end/test_cli_rejects.py (`rejects show|replay` through the command)",
    "cli/runs.py": "`logs` in orchestration/test_dashboard.py, `runs cleanup` in orchestration/test_stale_runs.py",
    "cli/secrets.py": "masking in the commands' output: faults/test_secrets.py, faults/test_path_leaks.py",
    "local_servers.py": "the storage servers of the tests start on it: engine/sources/objects/test_s3.py, test_azure.py, test_gcs.py",
    "local_s3.py": "SeaweedFS under the s3_server fixture: engine/sources/objects/test_s3.py, orchestration/test_s3_sensor.py; the bucket walkthrough: test_doc_commands.py",
    "definitions.py": "the code location: orchestration/test_definitions.py, orchestration/test_definitions_hostile.py",
    "engine/config/columns.py": "engine/config/test_column_rules.py and engine/sources/files/test_columns.py",
    "engine/config/schema.py": "declared columns: engine/config/test_models.py, engine/config/test_errors.py",
    "engine/sources/encodings.py": "engine/config/test_loading.py, engine/sources/objects/test_s3.py (an unknown encoding: one line)",
    "engine/config/target.py": "the target section: engine/config/test_models.py, engine/load/test_deletes.py",
    "engine/load/keyed_tables.py": "scd2 columns and view, soft deletes: engine/load/test_scd2.py, test_deletes.py",
    "engine/load/merge_new.py": "merge into a new table: engine/load/test_merge.py, engine/load/test_planner.py",
    "engine/run_report.py": "what a run did: engine/test_run.py (its counts), orchestration/test_reporting.py",
    "engine/db.py": "connections and locks under every PostgreSQL test; engine/test_embedded_settings.py, engine/test_run.py",
    "engine/embedded.py": "engine/test_embedded_settings.py, deployment/test_instance_storage_default.py",
    "engine/errors.py": "error classes; their one-line messages in engine/config/test_errors.py",
    "engine/json_text.py": "limits and digits in engine/sources/files/test_json_records.py, engine/sources/files/test_json_scan.py",
    "engine/load/append.py": "hashset and probe: engine/load/test_load.py, engine/load/test_session.py, engine/load/test_small_files.py",
    "engine/load/base.py": "the strategies' shared steps and counts: engine/load/test_session.py, engine/load/test_planner.py",
    "engine/load/bulk.py": "engine/load/test_load.py, engine/load/test_session.py, engine/load/test_small_files.py",
    "engine/load/copy.py": "engine/load/test_binary.py (binary and CSV COPY), engine/load/test_load.py",
    "engine/load/partition.py": "partition-append and partition-replace: engine/test_partition_run.py, orchestration/test_partitions.py",
    "engine/load/merge_sql.py": "both ways of writing the winners (MERGE, UPDATE + INSERT): engine/load/test_merge.py",
    "engine/load/tables.py": "engine/load/test_binary.py, engine/config/test_models.py, engine/load/test_load.py",
    "engine/report.py": "engine/test_redaction.py, engine/test_run.py",
    "engine/row_counts.py": "the counts of every run report: engine/test_run.py, engine/test_dry_run.py",
    "engine/small_files.py": "engine/load/test_small_files.py (next to the strategies it feeds)",
    "engine/sources/api/errors.py": "engine/sources/api/test_responses.py, engine/sources/api/test_deadline.py",
    "engine/sources/api/json_paths.py": "engine/sources/api/test_paginators.py, engine/sources/api/test_cursor.py",
    "engine/sources/api/records.py": "engine/sources/api/test_client.py, engine/sources/api/test_api_pipeline.py",
    "engine/sources/objects/models.py": "every object source's keys and checks: engine/sources/objects/test_s3.py, engine/sources/objects/test_azure.py, engine/sources/objects/test_gcs.py",
    "engine/sources/objects/store.py": "listing and spooling on real stores: engine/sources/objects/test_s3.py, engine/sources/objects/test_azure.py, engine/sources/objects/test_gcs.py, orchestration/test_s3_sensor.py, orchestration/test_blob_sensors.py",
    "engine/sources/objects/stored.py": "engine/sources/objects/test_s3_etags.py (fingerprints with ETags), engine/sources/objects/test_s3.py",
    "engine/sources/objects/s3_listing.py": "engine/sources/objects/test_listing.py (pages, errors), engine/sources/objects/test_s3_etags.py (ETags)",
    "engine/sources/objects/s3_errors.py": "engine/sources/objects/test_s3_snapshot_and_errors.py, engine/sources/objects/test_listing.py (one line per error)",
    "engine/sources/api/spool.py": "API sources in runs and dry runs: engine/sources/api/test_api_pipeline.py, faults/test_api_faults.py",
    "engine/sources/files/sheet_errors.py": "engine/sources/files/test_excel.py (error cells quarantined)",
    "engine/sources/sheet_keys.py": "engine/sources/files/test_excel.py (keys, ranges), engine/sources/objects/test_s3_workbooks.py (in a bucket)",
    "engine/sources/files/readers.py": "engine/sources/files/test_formats.py, engine/sources/files/test_delimited.py",
    "engine/state/cursors.py": "written by the incremental API load of engine/sources/api/test_api_pipeline.py; no test of its own (a gap)",
    "engine/state/partition_files.py": "partitions by files: engine/test_partition_run.py, orchestration/test_partitions.py",
    "engine/state/schema.py": "the state tables: engine/test_run.py, engine/config/test_models.py, faults/test_crashes.py",
    "engine/transform/arrays.py": "helpers of the standardisers: engine/transform/test_standardize.py, test_fast_paths.py",
    "engine/transform/patterns.py": "the value regexes and limits the registry uses: engine/test_types.py, engine/transform/test_decimals.py",
    "engine/transform/json_values.py": "engine/transform/test_standardize.py, engine/transform/test_pinned_values.py",
    "orchestration/assets.py": "the asset factory: orchestration/test_definitions.py, orchestration/test_replay.py",
    "orchestration/checks.py": "asset checks: orchestration/test_dashboard.py",
    "orchestration/health.py": "the coverage asset and sensor: orchestration/test_dashboard.py",
    "orchestration/instance_storage.py": "deployment/test_instance_storage.py, deployment/test_instance_storage_default.py",
    "orchestration/launcher.py": "deployment/test_local_launcher.py, deployment/test_run_monitoring.py",
    "orchestration/preview.py": "the `<name>_preview` job: orchestration/test_dashboard.py",
    "orchestration/queueing.py": "deployment/test_deploy_files.py, deployment/test_instance_storage.py",
    "orchestration/resources.py": "orchestration/test_automation.py, orchestration/test_definitions.py",
    "orchestration/steps.py": "the load step and its retries: orchestration/test_definitions.py",
}


def modules() -> list[str]:
    """Every product module, relative to the package, `__init__.py` aside."""
    return sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py")


def mirrored_test(module: str) -> Path:
    """`engine/load/merge.py` -> `elt_dagster_tests/engine/load/test_merge.py`."""
    path = Path(module)
    return TESTS / path.parent / f"test_{path.name}"


def test_every_module_has_its_test_file_or_a_line_in_the_index() -> None:
    missing = [m for m in modules() if not mirrored_test(m).exists() and m not in TEST_INDEX]
    assert missing == []


def test_the_index_lists_only_modules_that_exist_and_have_no_test_file() -> None:
    stale = [m for m in TEST_INDEX if m not in modules() or mirrored_test(m).exists()]
    assert stale == []


def test_the_test_files_the_index_names_exist_and_each_reason_is_one_line() -> None:
    named = {p for reason in TEST_INDEX.values() for p in TEST_PATH.findall(reason)}
    assert sorted(p for p in named if not (TESTS / p).exists() and not any(TESTS.rglob(p))) == []
    assert [m for m, reason in TEST_INDEX.items() if "\n" in reason or not reason.strip()] == []
