"""The dry run validates like a run: a file read again exactly is counted and previewed once."""

from __future__ import annotations

from pathlib import Path

import pytest

from elt_dagster.engine.config import load_config
from elt_dagster.engine.dry_run import check_pipeline
from elt_dagster.engine.staging import STAGING_FILE, StagingSpaceError
from elt_dagster_tests.conftest import write


def test_a_file_read_again_exactly_counts_once(tmp_path: Path) -> None:
    write(tmp_path / "data" / "a.csv", "id,name\n1,a\n2,b,extra\n3,\x00\n4,d\n")
    config = write(tmp_path / "p.yaml", "sources:\n  - type: local\n    path: data\ntarget:\n  table: t\n")
    report = check_pipeline(load_config(config), tmp_path / "staging", keep_rows=10)
    assert [(f.rows, f.malformed) for f in report.files] == [(3, 1)]
    assert (report.rows_valid, report.invalid, report.rejected) == (2, 1, 2)
    assert [row["id"] for row in report.first_rows] == ["1", "4"]
    assert len(report.rejects_path.read_text(encoding="utf-8").splitlines()) == 2


def test_first_rows_are_bounded_across_files(tmp_path: Path) -> None:
    write(tmp_path / "data" / "a.csv", "id\n1\n2\n")
    write(tmp_path / "data" / "b.csv", "id\n3\n4\n")
    config = write(tmp_path / "p.yaml", "sources:\n  - type: local\n    path: data\ntarget:\n  table: t\n")
    report = check_pipeline(load_config(config), tmp_path / "staging", keep_rows=3)
    assert [row["id"] for row in report.first_rows] == ["1", "2", "3"]
    assert report.rows_valid == 4


def test_a_full_staging_disk_is_one_line_and_leaves_no_files(tmp_path: Path) -> None:
    write(tmp_path / "data" / "a.csv", "id\n1\n2\n")
    config = write(tmp_path / "p.yaml", "sources:\n  - type: local\n    path: data\ntarget:\n  table: t\n")
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / STAGING_FILE).symlink_to("/dev/full")  # every write fails with ENOSPC, as on a full disk
    with pytest.raises(StagingSpaceError) as raised:
        check_pipeline(load_config(config), staging)
    assert str(staging) in str(raised.value) and "\n" not in str(raised.value)
    assert not staging.exists()


def test_read_is_valid_plus_quarantined_with_malformed_rows_and_invalid_values(tmp_path: Path, capsys) -> None:
    """Issue 24: "3707 read, 3611 valid, 97 quarantined" counted malformed rows as quarantined, not as read."""
    from elt_dagster.cli import main

    write(tmp_path / "data" / "a.csv", "id,amount\n1,1.5\n2,abc\n3,4,extra\n4,2\n")
    yaml = "sources:\n  - type: local\n    path: data\ntarget:\n  table: t\nschema:\n  columns:\n    amount: decimal\n"
    config = write(tmp_path / "p.yaml", yaml)
    report = check_pipeline(load_config(config), tmp_path / "staging", keep_rows=10)
    assert (report.rows_read, report.rows_valid, report.rejected, report.malformed) == (4, 2, 2, 1)
    assert report.rows_read == report.rows_valid + report.rejected
    assert main(["check", str(config)]) == 0
    assert "4 rows read, 2 valid, 2 would be quarantined" in capsys.readouterr().out


def test_check_says_when_a_run_would_stop_at_max_rejected(tmp_path: Path, capsys) -> None:
    from elt_dagster.cli import main

    write(tmp_path / "data" / "a.csv", "id,amount\n1,1.5\n2,abc\n3,x\n4,2\n")
    yaml = "sources:\n  - path: data\ntarget:\n  table: t\nschema:\n  columns:\n    amount: decimal\n  max_rejected: LIMIT\n"
    strict = write(tmp_path / "strict.yaml", yaml.replace("LIMIT", "25%"))
    assert main(["check", str(strict)]) == 1
    assert "a run would stop: 2 of 4 records rejected, past schema.max_rejected: 25%" in capsys.readouterr().out
    lenient = write(tmp_path / "lenient.yaml", yaml.replace("LIMIT", "2"))
    assert main(["check", str(lenient)]) == 0
    assert "a run would stop" not in capsys.readouterr().out
