"""`elt-dagster config upload | history | show | diff`, and commands taking a name or a path, against a real PostgreSQL."""

from __future__ import annotations

import hashlib
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


def pipeline(db_schema: str, note: str = "", name: str = "cli_shop") -> str:
    return f"""# {note}
name: {name}
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
    head, _, *lines = capsys.readouterr().out.splitlines()
    assert head.split() == ["PIPELINE", "VERSION", "RECORDED", "HASH", "CHANGE"]
    assert [line.split()[:2] for line in lines] == [["cli_shop", "1"], ["cli_shop", "2"]]
    assert hashlib.sha256(upload.read_bytes()).hexdigest()[:12] in lines[1]
    assert "first version, 12 lines: name: cli_shop" in lines[0]  # not the comment every version starts with
    assert lines[1].endswith("+1 -1 lines: # second")
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


@pytest.fixture
def three_versions(config_folder: Path, tmp_path: Path, database_url: str, db_schema: str):
    """`cli_diff` uploaded three times: v1, v2 with a new column, v3 with that column removed again."""
    upload = tmp_path / "incoming" / "diff.yaml"
    for text in (
        pipeline(db_schema, "same comment", "cli_diff"),
        pipeline(db_schema, "same comment", "cli_diff") + "    amount: decimal\n",
        pipeline(db_schema, "same comment", "cli_diff").replace("    secret_token: string\n", ""),
    ):
        write(upload, text)
        assert main(["config", "upload", str(upload)]) == 0
    yield config_folder / "diff.yaml"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM elt.config_history WHERE pipeline = 'cli_diff'")


def test_history_tells_apart_versions_that_start_alike(three_versions: Path, capsys) -> None:
    capsys.readouterr()
    assert main(["config", "history", str(three_versions)]) == 0  # a YAML path stands for its pipeline's name
    rows = capsys.readouterr().out.splitlines()[2:]
    assert [row.split()[1] for row in rows] == ["1", "2", "3"]
    assert rows[1].endswith("+1 -0 lines: amount: decimal")
    assert rows[2].endswith("+0 -2 lines: removed: secret_token: string")
    assert len({row.split()[5] for row in rows}) == 3  # three content hashes (after date, time, zone)


def test_diff_of_the_latest_two_and_of_two_given_versions(three_versions: Path, capsys) -> None:
    capsys.readouterr()
    assert main(["config", "diff", "cli_diff"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("--- cli_diff v2 (") and out[1].startswith("+++ cli_diff v3 (")
    assert "-    secret_token: string" in out and "-    amount: decimal" in out and not out[2:][0].startswith("+")
    assert main(["config", "diff", str(three_versions), "1", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("--- cli_diff v1 (") and out[1].startswith("+++ cli_diff v2 (")
    assert [line for line in out[2:] if line[:1] in "+-"] == ["+    amount: decimal"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody"], "error: no config recorded for pipeline 'nobody'"),
        (["cli_diff", "1", "7"], "error: cli_diff has no version 7 (recorded: 1, 2, 3)"),
        (["cli_diff", "2"], "error: give two versions"),
        (["broken.yaml"], "error: "),
    ],
)
def test_diff_errors_are_one_line(three_versions: Path, args: list[str], message: str, capsys) -> None:
    write(three_versions.parent / "broken.yaml", "name: [\n")
    capsys.readouterr()
    assert main(["config", "diff", *[str(three_versions.parent / a) if a.endswith("yaml") else a for a in args]]) == 1
    out, err = capsys.readouterr()
    assert err.startswith(message) and err.count("\n") == 1 and out == ""


def test_diff_of_a_single_version_says_there_is_nothing_to_compare(
    config_folder: Path, tmp_path: Path, database_url: str, db_schema: str, capsys
) -> None:
    upload = write(tmp_path / "incoming" / "single.yaml", pipeline(db_schema, name="cli_single"))
    assert main(["config", "upload", str(upload)]) == 0
    capsys.readouterr()
    try:
        assert main(["config", "diff", "cli_single"]) == 1
        assert capsys.readouterr().err == "error: cli_single has only version 1: nothing to compare\n"
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("DELETE FROM elt.config_history WHERE pipeline = 'cli_single'")


def test_preview_and_check_take_a_name_or_a_path(
    config_folder: Path, tmp_path: Path, database_url: str, db_schema: str, capsys
) -> None:
    write(tmp_path / "data" / "a.csv", "id,secret_token\n1,x\n")
    config = write(config_folder / "shop.yaml", pipeline(db_schema))
    for given in ("cli_shop", str(config)):
        assert main(["check", given]) == 0
        assert capsys.readouterr().out.startswith("cli_shop: 1 file(s), 1 rows read, 1 valid")
        assert main(["preview", given]) == 1  # found, and its table is not there yet
        assert capsys.readouterr().out.startswith(f"{db_schema}.orders does not exist yet")
    for command in ("check", "preview"):
        assert main([command, "nope"]) == 1
        assert (
            capsys.readouterr().err
            == f"error: no pipeline named 'nope' in {config_folder} (give its name or its YAML file)\n"
        )
    assert main(["config", "show", "nope"]) == 1
    assert capsys.readouterr().err == "error: no config recorded for pipeline 'nope'\n"
