"""The `elt-dagster` command never builds Dagster definitions: checking a YAML or reading history pays no Dagster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from elt_dagster_tests.conftest import write

PROBE = """
import sys
from elt_dagster.cli import main
code = main(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m == "dagster" or m.startswith(("dagster.", "elt_dagster.orchestration")))
print("LOADED", loaded)
sys.exit(code)
"""


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ELT_CONFIG_DIR": str(tmp_path / "configs"), "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True, timeout=120)


def test_validate_and_config_history_do_not_import_dagster(tmp_path: Path, database_url: str, db_schema: str) -> None:
    write(tmp_path / "data" / "a.csv", "id\n1\n")
    config = write(
        tmp_path / "configs" / "shop.yaml",
        f"sources:\n  - type: local\n    path: ../data\ntarget:\n  table: t\n  db_schema: {db_schema}\n",
    )
    checked = cli(tmp_path, "validate", str(config))
    assert checked.returncode == 0, checked.stderr
    assert "OK" in checked.stdout and "LOADED []" in checked.stdout
    history = cli(tmp_path, "config", "history")
    assert history.returncode == 0, history.stderr
    assert "LOADED []" in history.stdout


def test_version_is_printed(capsys) -> None:
    import pytest

    from elt_dagster.cli import main

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("elt-dagster 0.")


def test_logs_and_runs_cleanup_leave_the_environment_unchanged(tmp_path: Path, monkeypatch) -> None:
    """They open ./.elt/dagster when DAGSTER_HOME is unset, without setting it (or the storage URL) for the process."""
    from elt_dagster.cli import main

    home = write(tmp_path / ".elt" / "dagster" / "dagster.yaml", "telemetry:\n  enabled: false\n").parent
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", "placeholder")  # so that the test's end restores the variable as it was
    monkeypatch.delenv("DAGSTER_HOME")
    before = dict(os.environ)
    assert main(["logs"]) == 1  # "no runs yet": the instance was found
    assert main(["runs", "cleanup"]) == 0
    assert dict(os.environ) == before
    assert (home / "history").is_dir()  # the SQLite storage of ./.elt/dagster, not another instance's


def test_validate_fails_on_one_broken_file_among_several_where_definitions_validate_passes(tmp_path: Path) -> None:
    """What CI should run: `dagster definitions validate` passes by design (a broken pipeline becomes a
    `config_errors` asset, the code location still loads); `elt-dagster validate configs/*.yaml` fails."""
    write(tmp_path / "data" / "a.csv", "id\n1\n")
    sources = "sources:\n  - type: local\n    path: ../data\n"
    good = write(tmp_path / "configs" / "good.yaml", f"{sources}target:\n  table: t\n")
    broken = write(tmp_path / "configs" / "broken.yaml", f"{sources}target:\n  tabel: t\n")
    garbled = write(tmp_path / "configs" / "garbled.yaml", "sources: [\n")
    checked = cli(tmp_path, "validate", str(good), str(broken), str(garbled))
    assert checked.returncode == 1
    assert f"OK      {good}" in checked.stdout
    assert f"INVALID {broken}" in checked.stderr and "target.tabel (line 5): unknown key" in checked.stderr
    assert f"INVALID {garbled}" in checked.stderr and "Traceback" not in checked.stderr
    env = {**os.environ, "ELT_CONFIG_DIR": str(tmp_path / "configs"), "DAGSTER_HOME": str(tmp_path)}
    dagster = str(Path(sys.executable).with_name("dagster"))
    command = [dagster, "definitions", "validate", "-m", "elt_dagster"]
    validated = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert validated.returncode == 0, validated.stderr[-3000:]
    assert f"skipping invalid pipeline config: {broken}" in validated.stderr


def test_db_url_instance_and_the_dagster_yaml_storage_class_give_the_same_url(monkeypatch, capsys) -> None:
    from elt_dagster.cli import main
    from elt_dagster.engine import embedded
    from elt_dagster.orchestration.instance_storage import storage_url

    monkeypatch.setenv("ELT_DAGSTER_STORAGE_URL", "postgresql://elt:s3cret@db.example:5432/runs")
    assert main(["db", "url", "--instance"]) == 0
    assert capsys.readouterr().out.strip() == "postgresql://elt:***@db.example:5432/runs"
    assert storage_url() == "postgresql://elt:s3cret@db.example:5432/runs"
    monkeypatch.delenv("ELT_DAGSTER_STORAGE_URL")
    try:  # unset: the `dagster` database of the embedded server in ELT_STATE_DIR (the test's own, started here)
        assert main(["db", "url", "--instance", "--show-password"]) == 0
        shown = capsys.readouterr().out.strip()
        assert shown == storage_url()
        assert shown == embedded.with_database(embedded.start(), embedded.INSTANCE_DATABASE)
        assert shown != embedded.start()
    finally:
        embedded.stop()
