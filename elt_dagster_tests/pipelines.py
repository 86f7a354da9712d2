"""Pipelines the tests share: `shop` (Dagster-level tests) and `items` (the fault suite)."""

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
