"""Validate: standardise the staging CSV against the schema, quarantine what can't be converted, hash the rest.

Output: an Arrow IPC file of canonical text columns plus `_elt_row_hash` and `_elt_source`, and a JSON
Lines file of rejected records (raw record, column, reason, source file, record number).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .config import LoadedConfig, key_columns
from .extract import SOURCE_COLUMN, SOURCE_ROW_COLUMN
from .readers import CSV_BLOCK_BYTES, read_header
from .standardize import STANDARDIZERS, TYPE_DESCRIPTIONS

HASH_COLUMN = "_elt_row_hash"
VALIDATED_FILE = "validated.arrow"
VALIDATE_REJECTS_FILE = "validate_rejects.jsonl"
FIRST_REASONS = 5


@dataclass
class ValidateResult:
    """What validation produced: the validated rows file, the rejects file and the counts."""

    validated_path: Path
    rejects_path: Path
    column_types: dict[str, str]
    rows_in: int = 0
    rows_valid: int = 0
    rejected: int = 0
    first_reasons: list[str] = field(default_factory=list)


def pipeline_column_types(loaded: LoadedConfig, columns: list[str]) -> dict[str, str]:
    """Each staging column's type: declared in the schema, else string."""
    declared = loaded.config.schema_.columns if loaded.config.schema_ else {}
    return {name: declared.get(name, "string") for name in columns}


def row_hashes(columns: dict[str, pa.Array]) -> pa.Array:
    """128-bit MD5 of the row's non-null (column name, canonical value) pairs, in column-name order, as hex.

    NULLs are left out, so adding a column to the schema does not change the hash of rows that lack it.
    """
    parts = [pc.binary_join_element_wise(name, values, "\x1e") for name, values in sorted(columns.items())]
    if not parts:
        raise ValueError("a row hash needs at least one column")
    joined = pc.binary_join_element_wise(*parts, "\x1f", null_handling="skip").cast(pa.binary())
    md5 = hashlib.md5
    return pa.array([md5(value).hexdigest() for value in joined.to_pylist()], pa.string())


def iter_staging(path: Path) -> Iterator[pa.RecordBatch]:
    """The staging CSV in bounded batches, every business column as text (empty = NULL)."""
    names = read_header(path, delimiter=",", encoding="utf-8")
    types = {name: pa.string() for name in names}
    types[SOURCE_ROW_COLUMN] = pa.int64()
    reader = pacsv.open_csv(
        str(path),
        pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
        pacsv.ParseOptions(newlines_in_values=True),
        pacsv.ConvertOptions(
            column_types=types, null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=True
        ),
    )
    yield from reader


def validate(loaded: LoadedConfig, staging_path: Path, out_dir: Path) -> ValidateResult:
    """Standardise `staging_path` into `out_dir/validated.arrow`; rejected records go to a JSON Lines file."""
    names = [n for n in read_header(staging_path, delimiter=",", encoding="utf-8") if not n.startswith("_elt_")]
    types = pipeline_column_types(loaded, names)
    target = loaded.config.target
    key = key_columns(target, names) if target.mode == "merge" else []
    out_dir.mkdir(parents=True, exist_ok=True)
    result = ValidateResult(out_dir / VALIDATED_FILE, out_dir / VALIDATE_REJECTS_FILE, types)
    out_schema = pa.schema(
        [(n, pa.string()) for n in names] + [(HASH_COLUMN, pa.string()), (SOURCE_COLUMN, pa.string())]
    )
    with (
        pa.ipc.new_file(str(result.validated_path), out_schema) as writer,
        result.rejects_path.open("w", encoding="utf-8") as rejects,
    ):
        for batch in iter_staging(staging_path):
            result.rows_in += batch.num_rows
            canonical, reject_mask, reasons = _standardize_batch(batch, types, key)
            if reasons is not None:
                result.rejected += _write_rejects(rejects, batch, reject_mask, reasons, names, result)
                keep = pc.invert(reject_mask)
                canonical = {n: pc.filter(v, keep) for n, v in canonical.items()}
                source = pc.filter(batch.column(SOURCE_COLUMN), keep)
            else:
                source = batch.column(SOURCE_COLUMN)
            valid_rows = len(source)
            if not valid_rows:
                continue
            hashes = row_hashes(canonical)
            writer.write_batch(pa.record_batch([*canonical.values(), hashes, source], schema=out_schema))
            result.rows_valid += valid_rows
    return result


def _standardize_batch(
    batch: pa.RecordBatch, types: dict[str, str], key: list[str]
) -> tuple[dict[str, pa.Array], pa.Array | None, pa.StructArray | None]:
    canonical: dict[str, pa.Array] = {}
    reject_mask: pa.Array | None = None
    reasons: pa.Array | None = None
    checks: list[tuple[pa.Array, pa.Array]] = []
    for name, type_name in types.items():
        raw = batch.column(name)
        values, failed = STANDARDIZERS[type_name](raw)
        canonical[name] = values
        if pc.any(failed).as_py():
            quoted = pc.binary_join_element_wise(
                f"column {name!r}: '",
                pc.utf8_slice_codeunits(raw, 0, 80),
                f"' is not {TYPE_DESCRIPTIONS[type_name]}",
                "",
            )
            checks.append((failed, quoted, name))
    for name in key:
        missing = pc.is_null(canonical[name])
        if pc.any(missing).as_py():
            checks.append((missing, pa.scalar(f"column {name!r}: the primary key is empty"), name))
    columns: pa.Array | None = None
    for failed, reason, name in reversed(checks):  # the first failing column gives the reason
        reject_mask = failed if reject_mask is None else pc.or_(reject_mask, failed)
        reasons = pc.if_else(failed, reason, reasons if reasons is not None else pa.scalar(None, pa.string()))
        columns = pc.if_else(failed, name, columns if columns is not None else pa.scalar(None, pa.string()))
    if reasons is None:
        return canonical, None, None
    return canonical, reject_mask, pa.StructArray.from_arrays([reasons, columns], ["reason", "column"])


def _write_rejects(
    handle, batch: pa.RecordBatch, mask: pa.Array, reasons: pa.Array, names: list[str], result: ValidateResult
) -> int:
    indices = pc.indices_nonzero(mask)
    rows = batch.take(indices).to_pylist()
    for row, why in zip(rows, reasons.take(indices).to_pylist(), strict=True):
        column, reason = why["column"], why["reason"]
        record = {
            "raw_record": {n: row[n] for n in names},
            "column": column,
            "reason": reason,
            "source": row[SOURCE_COLUMN],
            "source_row": row[SOURCE_ROW_COLUMN],
        }
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        if len(result.first_reasons) < FIRST_REASONS:
            result.first_reasons.append(f"{row[SOURCE_COLUMN]} record {row[SOURCE_ROW_COLUMN]}: {reason}")
    return len(rows)
