"""Helpers for the file-source tests: a pipeline over `tmp_path/data`, dry-run it, read the staging files."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from elt_dagster.engine import staging
from elt_dagster.engine.config import LoadedConfig, load_config
from elt_dagster.engine.dry_run import CheckReport, check_pipeline
from elt_dagster_tests.conftest import write


def pipeline(
    tmp_path: Path,
    columns: dict[str, str] | None = None,
    *,
    strict: bool = False,
    path: str = "data",
    source_options: str = "",
) -> LoadedConfig:
    """Load a pipeline reading `tmp_path/<path>` with the given declared columns and source options."""
    (tmp_path / "data").mkdir(exist_ok=True)
    lines = ["sources:", "  - type: local", f"    path: {path}"]
    lines += [f"    {line}" for line in source_options.splitlines() if line.strip()]
    lines += ["target:", "  table: t"]
    if columns is not None or strict:
        lines += ["schema:", f"  strict_mode: {'true' if strict else 'false'}", "  columns:"]
        lines += [f"    {name}: {type_name}" for name, type_name in (columns or {}).items()]
        if not columns:
            lines[-1] += " {}"
    return load_config(write(tmp_path / "pipeline.yaml", "\n".join(lines) + "\n"))


def read_staging(path: Path) -> list[dict[str, Any]]:
    """The staging CSV's rows; an unquoted empty field is NULL (None), a quoted one is ''."""
    with path.open(encoding="utf-8", newline="") as handle:
        names = next(csv.reader(handle))
    types = {name: pa.int64() if name == staging.SOURCE_ROW_COLUMN else pa.string() for name in names}
    table = pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=False, null_values=[""]
        ),
    )
    return table.to_pylist()


def run(loaded: LoadedConfig, tmp_path: Path) -> tuple[CheckReport, list[dict[str, Any]]]:
    """Extract every source file of `loaded` (a dry run) and read the staging rows back."""
    result = check_pipeline(loaded, tmp_path / "staging", keep_rows=0)
    assert result.staging_path == tmp_path / "staging" / staging.STAGING_FILE
    return result, read_staging(result.staging_path)


def rejects(result: CheckReport) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.rejects_path.read_text(encoding="utf-8").splitlines()]


def business(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows without the `_elt_` bookkeeping columns."""
    return [{k: v for k, v in row.items() if not k.startswith("_elt_")} for row in rows]


def data(tmp_path: Path, name: str) -> Path:
    return tmp_path / "data" / name
