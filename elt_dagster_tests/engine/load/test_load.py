"""The whole engine against a real PostgreSQL: dedup, merge, quarantine, schema changes, odd identifiers."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest
from psycopg.conninfo import conninfo_to_dict

from elt_dagster.engine.config import Target, load_config
from elt_dagster.engine.db import DatabaseError, connect, target_database_url
from elt_dagster.engine.load import append
from elt_dagster.engine.load.base import LoadStrategy
from elt_dagster.engine.redaction import redact_url
from elt_dagster.engine.run import run_pipeline
from elt_dagster_tests.conftest import fetch, write

ORDERS = """
    sources:
      - type: local
        path: ../data
    target:
      table: orders
      db_schema: {schema}
    schema:
      columns:
        id: integer
        customer: string
        amount: decimal
        created_at: timestamp
        active: boolean
"""


def write_orders(path: Path, rows: list[tuple]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "customer", "amount", "created_at", "active"])
        writer.writerows(rows)
    return path


def sample_rows(count: int, start: int = 1) -> list[tuple]:
    return [
        (
            i,
            f'Customer {i}, "quoted"\nsecond line',
            f"{i}.50",
            f"2024-01-{1 + i % 28:02d} 10:00:00",
            "yes" if i % 2 else "no",
        )
        for i in range(start, start + count)
    ]


def test_first_load_types_and_bookkeeping_columns(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write_orders(tmp_path / "data" / "a.csv", sample_rows(3))
    summary = run_pipeline(make_pipeline(ORDERS), run_id="run-1")
    assert (summary.inserted, summary.duplicates, summary.rejected) == (3, 0, 0)
    rows = fetch(
        database_url,
        f'SELECT id, customer, amount::text, created_at::text, active, _elt_source, _elt_run_id, _elt_loaded_at IS NOT NULL FROM "{db_schema}".orders ORDER BY id',
    )
    assert rows[0] == (
        1,
        'Customer 1, "quoted"\nsecond line',
        "1.5",
        "2024-01-02 10:00:00",
        True,
        str(tmp_path / "data" / "a.csv"),
        "run-1",
        True,
    )
    types = dict(
        fetch(
            database_url,
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s AND table_name = 'orders'",
            db_schema,
        )
    )
    assert types["id"] == "integer" and types["amount"] == "numeric" and types["_elt_row_hash"] == "uuid"
    assert types["created_at"] == "timestamp without time zone" and types["active"] == "boolean"


def test_rerun_inserts_nothing(tmp_path: Path, make_pipeline, database_url: str, db_schema: str) -> None:
    write_orders(tmp_path / "data" / "a.csv", sample_rows(50))
    config = make_pipeline(ORDERS)
    assert run_pipeline(config).inserted == 50
    again = run_pipeline(config)
    assert (again.inserted, len(again.files), again.unchanged_files) == (0, 0, 1)
    refreshed = run_pipeline(config, full_refresh=True)
    assert (refreshed.inserted, refreshed.duplicates, len(refreshed.files)) == (0, 50, 1)
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".orders') == [(50,)]


def test_twenty_percent_repeats_are_skipped_within_and_across_files(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    base = sample_rows(1000)
    write_orders(tmp_path / "data" / "a.csv", base)
    config = make_pipeline(ORDERS)
    run_pipeline(config)
    rng = random.Random(7)
    repeats = rng.sample(base, 200)
    new_rows = sample_rows(800, start=5000)
    mixed = new_rows + repeats + repeats[:50]  # 50 rows repeat inside the file as well
    rng.shuffle(mixed)
    write_orders(tmp_path / "data" / "b.csv", mixed)
    result = run_pipeline(config)
    assert result.inserted == 800
    assert result.duplicates == 250  # b.csv's repeats; a.csv is unchanged and not read again
    assert [Path(f.path).name for f in result.files] == ["b.csv"]
    assert fetch(database_url, f'SELECT count(*), count(DISTINCT _elt_row_hash) FROM "{db_schema}".orders') == [
        (1800, 1800)
    ]


def test_equivalent_spellings_are_the_same_row(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write_orders(tmp_path / "data" / "a.csv", [(1, "A", "12.50", "2024-01-01 10:00", "yes")])
    write_orders(tmp_path / "data" / "b.csv", [(" 1 ", "A", "12.5", "2024-01-01T10:00:00", "TRUE")])
    result = run_pipeline(make_pipeline(ORDERS))
    assert (result.inserted, result.duplicates) == (1, 1)


def test_unconvertible_value_is_quarantined_and_the_rest_loads(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    rows = sample_rows(5)
    rows[2] = (3, "Bad", "twelve", "2024-01-03", "yes")
    write_orders(tmp_path / "data" / "a.csv", rows)
    config = make_pipeline(ORDERS)
    result = run_pipeline(config, run_id="run-q")
    assert (result.inserted, result.rejected) == (4, 1)
    assert [r[0] for r in fetch(database_url, f'SELECT id FROM "{db_schema}".orders ORDER BY id')] == [1, 2, 4, 5]
    rejected = fetch(
        database_url,
        f'SELECT raw_record, column_name, reason, source, source_row, run_id FROM "{db_schema}".orders__rejected',
    )
    assert len(rejected) == 1
    raw, column, reason, source, source_row, run_id = rejected[0]
    assert raw["amount"] == "twelve" and raw["customer"] == "Bad"
    assert column == "amount" and "twelve" in reason and "decimal" in reason
    assert source == str(tmp_path / "data" / "a.csv") and source_row == 3 and run_id == "run-q"
    run_pipeline(config, full_refresh=True)  # the same bad record is not quarantined twice
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".orders__rejected') == [(1,)]


def test_column_added_to_schema_is_added_to_table(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write_orders(tmp_path / "data" / "a.csv", sample_rows(3))
    run_pipeline(make_pipeline(ORDERS))
    (tmp_path / "data" / "c.csv").write_text("id,customer,amount,created_at,active,region\n10,Z,1,2024-01-01,no,EU\n")
    config = make_pipeline(ORDERS + "        region: string\n")
    result = run_pipeline(config)
    assert result.added_columns == ("region",)
    assert (result.inserted, result.duplicates) == (1, 0)  # a.csv is unchanged: not read again
    refreshed = run_pipeline(config, full_refresh=True)
    assert (refreshed.inserted, refreshed.duplicates) == (0, 4)  # old rows hash the same: NULLs are not hashed
    assert fetch(database_url, f'SELECT id, region FROM "{db_schema}".orders WHERE region IS NOT NULL') == [(10, "EU")]


def test_identifiers_with_spaces_and_quotes(tmp_path: Path, make_pipeline, database_url: str, db_schema: str) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text('Order ID,"Cust ""Name""",amount; drop table x\n1,Ann,5\n')
    body = f"""
        sources:
          - type: local
            path: ../data
        target:
          table: 'My "Orders"; DROP TABLE x'
          db_schema: {db_schema}
        schema:
          columns:
            Order ID: integer
            'Cust "Name"': string
            "amount; drop table x": decimal
    """
    config = make_pipeline(body)
    assert run_pipeline(config).inserted == 1
    rows = fetch(
        database_url,
        f'SELECT "Order ID", "Cust ""Name""", "amount; drop table x" FROM "{db_schema}"."My ""Orders""; DROP TABLE x"',
    )
    assert rows == [(1, "Ann", 5)]


def test_no_schema_loads_text_columns(tmp_path: Path, make_pipeline, database_url: str, db_schema: str) -> None:
    write(tmp_path / "data" / "a.csv", "ID,Name\n1,x\n2,y\n")
    config = make_pipeline(
        """
        sources:
          - type: local
            path: ../data
        target:
          table: plain
          db_schema: {schema}
        """
    )
    assert run_pipeline(config).inserted == 2
    types = fetch(
        database_url,
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s AND table_name = 'plain' AND column_name IN ('id', 'name') ORDER BY 1",
        db_schema,
    )
    assert types == [("id", "text"), ("name", "text")]


def test_load_is_one_transaction(tmp_path: Path, make_pipeline, database_url: str, db_schema: str) -> None:
    """A failure after some rows were copied leaves none of them behind."""
    write_orders(tmp_path / "data" / "a.csv", sample_rows(10))
    config = make_pipeline(ORDERS)
    run_pipeline(config)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            f'ALTER TABLE "{db_schema}".orders__rejected RENAME COLUMN reason TO why'
        )  # the rejects step will fail
    rows = sample_rows(5, start=100)
    rows[4] = (104, "Bad", "twelve", "2024-01-03", "yes")  # one reject, so that the quarantine step runs
    write_orders(tmp_path / "data" / "b.csv", rows)
    with pytest.raises(
        DatabaseError, match=r'PostgreSQL refused the load \[42703\]: column "reason" .*nothing of this'
    ):
        run_pipeline(config)
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".orders') == [(10,)]


def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match=r"can't connect to PostgreSQL at postgresql://u:\*\*\*@127\.0\.0\.1:1/db"):
        connect("postgresql://u:secret@127.0.0.1:1/db")


def test_target_url_from_yaml_wins(
    tmp_path: Path, database_url: str, db_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELT_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("ORDERS_DB_URL", database_url)
    write_orders(tmp_path / "data" / "a.csv", sample_rows(2))
    body = ORDERS.replace("table: orders", "url: ${ORDERS_DB_URL}\n      table: orders").replace("{schema}", db_schema)
    config = load_config(write(tmp_path / "configs" / "orders.yaml", body))
    assert run_pipeline(config).inserted == 2


def test_bulk_load_removes_rows_repeated_across_files_of_one_run(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    """Into an empty table the unique index is built at the end; repeats across files are found then and removed."""
    write_orders(tmp_path / "data" / "a.csv", sample_rows(30))
    write_orders(tmp_path / "data" / "b.csv", sample_rows(10, start=21) + sample_rows(5, start=100))  # 21..30 repeat
    result = run_pipeline(make_pipeline(ORDERS))
    assert result.strategy == "bulk"
    assert (result.inserted, result.duplicates) == (35, 10)
    assert fetch(database_url, f'SELECT count(*), count(DISTINCT _elt_row_hash) FROM "{db_schema}".orders') == [
        (35, 35)
    ]
    unique = fetch(
        database_url, "SELECT indisunique FROM pg_index WHERE indrelid = %s::regclass", f'"{db_schema}".orders'
    )
    assert unique == [(True,)]


def test_probe_load_falls_back_when_rows_appear_between_lookup_and_copy(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A concurrent writer's rows, unseen by the lookup, make COPY hit the unique index: the batch then goes
    through a staging table with ON CONFLICT DO NOTHING, and nothing is duplicated."""
    write_orders(tmp_path / "data" / "a.csv", sample_rows(200))
    config = make_pipeline(ORDERS)
    run_pipeline(config)
    write_orders(tmp_path / "data" / "b.csv", sample_rows(5, start=198))  # 198, 199, 200 are there already
    monkeypatch.setattr(append.ProbeAppend, "known_hashes", lambda self, hashes: pa.array([], pa.string()))
    result = run_pipeline(config)
    assert result.strategy == "probe"
    assert (result.inserted, result.duplicates) == (2, 3)
    assert fetch(database_url, f'SELECT count(*), count(DISTINCT _elt_row_hash) FROM "{db_schema}".orders') == [
        (202, 202)
    ]


@pytest.mark.parametrize(
    ("mode", "before", "incoming", "strategy"),
    [("append", 50, 500, "hashset"), ("append", 3000, 20, "probe"), ("merge", 50, 500, "merge-in-producer")],
)
def test_a_load_into_an_existing_table_never_blocks_its_readers(
    tmp_path: Path,
    make_pipeline,
    database_url: str,
    db_schema: str,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    before: int,
    incoming: int,
    strategy: str,
) -> None:
    """Mid-load, another connection counts the table with a 200 ms lock timeout: no DROP INDEX, no DDL on it."""
    merge = "      mode: merge\n      primary_key: [id]\n    schema:"
    body = ORDERS.replace("    schema:", merge) if mode == "merge" else ORDERS
    write_orders(tmp_path / "data" / "a.csv", sample_rows(before))
    config = make_pipeline(body)
    run_pipeline(config)
    write_orders(tmp_path / "data" / "b.csv", sample_rows(incoming, start=before - 10))
    counted: list[int] = []
    original = LoadStrategy.load_file

    def load_then_read(self, source, batches):
        original(self, source, batches)
        with psycopg.connect(database_url, autocommit=True) as reader:
            reader.execute("SET lock_timeout = '200ms'")
            counted.append(reader.execute(f'SELECT count(*) FROM "{db_schema}".orders').fetchone()[0])

    monkeypatch.setattr(LoadStrategy, "load_file", load_then_read)
    report = run_pipeline(config)
    assert report.strategy == strategy and counted == [before]  # the reader saw the committed rows, at once
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".orders') == [
        (before + incoming - 11,)
    ]  # ids before-10..before were there


def test_rows_repeated_across_files_into_an_existing_table_load_once(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write_orders(tmp_path / "data" / "a.csv", sample_rows(5))
    config = make_pipeline(ORDERS)
    run_pipeline(config)
    write_orders(tmp_path / "data" / "b.csv", sample_rows(300, start=3))
    write_orders(tmp_path / "data" / "c.csv", sample_rows(300, start=200))  # 200..302 repeat rows of b.csv: 1..499
    result = run_pipeline(config)
    assert result.strategy == "hashset"
    assert (result.inserted, result.duplicates) == (499 - 5, 3 + 103)
    assert fetch(database_url, f'SELECT count(*), count(DISTINCT _elt_row_hash) FROM "{db_schema}".orders') == [
        (499, 499)
    ]


def test_a_first_load_writes_its_rows_frozen(tmp_path: Path, make_pipeline, database_url: str, db_schema: str) -> None:
    """COPY FREEZE into the table the run created: the first scan after the commit has no hint bits to set, so it
    dirties no page (without it, every page of a fresh load is written again after its first reader)."""
    write_orders(tmp_path / "data" / "a.csv", sample_rows(2000))
    run_pipeline(make_pipeline(ORDERS))
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")  # the pages written out and clean: a hint bit set now would dirty one again
        plan = conn.execute(f'EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM "{db_schema}".orders').fetchall()
    lines = [line for (line,) in plan]
    scan = next(lines[at + 1] for at, line in enumerate(lines) if "Seq Scan on orders" in line)
    assert "Buffers: shared hit" in scan and "dirtied" not in scan, "\n".join(lines)


def test_rows_repeated_across_batches_of_one_file_into_an_existing_table_load_once(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches are copied straight into the table: a batch repeating rows of an earlier one hits the unique index
    and goes through the staging table instead, inserting only its new rows."""
    from elt_dagster.engine.sources.files import delimited

    write_orders(tmp_path / "data" / "a.csv", sample_rows(50))
    config = make_pipeline(ORDERS)
    run_pipeline(config)
    monkeypatch.setattr(delimited, "BATCH_ROWS", 30)
    # rows 41..140, then 101..140 again: the last batches repeat rows of the earlier ones
    write_orders(tmp_path / "data" / "b.csv", sample_rows(100, start=41) + sample_rows(40, start=101))
    result = run_pipeline(config)
    assert result.strategy == "hashset"
    assert (result.inserted, result.duplicates) == (90, 10 + 40)
    assert fetch(database_url, f'SELECT count(*), count(DISTINCT _elt_row_hash) FROM "{db_schema}".orders') == [
        (140, 140)
    ]


@pytest.mark.parametrize("mode", ["append", "merge"])
def test_values_holding_the_hash_separators_are_different_rows(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str, mode: str
) -> None:
    rows = ['{"id": 1, "a": "x\\u001fb\\u001ey"}', '{"id": 2, "a": "x", "b": "y"}', '{"id": 3, "a": "x\\u001b1"}']
    write(tmp_path / "data" / "a.jsonl", "\n".join(rows) + "\n")
    merge = "  mode: merge\n  primary_key: [id]\n" if mode == "merge" else ""
    config = make_pipeline(
        f"sources:\n  - type: local\n    path: ../data\ntarget:\n  table: t\n  db_schema: {{schema}}\n{merge}"
        "schema:\n  columns:\n    id: integer\n"
    )
    result = run_pipeline(config)
    assert (result.inserted, result.duplicates, result.rejected) == (3, 0, 0)
    assert fetch(database_url, f'SELECT id, a, b FROM "{db_schema}".t ORDER BY id') == [
        (1, "x\x1fb\x1ey", None),
        (2, "x", "y"),
        (3, "x\x1b1", None),
    ]


def test_an_empty_record_is_quarantined_not_loaded(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write(tmp_path / "data" / "a.csv", "id,name\n1,Ann\n,\n , \n2,Bob\n")
    write(tmp_path / "data" / "b.jsonl", '{"id": 3, "name": "Cid"}\n{}\n')
    config = make_pipeline(
        "sources:\n  - type: local\n    path: ../data\ntarget:\n  table: t\n  db_schema: {schema}\n"
        "schema:\n  columns:\n    id: integer\n    name: string\n"
    )
    result = run_pipeline(config)
    assert (result.inserted, result.rejected) == (3, 3)
    assert fetch(database_url, f'SELECT id FROM "{db_schema}".t ORDER BY id') == [(1,), (2,), (3,)]
    reasons = fetch(
        database_url, f'SELECT reason, source_row FROM "{db_schema}".t__rejected ORDER BY source, source_row'
    )
    assert reasons == [("the record is empty: every value is empty", row) for row in (2, 3, 2)]


ODD_JSON_LINES = {
    "lone surrogate": ('{"id": 9, "name": "\\ud800"}', "not valid Unicode"),
    "huge exponent": ('{"id": 9, "name": [1e9999999999999999999]}', "a number out of range"),
    "exponent in a list": ('{"id": 9, "name": [1e5000]}', None),
    "deep nesting": ("[" * 100_000, "nested deeper than 64 levels"),
    "deep object": ('{"id": 9, "name": ' + '{"a": ' * 70 + "1" + "}" * 70 + "}", "nested deeper than 64 levels"),
    "NaN": ('{"id": 9, "name": NaN}', "NaN is not valid JSON"),
    "NUL in a key": ('{"id": 9, "fo\\u0000o": 1}', "holds a NUL character"),
    "two NUL keys": ('{"id": 9, "a\\u0000x": 1, "a\\u0000y": 2}', "holds a NUL character"),
    "NUL in a value": ('{"id": 9, "name": "a\\u0000b"}', "text without NUL characters"),
}


@pytest.mark.parametrize("case", list(ODD_JSON_LINES))
def test_one_odd_record_is_quarantined_and_the_others_load(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str, case: str
) -> None:
    line, reason = ODD_JSON_LINES[case]
    write(tmp_path / "data" / "a.jsonl", f'{{"id": 1, "name": "Ann"}}\n{line}\n{{"id": 2, "name": "Bob"}}\n')
    config = make_pipeline(
        "sources:\n  - type: local\n    path: ../data\ntarget:\n  table: t\n  db_schema: {schema}\n"
        "schema:\n  columns:\n    id: integer\n    name: string\n"
    )
    result = run_pipeline(config)
    loaded = fetch(database_url, f'SELECT id FROM "{db_schema}".t ORDER BY id')
    if reason is None:  # not odd after all: loaded, every digit kept
        assert loaded == [(1,), (2,), (9,)] and result.rejected == 0
        return
    assert loaded == [(1,), (2,)] and (result.inserted, result.rejected) == (2, 1)
    stored = fetch(database_url, f'SELECT reason, source_row, raw_record::text FROM "{db_schema}".t__rejected')
    assert len(stored) == 1 and reason in stored[0][0] and stored[0][1] == 2


def test_numbers_in_lists_keep_every_digit(tmp_path: Path, make_pipeline, database_url: str, db_schema: str) -> None:
    write(tmp_path / "data" / "a.jsonl", '{"id": 1, "v": [12.345678901234567890123, 1e400, {"x": 0.10}]}\n')
    config = make_pipeline(
        "sources:\n  - type: local\n    path: ../data\ntarget:\n  table: t\n  db_schema: {schema}\n"
        "schema:\n  columns:\n    id: integer\n    v: string\n"
    )
    run_pipeline(config)
    assert fetch(database_url, f'SELECT v FROM "{db_schema}".t') == [('[12.345678901234567890123,1E+400,{"x":0.10}]',)]


def test_a_json_file_with_a_deeply_nested_record_quarantines_it(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    deep = "[" * 20_000 + "]" * 20_000
    write(tmp_path / "data" / "a.json", f'[{{"id": 1, "name": "Ann"}}, {{"id": 2, "name": {deep}}}, {{"id": 3}}]')
    config = make_pipeline(
        "sources:\n  - type: local\n    path: ../data\ntarget:\n  table: t\n  db_schema: {schema}\n"
        "schema:\n  columns:\n    id: integer\n    name: string\n"
    )
    result = run_pipeline(config)
    assert (result.inserted, result.rejected) == (2, 1)
    assert fetch(database_url, f'SELECT reason, source_row FROM "{db_schema}".t__rejected') == [
        ("nested deeper than 64 levels (line 1)", 2)
    ]


def test_a_json_record_with_an_absurd_exponent_is_quarantined(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write(tmp_path / "data" / "a.json", '[{"id": 1}, {"id": 1e9999999999999999999}, {"id": 3}]')
    config = make_pipeline("sources:\n  - type: local\n    path: ../data\ntarget:\n  table: t\n  db_schema: {schema}\n")
    result = run_pipeline(config)
    assert (result.inserted, result.rejected) == (2, 1)
    assert fetch(database_url, f'SELECT reason, source_row FROM "{db_schema}".t__rejected') == [
        ("a number out of range (its exponent is too large) (line 1)", 2)
    ]


def test_values_postgresql_cannot_hold_are_quarantined(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    lines = ["id,d,n,j", "1,2024-01-31,1.5,[1]", "2,0000-01-01,1,", "3,,1e200000,", "4,,1e9999999999999999999,"]
    lines += ['5,,,"{""big"": 1e400, ""exact"": 12.345678901234567890123}"']
    write(tmp_path / "data" / "a.csv", "\n".join(lines) + "\n")
    config = make_pipeline(
        "sources:\n  - type: local\n    path: ../data\ntarget:\n  table: t\n  db_schema: {schema}\n"
        "schema:\n  columns:\n    id: integer\n    d: date\n    n: decimal\n    j: json\n"
    )
    result = run_pipeline(config)
    assert (result.inserted, result.rejected) == (2, 3)
    assert fetch(
        database_url, f"SELECT id, j->>'exact', (j->>'big')::numeric = 1e400 FROM \"{db_schema}\".t ORDER BY id"
    ) == [
        (1, None, None),
        (5, "12.345678901234567890123", True),
    ]
    rejected = fetch(database_url, f'SELECT source_row, column_name FROM "{db_schema}".t__rejected ORDER BY 1')
    assert rejected == [(2, "d"), (3, "n"), (4, "n")]  # record numbers: the header is not a record


def test_target_host_may_be_a_socket_folder(
    tmp_path: Path, database_url: str, db_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = conninfo_to_dict(database_url)
    if not str(settings.get("host", "")).startswith("/"):
        pytest.skip("the test database is not reached through a socket folder")
    monkeypatch.setenv("ELT_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    write_orders(tmp_path / "data" / "a.csv", sample_rows(2))
    target = f"table: orders\n      host: {settings['host']}\n      user: {settings.get('user', 'postgres')}"
    body = ORDERS.replace("table: orders", target).replace("{schema}", db_schema)
    config = load_config(write(tmp_path / "configs" / "orders.yaml", body))
    assert run_pipeline(config).inserted == 2


def test_target_host_may_be_an_ipv6_address() -> None:
    target = Target(table="t", host="::1", port=5433, database="w", user="lo ader", password="p w'x")
    assert conninfo_to_dict(target_database_url(target)) == {
        "host": "::1",
        "port": "5433",
        "dbname": "w",
        "user": "lo ader",
        "password": "p w'x",
    }
    assert "p w" not in redact_url(target_database_url(target))
