"""Standardising dates and timestamps."""

from __future__ import annotations

import pyarrow as pa
import pytest

from elt_dagster.engine.transform.temporal import standardize_timestamp
from elt_dagster_tests.engine.transform.helpers import check, standardize

# --- dates and timestamps ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-01-31", "2024-01-31"),
        (" 2024-01-31 ", "2024-01-31"),
        ("31.01.2024", "2024-01-31"),
        ("01/31/2024", "2024-01-31"),
        ("2024/01/31", "2024-01-31"),
        ("5 Jan 2024", "2024-01-05"),
        ("05 January 2024", "2024-01-05"),
        ("Jan 5 2024", "2024-01-05"),
        ("20240131", "2024-01-31"),
        ("2024-02-29", "2024-02-29"),
        ("2024-02-30", None),
        ("2023-02-29", None),
        ("30.02.2024", None),
        ("02/30/2024", None),
        ("2024-13-01", None),
        ("31/01/2024", None),
        ("yesterday", None),
    ],
)
def test_date(raw: str, expected: str | None) -> None:
    check("date", raw, expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-01-31T10:00:00", "2024-01-31 10:00:00"),
        ("2024-01-31 10:00:00", "2024-01-31 10:00:00"),
        ("2024-01-31T10:00", "2024-01-31 10:00:00"),
        ("2024-01-31T10:00:00.123456", "2024-01-31 10:00:00.123456"),
        ("2024-01-31T10:00:00.5", "2024-01-31 10:00:00.500000"),
        ("2024-01-31T10:00:00Z", "2024-01-31 10:00:00"),
        ("2024-01-31T10:00:00.250Z", "2024-01-31 10:00:00.250000"),
        ("2024-01-31T10:00:00+02:00", "2024-01-31 08:00:00"),
        ("2024-01-31 10:00:00-0500", "2024-01-31 15:00:00"),
        ("2024-01-31T23:30:00-01:00", "2024-02-01 00:30:00"),
        ("2024-01-31", "2024-01-31 00:00:00"),
        ("31.01.2024 10:00", "2024-01-31 10:00:00"),
        ("31.01.2024 10:00:05", "2024-01-31 10:00:05"),
        ("01/31/2024 10:00:00 PM", "2024-01-31 22:00:00"),
        ("2024-02-30 10:00", None),
        ("2024-02-30T10:00:00+02:00", None),
        ("30.02.2024 10:00", None),
        ("2024-01-31T25:00:00", None),
        ("garbage", None),
    ],
)
def test_timestamp(raw: str, expected: str | None) -> None:
    check("timestamp", raw, expected)


def test_timestamp_batch_with_an_impossible_date_keeps_the_others() -> None:
    assert standardize("timestamp", ["2024-01-31T10:00:00", "2024-02-30T10:00:00", "2024-03-01 12:30"]) == [
        ("2024-01-31 10:00:00", False),
        (None, True),
        ("2024-03-01 12:30:00", False),
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-01-31T10:00:00+02:00", "2024-01-31 08:00:00Z"),
        ("2024-01-31T10:00:00Z", "2024-01-31 10:00:00Z"),
        ("2024-01-31 10:00:00", "2024-01-31 10:00:00Z"),  # no zone: taken as UTC
        ("2024-01-31 10:00:00+05:30", "2024-01-31 04:30:00Z"),
        ("2024-02-30T10:00:00Z", None),
    ],
)
def test_timestamptz(raw: str, expected: str | None) -> None:
    check("timestamptz", raw, expected)


def test_timestamp_with_space_before_offset() -> None:
    check("timestamp", "2024-01-31 10:00:00 +02:00", "2024-01-31 08:00:00")


def test_timestamp_with_nanoseconds() -> None:
    [(value, failed)] = standardize("timestamp", ["2024-01-31 10:00:00.123456789"])
    assert failed is False
    assert value is not None and value.startswith("2024-01-31 10:00:00.12345")


def test_hour_only_timestamps_parse_the_same_in_clean_and_mixed_batches() -> None:
    clean = standardize_timestamp(pa.array(["2024-01-31T10"]))[0].to_pylist()
    mixed = standardize_timestamp(pa.array(["2024-01-31T10", "31.01.2024 10:00"]))[0].to_pylist()
    assert clean == mixed[:1] == ["2024-01-31 10:00:00"]
