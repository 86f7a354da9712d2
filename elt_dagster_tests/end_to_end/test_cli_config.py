"""`elt-dagster config upload | history | show`, against a real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from elt_dagster.cli import main
from elt_dagster_tests.conftest import fetch, write


@pytest.fixture
def config_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> Path:
    folder = tmp_path / "configs"
    folder.mkdir()
    (tmp_path / "data").mkdir()
    monkeypatch.setenv("ELT_CONFIG_DIR", str(folder))
    return folder


def pipeline(db_schema: str, note: str = "") -> str:
    return f"""# {note}
name: cli_shop
sources:
  - type: local
    path: ../data
target:
  table: orders
  db_schema: {db_schema}
schema:
  columns:
    id: integer
    secret_token: string
"""


def test_upload_validates_stores_and_places_the_file(
    config_folder: Path, tmp_path: Path, database_url: str, db_schema: str, capsys: pytest.CaptureFixture[str]
) -> None:
    upload = write(tmp_path / "incoming" / "shop.yaml", pipeline(db_schema, note="first"))
    assert main(["config", "upload", str(upload)]) == 0
    assert "version 1" in capsys.readouterr().out
    assert (config_folder / "shop.yaml").read_text() == upload.read_text()
    assert main(["config", "upload", str(upload)]) == 0  # the same text: no new version
    assert "already version 1" in capsys.readouterr().out
    write(upload, pipeline(db_schema, note="second"))
    assert main(["config", "upload", str(upload)]) == 0
    assert "version 2" in capsys.readouterr().out
    assert fetch(
        database_url, "SELECT version FROM elt.config_history WHERE pipeline = 'cli_shop' ORDER BY version"
    ) == [(1,), (2,)]

    assert main(["config", "history", "cli_shop"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "cli_shop" in line]
    assert [line.split()[2] for line in lines] == ["v1", "v2"]
    assert all(len(line.split("UTC", 1)[1].strip()) <= 100 for line in lines)
    assert main(["config", "show", "cli_shop", "--version", "1"]) == 0
    assert "# first" in capsys.readouterr().out
    assert main(["config", "show", "cli_shop"]) == 0
    assert "# second" in capsys.readouterr().out
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM elt.config_history WHERE pipeline = 'cli_shop'")


def test_invalid_upload_stores_nothing(
    config_folder: Path, tmp_path: Path, database_url: str, db_schema: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(tmp_path / "incoming" / "broken.yaml", pipeline(db_schema).replace("table: orders", "tabel: orders"))
    assert main(["config", "upload", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "target.tabel" in err and "nothing stored" in err
    assert not (config_folder / "broken.yaml").exists()
    assert main(["config", "show", "cli_shop"]) == 1


def test_check_is_a_dry_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "data" / "a.csv", "id,amount\n1,2.50\n2,abc\n")
    config = write(
        tmp_path / "configs" / "dry.yaml",
        "sources:\n  - type: local\n    path: ../data\ntarget:\n  table: t\n  url: postgresql://nobody@127.0.0.1:1/none\n"
        "schema:\n  columns:\n    id: integer\n    amount: decimal\n",
    )
    assert main(["check", str(config)]) == 0  # the unreachable database is never contacted
    out = capsys.readouterr().out
    assert "2 rows read, 1 valid, 1 would be quarantined" in out
    assert "column 'amount': 'abc' is not a decimal" in out and "2.5" in out
