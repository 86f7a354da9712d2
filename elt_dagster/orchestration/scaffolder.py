"""`dg scaffold defs elt_dagster.EltPipeline <name>`: a defs.yaml, a commented starter pipeline YAML and sample data."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import dagster as dg

STATE_FOLDER_IGNORE = ".elt/"  # the embedded PostgreSQL and the runs' staging files, made where dg runs

STARTER_PIPELINE = """\
# An elt-dagster pipeline: where the data comes from, how it is checked, where it goes.
# Every key is documented in elt-dagster's docs/yaml-reference.md. Check this file with: elt-dagster validate {file}
name: {name}                 # names the asset group and the jobs ({name}_elt, {name}_preview)
sources:
  - type: local              # local files: csv, txt/tsv, json, jsonl/ndjson, optionally .gz
    path: data               # a folder or one file, relative to this YAML
    pattern: "*.csv"
  # - type: api              # a JSON HTTP API
  #   url: https://api.example.com/v1/orders
  #   auth:
  #     type: bearer
  #     token: ${{ORDERS_TOKEN}}
target:
  table: {name}              # created if missing, in db_schema (default public)
  mode: append               # append: new rows only (row-hash dedup) | merge: upsert on primary_key
  # url: ${{WAREHOUSE_URL}}  # default: env ELT_DATABASE_URL, else the embedded PostgreSQL
schema:
  columns:                   # name: type (integer, bigint, float, decimal, string, boolean, date, timestamp,
    id: integer              #   timestamptz, json), or a mapping with the type and rules (see the docs):
    customer: string
    amount: {{type: decimal, not_null: true, min: 0, description: Order total}}
    created_at: timestamp    # e.g. {{type: date, format: "%d/%m/%Y"}} or {{type: string, allowed: [open, paid]}}
  strict_mode: false         # true: keep only the declared columns
# schedule: "@hourly"        # a cron; with start_time / end_time / timezone for a window
"""

SAMPLE_CSV = """\
id,customer,amount,created_at
1,Ada,12.50,2026-01-05 10:00
2,Grace,7.25,2026-01-06 11:30
"""


def ignore_state_folder(project_root: Path) -> None:
    """Add `.elt/` to the project's `.gitignore` (created if missing), once."""
    gitignore = project_root / ".gitignore"
    text = gitignore.read_text(encoding="utf-8") if gitignore.is_file() else ""
    if STATE_FOLDER_IGNORE in (line.strip() for line in text.splitlines()):
        return
    separator = "" if not text or text.endswith("\n") else "\n"
    entry = f"# elt-dagster: the embedded PostgreSQL and run staging files\n{STATE_FOLDER_IGNORE}\n"
    gitignore.write_text(f"{text}{separator}{entry}", encoding="utf-8")


def project_root_of(request: dg.ScaffoldRequest) -> Path | None:
    """The dg project's root: dg's own answer, else the nearest folder above the target with a pyproject.toml."""
    if request.project_root is not None:
        return request.project_root
    return next((p for p in request.target_path.resolve().parents if (p / "pyproject.toml").is_file()), None)


class EltPipelineScaffolder(dg.Scaffolder):
    """Writes `defs.yaml` (type elt_dagster.EltPipeline, config: <name>.yaml), the starter YAML and `data/`, and
    adds `.elt/` to the project's `.gitignore`."""

    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        folder = request.target_path
        name = re.sub(r"[^A-Za-z0-9_]", "_", folder.name)
        name = name if name[:1].isalpha() else f"p_{name}"
        config_file = f"{name}.yaml"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "defs.yaml").write_text(
            textwrap.dedent(f"""\
                type: {request.type_name}
                attributes:
                  config: {config_file}   # the pipeline YAML, relative to this file
            """),
            encoding="utf-8",
        )
        (folder / config_file).write_text(STARTER_PIPELINE.format(name=name, file=config_file), encoding="utf-8")
        (folder / "data").mkdir(exist_ok=True)
        (folder / "data" / "sample.csv").write_text(SAMPLE_CSV, encoding="utf-8")
        root = project_root_of(request)
        if root is not None:
            ignore_state_folder(root)
