"""`elt_dagster.EltPipeline` in a dg project: loaded by `dg.load_from_defs_folder`, scaffolded and checked by `dg`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import dagster as dg
import pytest

from elt_dagster.orchestration.scaffolder import SAMPLE_CSV
from elt_dagster_tests.conftest import fetch, write
from elt_dagster_tests.pipelines import shop_yaml

DG = str(Path(sys.executable).with_name("dg"))


def make_project(root: Path) -> str:
    """A minimal dg project in `root` (src layout); returns its root module's unique name."""
    module = f"dgp_{uuid.uuid4().hex[:8]}"
    write(
        root / "pyproject.toml",
        f"""
        [project]
        name = "{module}"
        version = "0.1.0"

        [tool.dg]
        directory_type = "project"

        [tool.dg.project]
        root_module = "{module}"
        """,
    )
    write(root / "src" / module / "__init__.py", "")
    write(root / "src" / module / "defs" / "__init__.py", "")
    write(
        root / "src" / module / "definitions.py",
        """
        from pathlib import Path

        import dagster as dg


        @dg.definitions
        def defs() -> dg.Definitions:
            return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
        """,
    )
    return module


def load_defs(root: Path) -> dg.Definitions:
    """The project's definitions, as its definitions.py loads them."""
    (module,) = [p for p in (root / "src").iterdir() if p.is_dir() and p.name.startswith("dgp_")]
    return dg.load_from_defs_folder(path_within_project=module)


def add_pipeline(root: Path, module: str, folder: str, pipeline: str) -> Path:
    """`defs/<folder>/defs.yaml` using the component, beside the pipeline YAML and one CSV file."""
    where = root / "src" / module / "defs" / folder
    write(where / "defs.yaml", "type: elt_dagster.EltPipeline\nattributes:\n  config: pipeline.yaml\n")
    write(where / "data" / "a.csv", "id,amount\n1,1.50\n2,abc\n3,3\n")
    return write(where / "pipeline.yaml", pipeline)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    root = tmp_path / "project"
    module = make_project(root)
    monkeypatch.syspath_prepend(str(root / "src"))
    return root, module


def dg_run(root: Path, module: str, *args: str) -> subprocess.CompletedProcess[str]:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": path, "PYTHONPATH": str(root / "src"), "PYTHONWARNINGS": "ignore", "NO_COLOR": "1"}
    return subprocess.run([DG, *args], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_a_dg_project_loads_the_component_and_its_job_loads_rows(
    project: tuple[Path, str], db_schema: str, database_url: str
) -> None:
    root, module = project
    add_pipeline(root, module, "shop", shop_yaml(db_schema, path="data"))
    defs = load_defs(root)
    keys = {spec.key for spec in defs.resolve_all_asset_specs()}
    assert {dg.AssetKey(["shop", name]) for name in ("extracted", "validated", "orders", "config_history")} <= keys
    assert {s.name for s in defs.sensors or []} == {"shop_source_sensor"}
    job = defs.resolve_job_def("shop_elt")
    assert job.executor_def.name == "in_process"
    with dg.instance_for_test() as instance:
        assert job.execute_in_process(instance=instance).success
        event = instance.get_latest_materialization_event(dg.AssetKey(["shop", "orders"]))
        assert event is not None and event.asset_materialization is not None
        assert event.asset_materialization.metadata["inserted"].value == 2
    assert fetch(database_url, f'SELECT id, amount::text FROM "{db_schema}".orders ORDER BY id') == [
        (1, "1.5"),
        (3, "3"),
    ]


def test_a_broken_pipeline_yaml_does_not_take_the_other_components_down(
    project: tuple[Path, str], db_schema: str
) -> None:
    root, module = project
    add_pipeline(root, module, "shop", shop_yaml(db_schema, path="data"))
    add_pipeline(root, module, "broken", "sources:\n  - type: local\n    path: data\ntarget:\n  tabel: x\n")
    defs = load_defs(root)
    assert defs.resolve_job_def("shop_elt") is not None
    broken = next(s for s in defs.resolve_all_asset_specs() if s.key == dg.AssetKey(["config_errors", "pipeline"]))
    assert "target.tabel (line 5): unknown key" in (broken.description or "")


@pytest.mark.slow  # subprocesses or 10,000 files: in the full suite, not the quick tier
def test_dg_scaffold_check_and_list(project: tuple[Path, str], db_schema: str, database_url: str) -> None:
    root, module = project
    listed = dg_run(root, module, "list", "components", "--json")
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "elt_dagster.EltPipeline" in {c["key"] for c in json.loads(listed.stdout)["items"]}

    scaffolded = dg_run(root, module, "scaffold", "defs", "elt_dagster.EltPipeline", "orders")
    assert scaffolded.returncode == 0, scaffolded.stderr[-2000:]
    folder = root / "src" / module / "defs" / "orders"
    assert "type: elt_dagster.EltPipeline" in (folder / "defs.yaml").read_text()
    assert "config: orders.yaml" in (folder / "defs.yaml").read_text()
    assert "# An elt-dagster pipeline" in (folder / "orders.yaml").read_text()
    assert (folder / "data" / "sample.csv").read_text() == SAMPLE_CSV

    checked = dg_run(root, module, "check", "defs")
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-2000:]
    defs = dg_run(root, module, "list", "defs", "--json")
    assert defs.returncode == 0, defs.stderr[-2000:]
    assets = {a["asset_key"] for a in json.loads(defs.stdout)["assets"]}
    assert {"orders/extracted", "orders/validated", "orders/orders", "orders/config_history"} <= assets

    starter = folder / "orders.yaml"  # the starter runs as scaffolded, in the test's own schema
    starter.write_text(starter.read_text().replace("target:\n", f"target:\n  db_schema: {db_schema}\n", 1))
    loaded = load_defs(root)
    with dg.instance_for_test() as instance:
        assert loaded.resolve_job_def("orders_elt").execute_in_process(instance=instance).success
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".orders') == [(2,)]


def test_a_run_refuses_a_yaml_whose_table_changed_since_the_definitions_loaded(
    project: tuple[Path, str], db_schema: str, database_url: str
) -> None:
    root, module = project
    config = add_pipeline(root, module, "shop", shop_yaml(db_schema, path="data"))
    defs = load_defs(root)
    config.write_text(config.read_text().replace("table: orders", "table: orders_v2"))
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("shop_elt").execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.error.message
    assert f"target is now '{db_schema}.orders_v2' (was '{db_schema}.orders')" in message
    assert "reload the code location" in message
    tables = fetch(database_url, "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", db_schema)
    assert ("orders_v2",) not in tables

    # an edit that leaves the assets as they are (a new declared column) applies at the next run
    config.write_text(
        shop_yaml(db_schema, path="data", columns={"id": "integer", "amount": "decimal", "note": "string"})
    )
    with dg.instance_for_test() as instance:
        assert defs.resolve_job_def("shop_elt").execute_in_process(instance=instance).success
    columns = fetch(
        database_url,
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = 'orders'",
        db_schema,
    )
    assert ("note",) in columns


def test_two_components_naming_the_same_pipeline_get_one_line_naming_both_files(
    project: tuple[Path, str], db_schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    root, module = project
    first = add_pipeline(root, module, "a_shop", shop_yaml(db_schema, path="data"))
    second = add_pipeline(root, module, "b_shop", shop_yaml(db_schema, path="data", table="orders_copy"))
    add_pipeline(root, module, "c_broken", "sources: [unclosed\n")  # a second `pipeline.yaml`: a key of its own
    defs = load_defs(root)
    assert defs.resolve_job_def("shop_elt") is not None
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    assert dg.AssetKey(["shop", "orders"]) in specs and dg.AssetKey(["shop", "orders_copy"]) not in specs
    message = f"{second}: name: pipeline 'shop' is already defined by {first}"
    assert message in (specs[dg.AssetKey(["config_errors", "pipeline"])].description or "")
    assert "YAML syntax error" in (specs[dg.AssetKey(["config_errors", "pipeline_2"])].description or "")
    assert message in caplog.text
