"""Typed columns (a Parquet file's integers, dates, timestamps...) standardised as they are, not as text.

A reader keeps a column typed when some column type takes its Arrow type (`types.typed_input_kinds`); everything
else about it is as for text. The canonical text must be the one the column's text would give (the row hash is of
it, so a Parquet file and a CSV of the same rows dedup against each other): where a typed column's standardiser
fails on a value, or the declared type does not take the column's Arrow type, the column is standardised as text.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from elt_dagster.engine.transform.arrays import Standardized
from elt_dagster.engine.types import ColumnType


def arrow_kind(arrow_type: pa.DataType) -> str:
    """How `ColumnType.typed_inputs` names an Arrow type: its own text (`int64`, `date32[day]`), a timestamp's zone
    reduced to whether it has one (`timestamp[ms, tz]`: every zone standardises alike), a decimal's precision and
    scale left out (`decimal128`: every scale from 0 up standardises alike)."""
    if pa.types.is_timestamp(arrow_type):
        return f"timestamp[{arrow_type.unit}{', tz' if arrow_type.tz is not None else ''}]"
    if pa.types.is_decimal(arrow_type) and arrow_type.scale >= 0:  # a negative scale is written with an exponent
        return f"decimal{arrow_type.bit_width}"
    return str(arrow_type)


def as_text(values: pa.Array) -> pa.Array:
    """A column as the text standardisers take it: a typed column's values as Arrow writes them (what a Parquet
    reader gives for every type it does not keep typed, and what a reject record shows)."""
    return values if values.type == pa.string() else values.cast(pa.string())


def standardize_typed(values: pa.Array, column_type: ColumnType) -> Standardized | None:
    """`values` (typed) standardised by `column_type` when it takes their Arrow type and every value converts;
    None when the column must go the text way (which also says why a value fails)."""
    if arrow_kind(values.type) not in column_type.typed_inputs:
        return None
    try:
        canonical, failed = column_type.standardize(values)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None  # a value only the text way can judge (an out-of-range integer, a timestamp past 9999)
    if pc.any(failed).as_py():
        return None
    return canonical, failed


def text_columns(table: pa.Table | pa.RecordBatch, names: list[str]) -> pa.Table | pa.RecordBatch:
    """`table` with the columns `names` as text (the others, such as the source row numbers, as they are)."""
    for name in names:
        at = table.schema.get_field_index(name)
        if at >= 0 and table.schema.field(at).type != pa.string():
            table = table.set_column(at, name, as_text(table.column(at)))
    return table
