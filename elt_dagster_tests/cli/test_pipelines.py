"""How the commands find a pipeline by name: in ./configs, in env ELT_CONFIG_DIR, or, from a dg project's root,
among the YAML files its `elt_dagster.EltPipeline` components name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from elt_dagster.cli import main
from elt_dagster.cli.pipelines import component_configs, dg_defs_folder, find_pipeline
from elt_dagster.engine.errors import PipelineError
from elt_dagster.engine.run import run_pipeline
from elt_dagster_tests.conftest import write
from elt_dagster_tests.pipelines import shop_yaml

COMPONENT = "type: elt_dagster.EltPipeline\nattributes:\n  config: {config}\n"
PYPROJECT = (
    '[project]\nname = "proj"\n\n[tool.dg]\ndirectory_type = "project"\n\n[tool.dg.project]\nroot_module = "{module}"\n'
)


def dg_project(root: Path, db_schema: str = "public", module: str = "proj", layout: str = "src") -> Path:
    """A dg project at `root` with one EltPipeline component (pipeline `shop`, defs/shop/) beside another
    component type; returns the defs folder."""
    write(root / "pyproject.toml", PYPROJECT.format(module=module))
    defs = (root / "src" if layout == "src" else root) / module / "defs"
    write(defs / "shop" / "defs.yaml", COMPONENT.format(config="pipeline.yaml"))
    write(defs / "shop" / "pipeline.yaml", shop_yaml(db_schema, path="data"))
    write(defs / "shop" / "data" / "a.csv", "id,amount\n1,1.50\n2,abc\n")
    write(defs / "other" / "defs.yaml", "type: dagster_sling.SlingReplicationCollectionComponent\nattributes: {}\n")
    return defs


@pytest.fixture
def in_dg_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current folder is a dg project's root, and env ELT_CONFIG_DIR is unset (as for a user of the project)."""
    monkeypatch.delenv("ELT_CONFIG_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_from_a_dg_projects_root_a_pipeline_is_found_by_its_name(in_dg_project: Path) -> None:
    defs = dg_project(in_dg_project)
    loaded = find_pipeline("shop")
    assert loaded.path == (defs / "shop" / "pipeline.yaml").resolve()


def test_a_flat_layout_and_a_defs_yaml_of_several_components(in_dg_project: Path) -> None:
    defs = dg_project(in_dg_project, layout="flat")
    write(defs / "more" / "defs.yaml", "---\n".join(COMPONENT.format(config=c) for c in ("a.yaml", "/abs/b.yaml")))
    assert dg_defs_folder(in_dg_project) == defs
    assert component_configs(defs) == [defs / "more" / "a.yaml", Path("/abs/b.yaml"), defs / "shop" / "pipeline.yaml"]


def test_elt_config_dir_wins_over_the_dg_project(in_dg_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dg_project(in_dg_project)
    monkeypatch.setenv("ELT_CONFIG_DIR", str(in_dg_project / "elsewhere"))
    with pytest.raises(PipelineError, match=r"no pipeline named 'shop' in .*elsewhere \(give its name"):
        find_pipeline("shop")


def test_outside_a_dg_project_the_configs_folder_is_searched(in_dg_project: Path) -> None:
    write(in_dg_project / "pyproject.toml", '[project]\nname = "not_dg"\n')
    write(in_dg_project / "configs" / "shop.yaml", shop_yaml("public"))
    write(in_dg_project / "data" / "a.csv", "id,amount\n1,1.50\n")
    assert dg_defs_folder(in_dg_project) is None
    assert find_pipeline("shop").path == (in_dg_project / "configs" / "shop.yaml").resolve()


def test_an_unknown_name_in_a_dg_project_says_where_it_looked(in_dg_project: Path, capsys) -> None:
    defs = dg_project(in_dg_project)
    assert main(["rejects", "nothing_here"]) == 1
    assert capsys.readouterr().err == (
        f"error: no pipeline named 'nothing_here' in the EltPipeline components of {defs.resolve()} "
        "(give its name or its YAML file)\n"
    )


def test_rejects_by_name_from_a_dg_projects_root(in_dg_project: Path, db_schema: str, capsys) -> None:
    dg_project(in_dg_project, db_schema)
    assert run_pipeline(find_pipeline("shop")).invalid == 1
    assert main(["rejects", "shop", "--format", "json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert (record["column_name"], record["raw_record"]["amount"]) == ("amount", "abc")
