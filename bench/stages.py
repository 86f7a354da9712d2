"""Where the time goes: each stage of a first load of the benchmark file, timed on its own (no overlap).

    .venv/bin/python bench/stages.py [--rows 1000000]

Python stages run without the database; the database stages COPY the pipeline's own binary COPY data.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import COLUMNS, generate
from run import DATA, pipeline_config

from elt_dagster.engine.db import embedded_database_url
from elt_dagster.engine.load.binary import copy_data
from elt_dagster.engine.load.copy import CopyData, copy_rows
from elt_dagster.engine.load.hashset import first_occurrences
from elt_dagster.engine.sources.files.extract import conform, iter_file_batches, list_source_files, new_mapper
from elt_dagster.engine.staging import StagingWriter
from elt_dagster.engine.transform.validate import HASH_COLUMN, check_batch, pipeline_column_types, row_hashes
from elt_dagster.engine.types import TYPES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    rows = parser.parse_args().rows
    folder = DATA / f"orders_{rows}"
    generate(folder / "orders.csv", rows)
    loaded = pipeline_config("stages", folder, "stages")
    files, _ = list_source_files(loaded)
    mapper = new_mapper(loaded, files)
    types = pipeline_column_types(loaded, mapper.columns)
    seconds: dict[str, float] = dict.fromkeys(["read", "stage CSV", "standardise", "hash", "dedup", "encode"], 0.0)
    chunks: list[CopyData] = []

    def timed(stage: str, call):
        started = time.perf_counter()
        value = call()
        seconds[stage] += time.perf_counter() - started
        return value

    with StagingWriter(Path(tempfile.mkdtemp()), mapper.columns) as staging:
        batches = iter_file_batches(files[0])
        while (raw := timed("read", lambda: next(batches, None))) is not None:
            table = conform(raw, mapper, str(files[0].path), staging.schema)
            timed("stage CSV", lambda table=table: staging.write_rows(table))
            checked = timed("standardise", lambda table=table: check_batch(table, types, []))
            canonical = {n: checked.rows.column(n).combine_chunks() for n in mapper.columns}
            timed("hash", lambda canonical=canonical: row_hashes(canonical))  # again, to time it alone
            unique = timed("dedup", lambda checked=checked: first_occurrences(checked.rows))
            names = [*mapper.columns, HASH_COLUMN]
            chunks.append(timed("encode", lambda unique=unique, names=names: copy_data(unique.select(names), types)))
    seconds["standardise"] -= seconds["hash"]  # check_batch includes the hash

    url = embedded_database_url(DATA / "postgres")
    table = f"stages_{uuid.uuid4().hex[:8]}"
    columns = ", ".join(f"{n} {TYPES[t].pg_type}" for n, t in COLUMNS.items())
    names = ", ".join([*mapper.columns, HASH_COLUMN])
    with psycopg.connect(url) as conn:
        conn.execute(
            f"CREATE TABLE {table} ({columns}, _elt_row_hash uuid NOT NULL, _elt_source text DEFAULT 'file', "
            "_elt_run_id text DEFAULT 'run', _elt_loaded_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.commit()
        started = time.perf_counter()
        copy_rows(conn, sql.Identifier(table), [*mapper.columns, HASH_COLUMN], chunks)
        conn.commit()
        seconds["COPY (database)"] = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute(f"CREATE UNIQUE INDEX ON {table} (_elt_row_hash)")
        conn.commit()
        seconds["unique index build (database)"] = time.perf_counter() - started
        conn.execute(f"DROP TABLE {table}")
        conn.commit()
    print(f"{rows:,} rows: each stage alone")
    for stage, value in seconds.items():
        print(f"  {stage:32} {value:6.2f} s")
    python = sum(v for k, v in seconds.items() if "database" not in k)
    print(f"  {'python, all stages':32} {python:6.2f} s   (overlaps the database's work on the other core)")


if __name__ == "__main__":
    main()
