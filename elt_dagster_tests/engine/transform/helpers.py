"""Helpers for the standardisation tests: run values through the standardiser a type uses."""

from __future__ import annotations

import pyarrow as pa

from elt_dagster.engine.types import TYPES


def standardize(type_name: str, values: list[str | None]) -> list[tuple[str | None, bool]]:
    """(canonical value, failed) for each value, through the standardizer the pipeline uses for `type_name`."""
    canonical, failed = TYPES[type_name].standardize(pa.array(values, pa.string()))
    assert len(canonical) == len(failed) == len(values)
    return list(zip(canonical.to_pylist(), failed.to_pylist(), strict=True))


def check(type_name: str, raw: str, expected: str | None) -> None:
    """`raw` converts to `expected`; expected None means it must fail."""
    [(value, failed)] = standardize(type_name, [raw])
    if expected is None:
        assert (value, failed) == (None, True), f"{raw!r} should fail as {type_name}"
    else:
        assert (value, failed) == (expected, False), f"{raw!r} as {type_name}"
