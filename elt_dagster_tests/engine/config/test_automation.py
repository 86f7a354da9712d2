"""The automation section: top-level YAML keys gathered into `config.automation`, cron checked without Dagster."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from elt_dagster.engine.config import Automation
from elt_dagster_tests.engine.config.yaml_files import SOURCES, config_error, load

TARGET = "target:\n  table: t\n"


@pytest.mark.parametrize(
    ("written", "cron"),
    [("*/15 * * * *", "*/15 * * * *"), ("@daily", "0 0 * * *"), ("@HOURLY", "0 * * * *"), ("0 9 * * MON-FRI", None)],
)
def test_cron_expressions_and_aliases_are_accepted(tmp_path: Path, written: str, cron: str | None) -> None:
    loaded = load(tmp_path, SOURCES + TARGET + f"schedule: '{written}'\n")
    assert loaded.config.automation.schedule == (cron or written)
    assert loaded.config.automation.cron == (cron or written)


@pytest.mark.parametrize("written", ["* * * * * *", "99 * * * *", "0 0 30 2 *", "every hour", "@often"])
def test_invalid_cron_names_schedule_and_its_line(tmp_path: Path, written: str) -> None:
    message, _ = config_error(tmp_path, SOURCES + TARGET + f"schedule: '{written}'\n")
    assert f"schedule (line 6): '{written}' is not a cron expression" in message
    assert "automation" not in message


def test_the_section_gathers_the_top_level_keys(tmp_path: Path) -> None:
    extra = (
        "timezone: Europe/Berlin\nstart_time: '2026-12-01 08:00'\nend_time: '2026-12-31 18:00'\n"
        "monitor_interval_seconds: 30\nmax_rejected_ratio: 0.1\nrejected_ratio_severity: error\n"
    )
    automation = load(tmp_path, SOURCES + TARGET + extra).config.automation
    assert (automation.timezone, automation.monitor_interval_seconds) == ("Europe/Berlin", 30)
    assert (automation.max_rejected_ratio, automation.rejected_ratio_severity) == (0.1, "error")
    assert automation.cron == "0 * * * *"  # a window alone runs hourly
    start, _ = automation.window()
    assert start is not None and start.utcoffset() is not None and start.hour == 8
    assert automation.window_problem(datetime(2026, 11, 30, tzinfo=UTC)) is not None
    assert automation.window_problem(datetime(2026, 12, 15, tzinfo=UTC)) is None


def test_defaults_without_any_automation_key(tmp_path: Path) -> None:
    automation = load(tmp_path, SOURCES + TARGET).config.automation
    assert automation == Automation()
    assert automation.cron is None and automation.timezone == "UTC"


def test_errors_in_the_section_name_the_key_as_written(tmp_path: Path) -> None:
    message, _ = config_error(tmp_path, SOURCES + TARGET + "monitor_interval_seconds: 1\n")
    assert "monitor_interval_seconds (line 6): Input should be greater than or equal to 5" in message
    message, _ = config_error(tmp_path, SOURCES + TARGET + "start_time: '2024-06-02'\nend_time: '2024-06-01'\n")
    assert "end_time (line 7): end_time (2024-06-01) must be after start_time (2024-06-02)" in message


def test_an_automation_key_is_not_part_of_the_format(tmp_path: Path) -> None:
    message, _ = config_error(tmp_path, SOURCES + TARGET + "automation:\n  schedule: '@daily'\n")
    assert "automation (line 6): unknown key" in message


def test_loading_a_config_imports_no_dagster_pyarrow_or_requests(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    (tmp_path / "data").mkdir()
    path.write_text(SOURCES + TARGET + "schedule: '@daily'\n")
    probe = (
        "import sys\nfrom elt_dagster.engine.config import load_config\n"
        f"load_config({str(path)!r})\n"
        "print(sorted(m for m in ('dagster', 'pyarrow', 'requests', 'psycopg') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
