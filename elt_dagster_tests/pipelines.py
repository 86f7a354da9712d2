"""The `shop` pipeline the Dagster-level tests share: one YAML, written with the options a test needs."""

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
