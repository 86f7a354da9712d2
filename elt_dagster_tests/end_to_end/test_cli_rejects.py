"""`elt-dagster rejects`: the quarantine of a pipeline, filtered by run and reason, as a table, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from elt_dagster.cli import main
from elt_dagster.engine.config import load_config
from elt_dagster.engine.run import run_pipeline
from elt_dagster_tests.conftest import write


@pytest.fixture
def loaded_with_rejects(tmp_path: Path, database_url: str, db_schema: str, monkeypatch: pytest.MonkeyPatch):
    write(tmp_path / "data" / "a.csv", "id,amount\n1,1.5\n2,abc\n3,\n")
    write(tmp_path / "data" / "b.csv", "id,amount\nx,2\n")
    name = f"rej_{db_schema}"
    yaml = f"name: {name}\nsources:\n  - path: ../data\ntarget:\n  table: t\n  db_schema: {db_schema}\n"
    yaml += "schema:\n  columns:\n    id: integer\n    amount: decimal\n"
    config = load_config(write(tmp_path / "configs" / f"{name}.yaml", yaml))
    monkeypatch.setenv("ELT_CONFIG_DIR", str(tmp_path / "configs"))
    report = run_pipeline(config)
    assert report.invalid == 2
    return name, report.run_id, config


def test_rejects_by_name_as_json_with_the_record_and_reason(loaded_with_rejects, capsys) -> None:
    name, run_id, _ = loaded_with_rejects
    assert main(["rejects", name, "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert {(r["column_name"], r["run_id"]) for r in records} == {("amount", run_id), ("id", run_id)}
    assert {r["raw_record"]["amount"] for r in records} == {"abc", "2"}
    assert all("not" in r["reason"] for r in records)


def test_rejects_filtered_by_reason_and_run_as_csv_and_table(loaded_with_rejects, capsys) -> None:
    name, run_id, config = loaded_with_rejects
    assert main(["rejects", str(config.path), "--reason", "DECIMAL", "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0][:3] == ["id", "run_id", "source"] and len(rows) == 2 and rows[1][4] == "amount"
    assert main(["rejects", name, "--run", "another-run"]) == 0
    assert "0 quarantined records match" in capsys.readouterr().out
    assert main(["rejects", name, "--run", run_id, "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "2 quarantined records match, 1 shown" in out and "reason" in out


def test_an_unknown_pipeline_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("ELT_CONFIG_DIR", str(tmp_path))
    assert main(["rejects", "nothing_here"]) == 1
    assert "no pipeline named 'nothing_here'" in capsys.readouterr().err


def test_rejects_replay_recovers_what_the_fixed_yaml_accepts(
    tmp_path: Path, database_url: str, db_schema: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    write(tmp_path / "data" / "a.csv", "id,day\n1,2024-01-31\n2,31/01/2024\n3,someday\n")
    name = f"rep_{db_schema}"
    head = f"name: {name}\nsources:\n  - path: ../data\ntarget:\n  table: t\n  db_schema: {db_schema}\n"
    path = write(tmp_path / "configs" / f"{name}.yaml", head + "schema:\n  columns:\n    day: date\n")
    monkeypatch.setenv("ELT_CONFIG_DIR", str(tmp_path / "configs"))
    assert run_pipeline(load_config(path)).rejected == 2
    write(path, head + "schema:\n  columns:\n    day: {type: date, format: '%d/%m/%Y'}\n")
    assert main(["rejects", "replay", name]) == 0
    out = capsys.readouterr().out
    assert "config version 1" in out  # run_pipeline alone records no version; the replay records its own
    assert "replayed 2 quarantined records: 1 recovered (1 inserted" in out and "1 remain in quarantine" in out
    assert main(["rejects", "replay", str(path)]) == 0  # by its YAML file too; nothing more to recover
    assert "0 recovered" in capsys.readouterr().out
    assert main(["rejects", name, "--format", "json"]) == 0
    assert [r["raw_record"]["day"] for r in json.loads(capsys.readouterr().out)] == ["someday"]


def test_rejects_takes_one_pipeline(loaded_with_rejects, capsys) -> None:
    name, _, _ = loaded_with_rejects
    assert main(["rejects", name, "other"]) == 1
    assert "`rejects PIPELINE` or `rejects replay PIPELINE`" in capsys.readouterr().err


def test_sixty_bad_amounts_are_one_reason_of_sixty_with_each_value_listed(
    tmp_path: Path, database_url: str, db_schema: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Issue 24: the kind of a reason is counted apart from the value; the values stay visible per record."""
    lines = "".join(f'{i},"{i},063.00"\n' for i in range(1, 61))
    write(tmp_path / "data" / "a.csv", "id,amount\n" + lines + "61,1.5\n62,\n63,1,2,3\n")
    name = f"kinds_{db_schema}"
    yaml = f"name: {name}\nsources:\n  - path: ../data\ntarget:\n  table: t\n  db_schema: {db_schema}\n"
    yaml += "schema:\n  columns:\n    id: integer\n    amount: decimal\n"
    config = load_config(write(tmp_path / "configs" / f"{name}.yaml", yaml))
    monkeypatch.setenv("ELT_CONFIG_DIR", str(tmp_path / "configs"))
    report = run_pipeline(config)
    assert (report.rows_read, report.rows_valid, report.rejected, report.malformed) == (63, 2, 61, 1)
    assert report.rows_read == report.rows_valid + report.rejected
    assert main(["rejects", name, "--limit", "100"]) == 0
    out = capsys.readouterr().out
    assert "column 'amount': is not a decimal number (with a dot)  60" in out
    assert "expected 2 fields, found 4" in out
    assert "1,063.00" in out and "60,063.00" in out  # each record with its value
    assert main(["rejects", name, "--format", "json", "--limit", "100"]) == 0
    records = json.loads(capsys.readouterr().out)
    kinds = {r["reason_kind"] for r in records if r["column_name"] == "amount"}
    assert kinds == {"is not a decimal number (with a dot)"}
    assert len({r["value"] for r in records if r["column_name"] == "amount"}) == 60
