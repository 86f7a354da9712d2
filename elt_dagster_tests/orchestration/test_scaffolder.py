"""`dg scaffold defs elt_dagster.EltPipeline <name>`: the files it writes, and `.elt/` in the project's .gitignore.

The scaffold through the real `dg` command is in orchestration/test_component.py and deployment/test_dg_from_zero.py.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from elt_dagster.orchestration.scaffolder import (
    SAMPLE_CSV,
    STATE_FOLDER_IGNORE,
    EltPipelineScaffolder,
    ignore_state_folder,
)


def scaffold(target: Path, project_root: Path | None) -> None:
    """What `dg scaffold defs elt_dagster.EltPipeline <target's name>` asks the scaffolder to do."""
    request = dg.ScaffoldRequest(
        type_name="elt_dagster.EltPipeline",
        target_path=target,
        scaffold_format="yaml",
        project_root=project_root,
        params=None,
    )
    EltPipelineScaffolder().scaffold(request)


def ignored_lines(root: Path) -> list[str]:
    return [line for line in (root / ".gitignore").read_text().splitlines() if line == STATE_FOLDER_IGNORE]


def test_scaffolding_writes_the_component_the_starter_and_sample_data(tmp_path: Path) -> None:
    folder = tmp_path / "src" / "proj" / "defs" / "my-orders"
    scaffold(folder, tmp_path)
    assert (folder / "defs.yaml").read_text().startswith("type: elt_dagster.EltPipeline\n")
    assert "config: my_orders.yaml" in (folder / "defs.yaml").read_text()
    assert "name: my_orders " in (folder / "my_orders.yaml").read_text()
    assert (folder / "data" / "sample.csv").read_text() == SAMPLE_CSV


def test_scaffolding_creates_the_gitignore_with_the_state_folder(tmp_path: Path) -> None:
    scaffold(tmp_path / "src" / "proj" / "defs" / "orders", tmp_path)
    assert ignored_lines(tmp_path) == [".elt/"]


@pytest.mark.parametrize("existing", ["__pycache__/\n.venv/\n", "__pycache__/\n.venv/"])
def test_scaffolding_twice_appends_the_state_folder_once_and_keeps_the_rest(tmp_path: Path, existing: str) -> None:
    (tmp_path / ".gitignore").write_text(existing)
    scaffold(tmp_path / "src" / "proj" / "defs" / "orders", tmp_path)
    scaffold(tmp_path / "src" / "proj" / "defs" / "customers", tmp_path)
    text = (tmp_path / ".gitignore").read_text()
    assert text.startswith("__pycache__/\n.venv/\n") and text.endswith(".elt/\n")
    assert ignored_lines(tmp_path) == [".elt/"]


def test_a_gitignore_that_already_ignores_the_state_folder_is_left_as_it_is(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("build/\n.elt/\n")
    ignore_state_folder(tmp_path)
    assert (tmp_path / ".gitignore").read_text() == "build/\n.elt/\n"


def test_without_dgs_project_root_the_nearest_pyproject_folder_is_the_project(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.dg]\n")
    scaffold(tmp_path / "src" / "proj" / "defs" / "orders", None)
    assert ignored_lines(tmp_path) == [".elt/"]
