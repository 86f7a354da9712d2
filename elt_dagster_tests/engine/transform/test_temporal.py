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


# --- beyond the years 1 to 9999 ----------------------------------------------------------------------

PAST_9999 = ["99999-01-01", "10000-01-01", "+10000-01-01", "0000-01-01", "-0001-01-01", "31.12.99999"]


@pytest.mark.parametrize("type_name", ["date", "timestamp", "timestamptz"])
@pytest.mark.parametrize("raw", [*PAST_9999, "10000-01-01 00:00:00", "99999-12-31T23:59:59Z"])
def test_a_year_outside_1_to_9999_fails_alone(type_name: str, raw: str) -> None:
    good = "2024-01-31"
    [first, odd, last] = standardize(type_name, [good, raw, good])
    assert odd == (None, True)
    assert first == last and first[0] is not None and first[0].startswith(good)


@pytest.mark.parametrize("type_name", ["timestamp", "timestamptz"])
@pytest.mark.parametrize(
    "raw", ["9999-12-31T23:00:00-05:00", "9999-12-31 23:00:00 -05:00", "0001-01-01T01:00:00+05:00"]
)
def test_a_zone_that_carries_a_timestamp_past_the_years_fails(type_name: str, raw: str) -> None:
    """In UTC the year is 10000 (or 0): PostgreSQL's range holds it, but Arrow, and so `min`/`max`, can't read it."""
    assert standardize(type_name, [raw, "2024-01-31"])[0] == (None, True)
    assert standardize(type_name, [raw, "31.01.2024 10:00"])[0] == (None, True)  # the same on the slow path


@pytest.mark.parametrize("type_name", ["timestamp", "timestamptz"])
def test_year_zero_beside_an_impossible_date_fails_alone(type_name: str) -> None:
    """Cast one by one (an impossible date fails the bulk cast), year 0 was turned into a Python datetime:
    OverflowError, the whole run failed."""
    values = ["0000-01-01", "2024-02-30", "2024-01-31T10:00:00", "0000-06-01T10:00:00Z"]
    result = standardize(type_name, values)
    assert [failed for _, failed in result] == [True, True, False, True]
    assert result[2][0] is not None and result[2][0].startswith("2024-01-31 10:00:00")


def test_the_latest_instant_is_kept() -> None:
    check("timestamptz", "9999-12-31T23:59:59.999999Z", "9999-12-31 23:59:59.999999Z")
    check("date", "9999-12-31", "9999-12-31")
    check("timestamp", "0001-01-01T00:00:00", "0001-01-01 00:00:00")
