"""JSON (an array, or records at `records_path`) and JSON Lines files, streamed; records flattened to columns."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from contextlib import closing
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

from elt_dagster.engine.sources.files.readers import (
    BATCH_ROWS,
    ExtractError,
    Malformed,
    RawBatch,
    file_format,
    open_json_bytes,
    open_text,
    records_to_table,
    short_error,
)


def _json_number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class FlattenCollision(ValueError):
    """Two keys of one record flatten to the same column name (`a_b` and `a.b`)."""


def flatten_record(
    record: dict[str, Any], prefix: str = "", out: dict[str, str | None] | None = None
) -> dict[str, str | None]:
    """Nested objects become `parent_child` keys; lists stay JSON text; scalars become strings.

    Raises FlattenCollision when two keys would become one column: a value must never silently replace another.
    """
    out = {} if out is None else out
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flatten_record(value, f"{name}_", out)
            continue
        if name in out:
            raise FlattenCollision(f"two keys become the column {name!r} (a nested key and a flat one)")
        if value is None:
            out[name] = None
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, list):
            out[name] = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_number)
        else:
            out[name] = str(value)
    return out


def _batched_records(items: Iterator[tuple[int, Any, str | None]]) -> Iterator[RawBatch]:
    records: list[dict[str, str | None]] = []
    numbers: list[int] = []
    malformed: list[Malformed] = []
    for number, item, raw in items:
        if isinstance(item, dict):
            try:
                records.append(flatten_record(item))
                numbers.append(number)
            except FlattenCollision as exc:
                malformed.append(Malformed(raw=raw or json.dumps(item, default=str), reason=str(exc), row=number))
        elif isinstance(item, Malformed):
            malformed.append(item)
        else:
            malformed.append(
                Malformed(raw=raw or json.dumps(item, default=str), reason="record is not a JSON object", row=number)
            )
        if len(records) + len(malformed) >= BATCH_ROWS:
            yield RawBatch(records_to_table(records), pa.array(numbers, pa.int64()), malformed)
            records, numbers, malformed = [], [], []
    if records or malformed:
        yield RawBatch(records_to_table(records), pa.array(numbers, pa.int64()), malformed)


def iter_jsonl(path: Path, *, encoding: str) -> Iterator[RawBatch]:
    """Stream a JSON Lines file: one object per line; a line that isn't one is kept aside as malformed."""
    _, gzipped = file_format(path)

    def items() -> Iterator[tuple[int, Any, str | None]]:
        with open_text(path, gzipped, encoding) as handle:
            try:
                for number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    try:
                        yield number, json.loads(line, parse_float=Decimal), line.rstrip("\r\n")
                    except json.JSONDecodeError as exc:
                        yield (
                            number,
                            Malformed(raw=line.rstrip("\r\n"), reason=f"invalid JSON: {exc.msg}", row=number),
                            line,
                        )
            except UnicodeDecodeError as exc:
                raise ExtractError(f"{path}: not {encoding} text ({short_error(exc)})") from None

    yield from _batched_records(items())


def iter_json(path: Path, *, encoding: str, records_path: str | None) -> Iterator[RawBatch]:
    """Stream a JSON file: a top-level array of objects, or the array found at `records_path`."""
    import ijson

    _, gzipped = file_format(path)
    prefix = f"{records_path}.item" if records_path else "item"

    def items() -> Iterator[tuple[int, Any, str | None]]:
        with closing(open_json_bytes(path, gzipped, encoding)) as handle:
            found = False
            try:
                for number, item in enumerate(ijson.items(handle, prefix), start=1):
                    found = True
                    yield number, item, None
            except ijson.JSONError as exc:
                if not found and _is_blank(path, gzipped):
                    raise ExtractError(f"{path}: the file is empty") from None
                raise ExtractError(f"{path}: invalid JSON ({short_error(exc)})") from None
            except UnicodeDecodeError as exc:
                raise ExtractError(f"{path}: not {encoding} text ({short_error(exc)})") from None
            if not found:
                _explain_missing_records(path, gzipped, encoding, records_path)

    yield from _batched_records(items())


def _is_blank(path: Path, gzipped: bool) -> bool:
    with gzip.open(path, "rb") if gzipped else open(path, "rb") as handle:
        return not handle.read(4096).strip()


def _explain_missing_records(path: Path, gzipped: bool, encoding: str, records_path: str | None) -> None:
    import ijson

    with closing(open_json_bytes(path, gzipped, encoding)) as handle:
        first = next(iter(ijson.parse(handle)), None)
    if first is None:
        raise ExtractError(f"{path}: the file is empty")
    kind = first[1]
    if records_path:
        if kind == "start_array":
            raise ExtractError(f"{path}: records_path {records_path!r} is set but the file is a JSON array")
        with closing(open_json_bytes(path, gzipped, encoding)) as handle:
            for prefix, event, _ in ijson.parse(handle):
                if prefix == records_path:
                    if event == "start_array":
                        return  # an empty list: no records, not an error
                    kind = event.replace("start_", "")
                    raise ExtractError(f"{path}: records_path {records_path!r} is a {kind}, not a list")
        raise ExtractError(f"{path}: records_path {records_path!r} is not in the file")
    if kind == "start_map":
        raise ExtractError(f"{path}: the file is a JSON object; set records_path to the list of records inside it")
    if kind != "start_array":
        raise ExtractError(f"{path}: expected a JSON array of objects")
