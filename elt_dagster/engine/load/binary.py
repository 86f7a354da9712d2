"""COPY data: validated rows (canonical text) as typed Arrow columns in PostgreSQL's binary COPY format.

Binary COPY spares the server the text parsing of numbers, timestamps and uuids, the largest part of its work
on a load. The canonical text is cast to typed Arrow arrays and encoded with `pgpq`. A batch whose values can't
be typed exactly falls back to CSV, so that what is stored never depends on the format: today that is a decimal
column whose values have different numbers of fraction digits (PostgreSQL keeps each value's scale: `12.50`
stays `12.50`, and a typed Arrow decimal has one scale).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from elt_dagster.engine.load.copy import CopyData, to_csv
from elt_dagster.engine.names import HASH_COLUMN
from elt_dagster.engine.transform.validate import with_hex_hashes
from elt_dagster.engine.types import DEFAULT, TYPES

MAX_NUMERIC_GROUPS = 16
"""Widest decimal sent in binary, in base-10000 digits (64 decimal digits); wider batches go as CSV."""
_DECIMAL_BYTES = np.zeros(256, dtype=bool)
_DECIMAL_BYTES[np.frombuffer(b"0123456789.-", np.uint8)] = True
_INT64_DIGITS = 18
"""Digits an int64 always holds."""


def copy_data(rows: pa.Table, types: dict[str, str]) -> CopyData:
    """`rows` (canonical text, the 16-byte hash, other columns as text) ready for one COPY of its column names."""
    typed = typed_table(rows, types)
    if typed is None:
        return CopyData((to_csv(with_hex_hashes(rows)),), binary=False)
    return CopyData(encode(typed, types), binary=True)


def typed_table(rows: pa.Table, types: dict[str, str]) -> pa.Table | None:
    """`rows` with each column in its Arrow type; None when a column can't be typed exactly (see the docstring)."""
    columns = []
    for name, column in zip(rows.column_names, rows.columns, strict=True):
        try:
            typed = _typed(column, types.get(name, DEFAULT.name), name)
        except pa.ArrowInvalid:  # a value the table's type can't take: PostgreSQL says so, from CSV
            return None
        if typed is None:
            return None
        columns.append(typed)
    return pa.Table.from_arrays(columns, names=rows.column_names)


def _typed(column: pa.ChunkedArray, type_name: str, name: str) -> pa.Array | pa.ChunkedArray | None:
    if name == HASH_COLUMN:
        return column  # XXH3-128's 16 bytes are the binary uuid
    column_type = TYPES.get(type_name)
    if column_type is None:
        return None  # a type of the table's that binary COPY doesn't encode here: CSV
    if column_type.binary == "truth":
        return pc.equal(column, "t")
    if column_type.binary == "digits":
        return _decimal(column)
    return pc.cast(column, column_type.arrow_type())  # text: dictionary-encoded constants too


def _decimal(column: pa.ChunkedArray) -> pa.Array | None:
    """The column as PostgreSQL `numeric` values in binary form, each keeping its own scale.

    The canonical text (`-12.5`, `0.001`) is read digit by digit into the batch's widest integer and fraction
    parts, so every value has the same number of base-10000 digits; `numeric_recv` strips the zero digits this
    adds. None (CSV) when a value is so wide that this would cost too much memory.
    """
    column = column.combine_chunks()
    text = pc.fill_null(column, "0")
    offsets = np.frombuffer(text.buffers()[1], np.int32)[text.offset : text.offset + len(text) + 1].astype(np.int64)
    data = np.frombuffer(text.buffers()[2], np.uint8) if text.buffers()[2] is not None else np.zeros(0, np.uint8)
    starts, ends = offsets[:-1], offsets[1:]
    if not len(data) or (ends <= starts).any() or not _DECIMAL_BYTES[data[starts[0] : ends[-1]]].all():
        return None  # not canonical decimal text: never expected, but CSV is always right
    negative = data[starts] == ord("-")
    starts = starts + negative
    found = pc.find_substring(text, ".").to_numpy(zero_copy_only=False).astype(np.int64)
    dots = np.where(found < 0, ends, offsets[:-1] + found)
    int_groups = -(-int((dots - starts).max()) // 4)
    frac_groups = -(-int(np.maximum(ends - dots - 1, 0).max()) // 4)
    groups = int_groups + frac_groups
    if not 0 < groups <= MAX_NUMERIC_GROUPS:
        return None
    scales = np.maximum(ends - dots - 1, 0)
    if int((dots - starts).max()) + 4 * frac_groups <= _INT64_DIGITS:
        digits = _groups_by_arithmetic(text, scales, groups, frac_groups)
    else:
        digits = _groups_by_position(data, starts, dots, ends, int_groups, frac_groups)
    payload = np.empty((len(text), 4 + groups), ">i2")
    payload[:, 0] = groups  # ndigits
    payload[:, 1] = int_groups - 1  # weight of the first digit
    payload[:, 2] = np.where(negative, 0x4000, 0)
    payload[:, 3] = scales  # dscale: the value's own
    payload[:, 4:] = digits
    validity = pc.is_valid(column).buffers()[1] if column.null_count else None
    binary_type = pa.binary(2 * payload.shape[1])
    return pa.FixedSizeBinaryArray.from_buffers(binary_type, len(text), [validity, pa.py_buffer(payload.tobytes())])


def _groups_by_arithmetic(text: pa.Array, scales: np.ndarray, groups: int, frac_groups: int) -> np.ndarray:
    """Base-10000 digits (n x groups, most significant first) of values whose digits fit an int64 once scaled to
    `frac_groups` fraction digits: the text without its point, as an integer, scaled and divided."""
    whole = np.abs(pc.cast(pc.replace_substring(text, ".", ""), pa.int64()).to_numpy())
    scaled = whole * np.power(10, 4 * frac_groups - scales, dtype=np.int64)
    return scaled[:, None] // (10_000 ** np.arange(groups - 1, -1, -1, dtype=np.int64)) % 10_000


def _groups_by_position(
    data: np.ndarray, starts: np.ndarray, dots: np.ndarray, ends: np.ndarray, int_groups: int, frac_groups: int
) -> np.ndarray:
    """Base-10000 digits (n x groups, most significant first), read digit by digit from the text: any width."""
    integer = dots[:, None] - 4 * int_groups + np.arange(4 * int_groups)[None, :]
    fraction = dots[:, None] + 1 + np.arange(4 * frac_groups)[None, :]
    positions = np.concatenate([integer, fraction], axis=1)
    inside = np.concatenate([integer >= starts[:, None], fraction < ends[:, None]], axis=1)
    digits = np.where(inside, data[np.clip(positions, 0, len(data) - 1)].astype(np.int16) - ord("0"), 0)
    return digits.reshape(len(starts), int_groups + frac_groups, 4) @ np.array([1000, 100, 10, 1], np.int16)


def encode(table: pa.Table, types: dict[str, str]) -> tuple[bytes, ...]:
    """`table` in PostgreSQL's binary COPY format, header and trailer included, in parts (see `CopyData`)."""
    from pgpq import ArrowToPostgresBinaryEncoder
    from pgpq.encoders import StringEncoderBuilder
    from pgpq.schema import Jsonb

    encoders = {
        field.name: StringEncoderBuilder.new_with_output(field, Jsonb())
        if TYPES.get(types.get(field.name, ""), DEFAULT).binary == "jsonb"
        else ArrowToPostgresBinaryEncoder.infer_encoder(field)
        for field in table.schema
    }
    encoder = ArrowToPostgresBinaryEncoder.new_with_encoders(table.schema, encoders)
    parts = [encoder.write_header()]
    parts += [encoder.write_batch(batch) for batch in table.to_batches()]
    parts.append(encoder.finish())
    return tuple(parts)
