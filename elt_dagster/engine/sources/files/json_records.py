"""JSON (an array, or records at `records_path`) and JSON Lines files, streamed; records flattened to columns."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from contextlib import closing
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pyarrow as pa

from elt_dagster.engine.json_text import MAX_DEPTH, BadRecord, checked_text, json_text, scalar_text
from elt_dagster.engine.sources.files.json_stream import TOO_DEEP, records_at
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
    shown_bytes,
    undecodable_bytes,
)


class FlattenCollision(BadRecord):
    """Two keys of one record flatten to the same column name (`a_b` and `a.b`)."""


def flatten_record(
    record: dict[str, Any], prefix: str = "", out: dict[str, str | None] | None = None, depth: int = 1
) -> dict[str, str | None]:
    """Nested objects become `parent_child` keys; lists stay JSON text; scalars become strings.

    Raises BadRecord (FlattenCollision when two keys would become one column: a value must never silently replace
    another) for a record that can't be stored as it is: a key with a NUL character, text that isn't valid Unicode,
    a number no database can hold, nesting deeper than MAX_DEPTH.
    """
    out = {} if out is None else out
    if depth > MAX_DEPTH:
        raise BadRecord(f"nested deeper than {MAX_DEPTH} levels")
    for key, value in record.items():
        if "\x00" in key:
            shown = checked_text(key).replace("\x00", "\\u0000")
            raise BadRecord(f"the key {shown!r} holds a NUL character")
        name = f"{prefix}{checked_text(key)}"
        if isinstance(value, dict):
            flatten_record(value, f"{name}_", out, depth + 1)
            continue
        if name in out:
            raise FlattenCollision(f"two keys become the column {name!r} (a nested key and a flat one)")
        out[name] = (
            None if value is None else json_text(value, depth) if isinstance(value, list) else scalar_text(value)
        )
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
            except BadRecord as exc:
                malformed.append(Malformed(raw=raw or _shown(item), reason=str(exc), row=number))
        elif isinstance(item, Malformed):
            malformed.append(item)
        else:
            malformed.append(Malformed(raw=raw or _shown(item), reason="record is not a JSON object", row=number))
        if len(records) + len(malformed) >= BATCH_ROWS:
            yield RawBatch(records_to_table(records), pa.array(numbers, pa.int64()), malformed)
            records, numbers, malformed = [], [], []
    if records or malformed:
        yield RawBatch(records_to_table(records), pa.array(numbers, pa.int64()), malformed)


def _shown(item: Any) -> str:
    """A parsed record as text for the quarantine (a record too deep to print is said to be so)."""
    try:
        return json.dumps(item, default=str)  # ASCII: a lone surrogate must not reach the UTF-8 rejects file
    except (RecursionError, ValueError):
        return f"(nested deeper than {MAX_DEPTH} levels: see the source file)"


def iter_jsonl(path: Path, *, encoding: str) -> Iterator[RawBatch]:
    """Stream a JSON Lines file: one object per line; a line that isn't one is kept aside as malformed."""
    _, gzipped = file_format(path)

    def items() -> Iterator[tuple[int, Any, str | None]]:
        with open_text(path, gzipped, encoding, "surrogateescape") as handle:
            try:
                for number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    yield number, _parse_line(line, number, encoding), shown_bytes(line.rstrip("\r\n"))
            except UnicodeDecodeError as exc:
                raise ExtractError(f"{path}: not {encoding} text ({short_error(exc)})") from None

    yield from _batched_records(items())


def _parse_line(line: str, number: int, encoding: str) -> Any:
    """One JSON Lines record, or a Malformed saying why it isn't one (NaN and Infinity are not JSON)."""
    bad = undecodable_bytes(line, encoding)
    if bad:
        return Malformed(raw=shown_bytes(line.rstrip("\r\n")), reason=bad, row=number)
    try:
        return json.loads(line, parse_float=Decimal, parse_constant=_not_json)
    except json.JSONDecodeError as exc:
        reason = f"invalid JSON: {exc.msg}"
    except BadRecord as exc:
        reason = str(exc)
    except RecursionError:
        reason = f"nested deeper than {MAX_DEPTH} levels"
    except InvalidOperation:
        reason = "a number out of range (its exponent is too large)"
    return Malformed(raw=line.rstrip("\r\n"), reason=reason, row=number)


def _not_json(name: str) -> Any:
    raise BadRecord(f"{name} is not valid JSON")


def iter_json(path: Path, *, encoding: str, records_path: str | None) -> Iterator[RawBatch]:
    """Stream a JSON file: a top-level array of objects, or the array found at `records_path`."""
    import ijson

    _, gzipped = file_format(path)

    def items() -> Iterator[tuple[int, Any, str | None]]:
        with closing(open_json_bytes(path, gzipped, encoding)) as handle:
            found, number = False, 0
            try:
                for number, item in enumerate(records_at(handle, records_path), start=1):
                    found = True
                    if item is TOO_DEEP:
                        reason = f"nested deeper than {MAX_DEPTH} levels"
                        item = Malformed(raw=f"({reason}: see the source file)", reason=reason, row=number)
                    yield number, item, None
            except ijson.JSONError as exc:
                if not found and _is_blank(path, gzipped):
                    raise ExtractError(f"{path}: the file is empty") from None
                raise ExtractError(f"{path}: invalid JSON ({short_error(exc)})") from None
            except UnicodeDecodeError as exc:
                raise ExtractError(f"{path}: not {encoding} text ({short_error(exc)})") from None
            except InvalidOperation:
                raise ExtractError(f"{path}: invalid JSON (a number out of range, after record {number})") from None
            except RecursionError:
                raise ExtractError(f"{path}: invalid JSON (nested too deeply, after record {number})") from None
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
