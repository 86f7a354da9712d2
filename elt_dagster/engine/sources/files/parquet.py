"""Parquet files, streamed a batch at a time: each column typed when a column type takes its Arrow type as it is
(integers, doubles, booleans, dates, timestamps: transform/typed.py), else as the text the standardisers read; and
each column's registry type for a pipeline without a `schema` (`parquet_columns`).

The text of a value (`as_text`, also for a typed column that must be text): numbers as Arrow writes them (`1.5`,
`1e+20`, `nan`), decimals with every digit, booleans `true`/`false`, dates and timestamps ISO 8601 (a timestamp with
a zone keeps its offset), times as `HH:MM:SS`, durations ISO 8601 (`PT3.5S`), binary as lowercase hex, lists,
structs and maps as JSON text; NULL stays NULL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from elt_dagster.engine.json_text import BadRecord, json_text
from elt_dagster.engine.sources.files.readers import BATCH_ROWS, ExtractError, RawBatch, short_error
from elt_dagster.engine.transform.typed import arrow_kind
from elt_dagster.engine.types import (
    BIGINT,
    BOOLEAN,
    DATE,
    DECIMAL,
    FLOAT,
    INTEGER,
    JSON,
    STRING,
    TIMESTAMP,
    TIMESTAMPTZ,
    typed_input_kinds,
)

READ_BUFFER_BYTES = 1 << 20
"""Column chunks are read through a buffer of this size, not whole: a large row group stays in bounded memory."""
_TYPED_KINDS = typed_input_kinds()
_DURATION_DIGITS = {"s": 0, "ms": 3, "us": 6, "ns": 9}


def _open(path: Path) -> pq.ParquetFile | None:
    """The file's reader; None for an empty (0-byte) file; an ExtractError naming it for a file that is no Parquet
    (a bad footer, a truncated file)."""
    try:
        if path.stat().st_size == 0:
            return None
        return pq.ParquetFile(path, buffer_size=READ_BUFFER_BYTES)
    except (pa.ArrowException, OSError) as exc:
        raise ExtractError(f"{path}: not a readable Parquet file ({short_error(exc)})") from None


def parquet_columns(path: Path) -> list[tuple[str, str]]:
    """The file's column names and each one's registry type, from its schema alone (no row is read)."""
    reader = _open(path)
    if reader is None:
        return []
    return [(field.name, registry_type(field.type)) for field in reader.schema_arrow]


def iter_parquet(path: Path) -> Iterator[RawBatch]:
    """Stream a Parquet file as string batches of at most BATCH_ROWS rows, numbered from 1 in file order."""
    reader = _open(path)
    if reader is None:
        return
    first_row = 1
    try:
        for batch in reader.iter_batches(batch_size=BATCH_ROWS):
            columns = {name: _as_read(column) for name, column in zip(batch.schema.names, batch.columns, strict=True)}
            numbers = pa.array(np.arange(first_row, first_row + batch.num_rows, dtype=np.int64))
            yield RawBatch(pa.table(columns), numbers)
            first_row += batch.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise ExtractError(
            f"{path}: can't read the Parquet file after row {first_row - 1} ({short_error(exc)})"
        ) from None


def _as_read(column: pa.Array) -> pa.Array:
    """A column as the standardisers take it: as it is when some column type takes its Arrow type (integers, dates,
    timestamps...: transform/typed.py), else as text."""
    return column if arrow_kind(column.type) in _TYPED_KINDS else as_text(column)


def registry_type(arrow_type: pa.DataType) -> str:
    """The column type (engine/types.py) a Parquet column of `arrow_type` loads as without a `schema`."""
    if pa.types.is_dictionary(arrow_type):
        return registry_type(arrow_type.value_type)
    checks = (
        (lambda t: pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_int32(t), INTEGER),
        (lambda t: pa.types.is_uint8(t) or pa.types.is_uint16(t), INTEGER),
        (lambda t: pa.types.is_int64(t) or pa.types.is_uint32(t), BIGINT),
        (pa.types.is_uint64, DECIMAL),  # beyond bigint
        (pa.types.is_floating, FLOAT),
        (pa.types.is_decimal, DECIMAL),
        (pa.types.is_boolean, BOOLEAN),
        (pa.types.is_date, DATE),
        (lambda t: pa.types.is_timestamp(t) and t.tz is None, TIMESTAMP),
        (pa.types.is_timestamp, TIMESTAMPTZ),
        (pa.types.is_nested, JSON),
    )
    return next((kind.name for matches, kind in checks if matches(arrow_type)), STRING.name)


def as_text(column: pa.Array) -> pa.Array:
    """`column` as a string array in the form the standardisers read (see the module's docstring)."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        return as_text(column.dictionary_decode())
    if pa.types.is_null(kind):
        return pa.nulls(len(column), pa.string())
    if pa.types.is_float16(kind):
        return pc.cast(pc.cast(column, pa.float32()), pa.string())
    if pa.types.is_nested(kind):
        return pa.array([_json(value) for value in column.to_pylist(maps_as_pydicts="lossy")], pa.string())
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_fixed_size_binary(kind):
        return pa.array([None if value is None else value.hex() for value in column.to_pylist()], pa.string())
    if pa.types.is_binary_view(kind):
        return as_text(pc.cast(column, pa.binary()))
    if pa.types.is_duration(kind):
        return _durations(column)
    return pc.cast(column, pa.string())


def _durations(column: pa.Array) -> pa.Array:
    """Durations as ISO 8601 seconds, exactly (`PT3.5S`, `PT-0.000001S`)."""
    digits = _DURATION_DIGITS[column.type.unit]
    counts = pc.cast(column, pa.int64()).to_pylist()
    return pa.array(
        [None if n is None else f"PT{Decimal(n).scaleb(-digits).normalize():f}S" for n in counts], pa.string()
    )


def _json(value: Any) -> str | None:
    """A nested value (a list, struct or map, as Python) as JSON text; NaN or infinity is written as such (then
    rejected as JSON with its column, as a JSON file's would be)."""
    if value is None:
        return None
    plain = _plain(value)
    try:
        return json_text(plain)
    except BadRecord:
        return json.dumps(plain, ensure_ascii=False, separators=(",", ":"), default=str)


def _plain(value: Any) -> Any:
    """`value` with what JSON lacks made text: dates and times ISO 8601, bytes hex, decimals kept exact."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, int | float | bool | str | Decimal) or value is None:
        return value
    return str(value)  # a duration, and whatever else Arrow gives: its text
