"""Plain-text renderings of tables, for the Dagster UI (markdown) and the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MAX_CELL = 60


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    text = text.replace("\r", " ").replace("\n", " ")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def markdown_table(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table; long cells are cut, pipes escaped."""
    head = "| " + " | ".join(_cell(n).replace("|", "\\|") for n in names) + " |"
    rule = "| " + " | ".join("---" for _ in names) + " |"
    body = ["| " + " | ".join(_cell(v).replace("|", "\\|") for v in row) + " |" for row in rows]
    return "\n".join([head, rule, *body])


def text_table(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An aligned plain-text table for the terminal."""
    cells = [[_cell(n) for n in names], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(names))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
