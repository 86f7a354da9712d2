"""Deterministic benchmark data: N rows x 8 columns of integers, awkward text, decimals, timestamps, booleans."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

COLUMNS = {
    "id": "bigint",
    "customer": "string",
    "amount": "decimal",
    "quantity": "integer",
    "discount": "float",
    "created_at": "timestamp",
    "active": "boolean",
    "note": "string",
}
NAMES = ["Acme, Inc.", 'The "Best" Shop', "Globex\nSecond line", "Initech", "Umbrella; Ltd", "Hooli", "Stark, Tony"]
CHUNK = 500_000


def _chunk(start: int, count: int, rng: np.random.Generator) -> pa.Table:
    ids = np.arange(start, start + count, dtype=np.int64)
    names = np.array(NAMES, dtype=object)[rng.integers(0, len(NAMES), count)]
    customer = pa.array(names.astype(str)).cast(pa.string())
    customer = pa.compute.binary_join_element_wise(customer, pa.array(ids.astype(str)), " #")
    cents = rng.integers(0, 10_000_000, count)
    amount = pa.array([f"{c // 100}.{c % 100:02d}" for c in cents.tolist()])
    seconds = rng.integers(1_600_000_000, 1_750_000_000, count).astype("datetime64[s]")
    created = pa.array(np.datetime_as_string(seconds, unit="s")).cast(pa.string())
    return pa.table(
        {
            "id": pa.array(ids),
            "customer": customer,
            "amount": amount,
            "quantity": pa.array(rng.integers(1, 1000, count)),
            "discount": pa.array(np.round(rng.random(count), 4)),
            "created_at": created,
            "active": pa.array(rng.random(count) < 0.5),
            "note": pa.array(np.where(rng.random(count) < 0.3, 'said "ok", then left', "plain note")),
        }
    )


def generate(path: Path, rows: int, seed: int = 42) -> Path:
    """Write `rows` rows to `path` (CSV), in chunks, unless it is already there."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    partial = path.with_suffix(".partial")
    with pacsv.CSVWriter(str(partial), _chunk(0, 1, np.random.default_rng(0)).schema) as writer:
        for start in range(0, rows, CHUNK):
            writer.write_table(_chunk(start + 1, min(CHUNK, rows - start), rng))
    partial.rename(path)
    return path


def generate_with_repeats(path: Path, source: Path, rows: int, repeat_share: float = 0.2, seed: int = 7) -> Path:
    """`rows` rows of which `repeat_share` repeat rows of `source` (the rest are new ids)."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    repeats = int(rows * repeat_share)
    schema = _chunk(0, 1, np.random.default_rng(0)).schema
    old = pacsv.read_csv(
        source,
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types=schema),
    )
    picked = old.take(pa.array(np.sort(rng.choice(old.num_rows, repeats, replace=False))))
    fresh = _chunk(10_000_000_000, rows - repeats, rng)
    table = pa.concat_tables([fresh, picked.cast(fresh.schema)])
    table = table.take(pa.array(rng.permutation(table.num_rows)))
    partial = path.with_suffix(".partial")
    pacsv.write_csv(table, str(partial))
    partial.rename(path)
    return path


def generate_changed(path: Path, source: Path, change_share: float = 0.2, seed: int = 11) -> Path:
    """The rows of `source` with `change_share` of them changed (a new `note`), same ids: merge's input."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = _chunk(0, 1, np.random.default_rng(0)).schema
    table = pacsv.read_csv(
        source,
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types=schema),
    )
    changed = np.random.default_rng(seed).random(table.num_rows) < change_share
    note = pa.compute.if_else(pa.array(changed), pa.scalar("changed since"), table.column("note"))
    table = table.set_column(table.schema.get_field_index("note"), "note", note)
    partial = path.with_suffix(".partial")
    pacsv.write_csv(table, str(partial))
    partial.rename(path)
    return path


def generate_new_rows(path: Path, rows: int, first_id: int, seed: int = 13) -> Path:
    """`rows` rows with ids from `first_id` (none of them in the other files): an increment."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    pacsv.write_csv(_chunk(first_id, rows, np.random.default_rng(seed)), str(partial))
    partial.rename(path)
    return path


def generate_small_files(folder: Path, files: int, rows: int = 3, seed: int = 5) -> Path:
    """`files` CSV files of `rows` rows each (`f000000.csv`, ...; ids 1, 2, ... in file order), unless there."""
    done = folder / ".complete"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    table = _chunk(1, files * rows, np.random.default_rng(seed))
    for n in range(files):
        pacsv.write_csv(table.slice(n * rows, rows), str(folder / f"f{n:06d}.csv"))
    done.touch()
    return folder
