"""engine/state/history.py: the versions recorded after one Dagster saw (the history's own tests of recording,
redaction and diffs are in dagster/test_automation.py and test_cli.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from elt_dagster.engine.config import load_config
from elt_dagster.engine.db import connect
from elt_dagster.engine.state.history import record_version, versions_since
from elt_dagster_tests.conftest import write


@pytest.fixture
def name(db_schema: str, database_url: str) -> Iterator[str]:
    pipeline = f"v_{db_schema}"
    yield pipeline
    with psycopg.connect(database_url, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('elt.config_history')").fetchone()[0]:
            conn.execute("DELETE FROM elt.config_history WHERE pipeline = %s", (pipeline,))


def test_versions_since_a_seen_version_or_all_when_it_is_not_in_the_history(
    tmp_path: Path, name: str, db_schema: str, database_url: str
) -> None:
    path = tmp_path / "configs" / f"{name}.yaml"
    (tmp_path / "data").mkdir()
    hashes = []
    with connect(database_url) as conn:
        for table in ("a", "b", "c"):
            write(
                path,
                f"name: {name}\nsources:\n  - path: ../data\ntarget:\n  table: {table}\n  db_schema: {db_schema}\n",
            )
            version, _ = record_version(conn, load_config(path))
            hashes.append(version.content_hash)

        def since(seen: tuple[int, str] | None, limit: int = 10) -> list[int]:
            return [v.version for v in versions_since(conn, name, seen, limit)]

        assert since(None) == [1, 2, 3]
        assert since((1, hashes[0])) == [2, 3]
        assert since((3, hashes[2])) == []
        assert since((2, hashes[0])) == [1, 2, 3]  # version 2 Dagster saw had another text: not this history
        assert since((7, hashes[2])) == [1, 2, 3]
        assert since(None, limit=2) == [1, 2]
        assert since((1, hashes[0]), limit=1) == [2]
