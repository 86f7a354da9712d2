"""`partitions:` in the YAML: its keys and their errors (key and line), and the date a file's path holds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path, PurePath

import pytest

from elt_dagster.engine.config.partitions import PartitionWindow
from elt_dagster_tests.engine.config.yaml_files import SOURCES, config_error, load

TARGET = "target:\n  table: events\n"


def partitions(body: str) -> str:
    return SOURCES + TARGET + "partitions:\n" + "".join(f"  {line}\n" for line in body.strip().splitlines())


def test_a_daily_partitioning_with_its_defaults(tmp_path: Path) -> None:
    loaded = load(tmp_path, partitions('by: day\nstart: "2024-01-01"\npath_date: "%Y-%m-%d"'))
    parts = loaded.config.partitions
    assert parts is not None
    assert (parts.by, parts.timezone, parts.max_partitions_per_run, parts.concurrent_runs, parts.end) == (
        "day",
        "UTC",
        1,
        1,
        None,
    )
    assert parts.window()[0] == datetime(2024, 1, 1, tzinfo=parts.zone)
    assert loaded.config.sources[0].file_pattern(partitioned=True) == "**/*"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('by: minute\nstart: "2024-01-01"\npath_date: "%Y-%m-%d"', "partitions.by (line 7)"),
        ('by: day\npath_date: "%Y-%m-%d"', "partitions.start"),
        ('by: day\nstart: "2024-01-01"', "partitions.path_date"),
        ('by: day\nstart: "someday"\npath_date: "%Y-%m-%d"', "'someday' is not a time"),
        ('by: day\nstart: "2024-01-01"\npath_date: "%Y-%m"', "does not name a day"),
        (
            'by: hour\nstart: "2024-01-01"\npath_date: "%Y-%m-%d"',
            "does not name an hour: it needs a year (%Y or %y) and a day (%d, or %j) and an hour (%H)",
        ),
        ('by: month\nstart: "2024-01-01"\npath_date: "%m"', "needs a year"),
        ('by: day\nstart: "2024-01-01"\npath_date: "%Y-%m-%d-%Q"', "uses %Q: path_date knows"),
        ('by: day\nstart: "2024-01-02"\nend: "2024-01-01"\npath_date: "%Y-%m-%d"', "must be after partitions.start"),
        ('by: day\nstart: "2024-01-01"\npath_date: "%Y-%m-%d"\ntimezone: Mars/Base', "unknown timezone"),
        ('by: day\nstart: "2024-01-01"\npath_date: "%Y-%m-%d"\nconcurrent_runs: 0', "partitions.concurrent_runs"),
        ('by: day\nstart: "2024-01-01"\npath_date: "%Y-%m-%d"\nfolders: 3', "partitions.folders"),
        ('by: files\nstart: "2024-01-01"', "partitions.start: only for time windows"),
        ('by: day\nstart: "2024-01-01"\npath_date: "%Y-%m-%d"\nfiles_per_partition: 9', "only with by: files"),
        ("by: files\nfiles_per_partition: 0", "partitions.files_per_partition"),
    ],
)
def test_each_wrong_key_is_one_line_naming_it(tmp_path: Path, body: str, expected: str) -> None:
    message, _ = config_error(tmp_path, partitions(body))
    assert expected in message and "\n" not in message.strip()


def test_partitions_by_files_take_a_batch_size(tmp_path: Path) -> None:
    parts = load(tmp_path, partitions("by: files\nfiles_per_partition: 100")).config.partitions
    assert parts is not None and (parts.by_files, parts.batch_size) == (True, 100)
    default = load(tmp_path, partitions("by: files"), name="other").config.partitions
    assert default is not None and default.batch_size == 500


def test_partitions_by_files_refuse_an_api_source(tmp_path: Path) -> None:
    text = partitions("by: files") + ""
    text = text.replace("    path: data\n", "    path: data\n  - type: api\n    url: http://127.0.0.1:9/x\n")
    message, _ = config_error(tmp_path, text)
    assert "an API source needs time windows" in message


def test_partitions_with_a_schedule_is_refused_at_its_key(tmp_path: Path) -> None:
    text = partitions('by: day\nstart: "2024-01-01"\npath_date: "%Y-%m-%d"') + 'schedule: "@daily"\n'
    message, _ = config_error(tmp_path, text)
    assert "partitions (line 6)" in message and "schedule and partitions don't go together" in message


def test_partitions_with_merge_is_refused_at_its_key(tmp_path: Path) -> None:
    text = partitions('by: day\nstart: "2024-01-01"\npath_date: "%Y-%m-%d"').replace(
        "  table: events\n", "  table: events\n  mode: merge\n  primary_key: [id]\n"
    )
    message, _ = config_error(tmp_path, text)
    assert "partitions (line 8)" in message and "use target.mode append with partitions" in message


@pytest.mark.parametrize(
    ("path_date", "path", "found"),
    [
        ("%Y-%m-%d", "2024-01-02/a.csv", datetime(2024, 1, 2)),
        ("%Y-%m-%d", "x/events_2024-03-04.csv.gz", datetime(2024, 3, 4)),
        ("%Y/%m/%d", "2024/05/06/a.csv", datetime(2024, 5, 6)),
        ("%Y%m%d_%H", "dump_20240102_07.jsonl", datetime(2024, 1, 2, 7)),
        ("year=%Y/month=%m/day=%d", "year=2024/month=12/day=31/p.json", datetime(2024, 12, 31)),
        ("%Y-%m-%d", "2024-13-45/a.csv", None),  # not a date: no partition
        ("%Y-%m-%d", "1999-1-1.csv", None),
        ("%Y-%m-%d", "2024-13-45_2024-01-09.csv", datetime(2024, 1, 9)),  # the first real date
    ],
)
def test_the_date_in_a_files_path(tmp_path: Path, path_date: str, path: str, found: datetime | None) -> None:
    by = "hour" if "%H" in path_date else "day"
    loaded = load(tmp_path, partitions(f'by: {by}\nstart: "2024-01-01"\npath_date: "{path_date}"'))
    assert loaded.config.partitions is not None
    date = loaded.config.partitions.date_in_path(PurePath(path))
    assert date == (found.replace(tzinfo=UTC) if found else None)


def test_a_window_holds_its_start_not_its_end() -> None:
    window = PartitionWindow("2024-01-02", datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 3, tzinfo=UTC))
    assert window.contains(datetime(2024, 1, 2, tzinfo=UTC))
    assert not window.contains(datetime(2024, 1, 3, tzinfo=UTC))
