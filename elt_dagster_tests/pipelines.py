"""Pipelines the tests share: `shop` (Dagster-level tests), `items` (the fault suite) and a daily-partitioned one."""

from __future__ import annotations


def shop_yaml(
    db_schema: str,
    *,
    path: str = "../data",
    table: str = "orders",
    columns: dict[str, str] | None = None,
    strict: bool = False,
    extra: str = "",
) -> str:
    """A pipeline `shop` loading local files at `path` into `<db_schema>.<table>`; `extra` is appended as is."""
    declared = columns if columns is not None else {"id": "integer", "amount": "decimal"}
    lines = ["name: shop", "sources:", "  - type: local", f"    path: {path}", "target:", f"  table: {table}"]
    lines += [f"  db_schema: {db_schema}", "schema:", "  columns:"]
    lines += [f"    {name}: {type_name}" for name, type_name in declared.items()]
    lines += ["  strict_mode: true"] if strict else []
    return "\n".join(lines) + "\n" + extra


ITEMS_YAML = """
sources:
  - path: ../data
target:
  table: items
  db_schema: {schema}
schema:
  columns:
    id: integer
    name: string
"""
"""`items (id, name)` from the files of ../data, for `make_pipeline` (which fills in `{schema}`)."""


def items_yaml(target_extra: str = "") -> str:
    """ITEMS_YAML with `target_extra` lines (e.g. `mode: merge`) added to its target."""
    extra = "".join(f"  {line}\n" for line in target_extra.splitlines() if line.strip())
    return ITEMS_YAML.replace("schema:\n  columns", extra + "schema:\n  columns") if extra else ITEMS_YAML


DAILY_YAML = """
sources:
  - path: ../data
target:
  table: events
  db_schema: {schema}
schema:
  columns:
    id: integer
    name: string
partitions:
  by: day
  start: "2024-01-01"
  path_date: "%Y-%m-%d"
"""
"""`events (id, name)` partitioned by day from the files of ../data/<YYYY-MM-DD>/, for `make_pipeline`."""


def daily_yaml(partitions_extra: str = "", name: str | None = None) -> str:
    """DAILY_YAML with `partitions_extra` lines (e.g. `end: ...`) added to its partitions, and a `name:`."""
    text = DAILY_YAML + "".join(f"  {line}\n" for line in partitions_extra.splitlines() if line.strip())
    return f"name: {name}\n{text.lstrip()}" if name else text
