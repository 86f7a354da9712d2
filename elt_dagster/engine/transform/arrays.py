"""Arrow helpers the standardisers share: masks of failed values, cleaning, and canonical text."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Standardized = tuple[pa.Array, pa.Array]
"""(canonical values, failed mask): failed is true where a non-empty value could not be converted."""


def failed_mask(values: pa.Array, ok: pa.Array) -> pa.Array:
    """True where a value is present but was not converted."""
    return pc.and_(pc.is_valid(values), pc.invert(pc.fill_null(ok, False)))


def keep_where(values: pa.Array, ok: pa.Array) -> pa.Array:
    """`values` where `ok`, else null."""
    return pc.if_else(pc.fill_null(ok, False), values, pa.nulls(len(values), values.type))


def clean_text(values: pa.Array) -> pa.Array:
    """Trimmed text; empty or whitespace-only values become null."""
    stripped = pc.utf8_trim_whitespace(values)
    return pc.if_else(pc.equal(stripped, ""), pa.nulls(len(values), pa.string()), stripped)


def no_failures(values: pa.Array) -> pa.Array:
    """A failed mask with nothing failed."""
    return pa.array(np.zeros(len(values), dtype=bool))


def as_text(values: pa.Array) -> pa.Array:
    """Converted timestamps (microseconds) as canonical text (whole seconds without `.000000`)."""
    if _whole_seconds(values):  # the usual case: cast to seconds, whose text has no fraction to take out
        return pc.cast(pc.cast(values, pa.timestamp("s", values.type.tz)), pa.string())
    return pc.replace_substring(pc.cast(values, pa.string()), ".000000", "")


def _whole_seconds(values: pa.Array) -> bool:
    """Whether every timestamp (microseconds) is a whole second; NULLs' slots may say no, never a wrong yes."""
    if not len(values):
        return True
    micros = np.frombuffer(values.buffers()[1], np.int64)[values.offset : values.offset + len(values)]
    return not (micros % 1_000_000).any()


def _offsets(values: pa.Array) -> np.ndarray:
    """A string array's value offsets (n + 1 of them) into its data buffer."""
    return np.frombuffer(values.buffers()[1], np.int32)[values.offset : values.offset + len(values) + 1]


def value_bytes(values: pa.Array) -> bytes:
    """The bytes of a string array's values, one after the other (a NULL's slot is normally empty)."""
    if not len(values) or values.buffers()[2] is None:
        return b""
    offsets = _offsets(values)
    start, end = int(offsets[0]), int(offsets[-1])
    return values.buffers()[2].slice(start, end - start).to_pybytes()


_PRINTABLE_ASCII = np.zeros(256, dtype=bool)
_PRINTABLE_ASCII[0x21:0x7F] = True


def starts_printable(values: pa.Array) -> bool:
    """Whether every non-null value of a string array starts with a printable ASCII character other than a space,
    so that none is empty or whitespace only: a look at one byte a value instead of a Unicode scan of all."""
    if not len(values) or values.null_count == len(values):
        return True
    if values.buffers()[2] is None:
        return False
    offsets = _offsets(values)
    starts, lengths = offsets[:-1], np.diff(offsets)
    if values.null_count:
        valid = pc.is_valid(values).to_numpy(zero_copy_only=False)
        starts, lengths = starts[valid], lengths[valid]
    if not lengths.all():
        return False
    data = np.frombuffer(values.buffers()[2], np.uint8)
    return bool(_PRINTABLE_ASCII[data[starts]].all())
