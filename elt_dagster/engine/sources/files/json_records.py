"""JSON (an array, or records at `records_path`) and JSON Lines files, streamed; records flattened to columns."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from elt_dagster.engine.json_text import MAX_DEPTH, BadRecord, checked_text, json_text, scalar_text
from elt_dagster.engine.sources.files.json_scan import JsonSyntaxError, JsonText, Skipped
from elt_dagster.engine.sources.files.readers import (
    BATCH_ROWS,
    CHUNK_CHARS,
    MAX_COLUMNS,
    MAX_RECORD_CHARS,
    ExtractError,
    Malformed,
    RawBatch,
    encoding_hint,
    file_format,
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
        if len(out) > MAX_COLUMNS:
            raise BadRecord(f"more than {MAX_COLUMNS:,} columns (a PostgreSQL table holds at most {MAX_COLUMNS:,})")
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


def iter_jsonl(path: Path, *, encoding: str, max_record_chars: int = MAX_RECORD_CHARS) -> Iterator[RawBatch]:
    """Stream a JSON Lines file: one object per line; a line that isn't one is kept aside as malformed, and so is
    a line over `max_record_chars`, passed over a chunk at a time without being held."""
    _, gzipped = file_format(path)

    def items() -> Iterator[tuple[int, Any, str | None]]:
        with open_text(path, gzipped, encoding, "surrogateescape") as handle:
            try:
                number = 0
                while line := handle.readline(max_record_chars + 1):
                    number += 1
                    if len(line) > max_record_chars and not line.endswith(_LINE_ENDS):
                        yield number, _passed_over(handle, number, max_record_chars), None
                    elif line.strip():
                        yield number, _parse_line(line, number, encoding), shown_bytes(line.rstrip("\r\n"))
            except UnicodeError as exc:
                hint = encoding_hint(exc, encoding)
                raise ExtractError(f"{path}: not {encoding} text ({short_error(exc)}){hint}") from None

    yield from _batched_records(items())


_LINE_ENDS = ("\n", "\r")


def _passed_over(handle: IO[str], number: int, max_record_chars: int) -> Malformed:
    """Read past the rest of an over-long line, a chunk at a time; the Malformed that stands for it."""
    while (rest := handle.readline(CHUNK_CHARS)) and not rest.endswith(_LINE_ENDS):
        pass
    reason = f"larger than the {max_record_chars:,}-character cap of a record (line {number})"
    return Malformed(raw=f"({reason}: see the source file)", reason=reason, row=number)


def _parse_line(line: str, number: int, encoding: str) -> Any:
    """One JSON Lines record, or a Malformed saying why it isn't one (NaN and Infinity are not JSON)."""
    bad = undecodable_bytes(line, encoding)
    if bad:
        return Malformed(raw=shown_bytes(line.rstrip("\r\n")), reason=bad, row=number)
    try:
        return json.loads(line, parse_float=Decimal, parse_constant=_not_json)
    except json.JSONDecodeError as exc:
        reason = f"invalid JSON: {exc.msg.removesuffix(' at')} at column {exc.colno}"
    except BadRecord as exc:
        reason = str(exc)
    except RecursionError:
        reason = f"nested deeper than {MAX_DEPTH} levels"
    except InvalidOperation:
        reason = "a number out of range (its exponent is too large)"
    except ValueError:  # an integer of more digits than Python converts
        reason = f"a number of more than {sys.get_int_max_str_digits():,} digits"
    return Malformed(raw=line.rstrip("\r\n"), reason=reason, row=number)


def _not_json(name: str) -> Any:
    raise BadRecord(f"{name} is not valid JSON")


def iter_json(
    path: Path, *, encoding: str, records_path: str | None, max_record_chars: int = MAX_RECORD_CHARS
) -> Iterator[RawBatch]:
    """Stream a JSON file: a top-level array of objects, or the array found at `records_path`; a record over
    `max_record_chars` or nested too deeply is kept aside as malformed, passed over without being built."""
    _, gzipped = file_format(path)

    def items() -> Iterator[tuple[int, Any, str | None]]:
        with open_text(path, gzipped, encoding) as handle:
            text = JsonText(handle)
            try:
                for number, item in enumerate(_records(text, path, records_path, max_record_chars), start=1):
                    if isinstance(item, Skipped):
                        reason = f"{item.reason} (line {item.line})"
                        item = Malformed(raw=f"({reason}: see the source file)", reason=reason, row=number)
                    yield number, item, None
            except JsonSyntaxError as exc:
                raise ExtractError(f"{path}: invalid JSON: {exc}") from None
            except UnicodeError as exc:
                hint = encoding_hint(exc, encoding)
                raise ExtractError(f"{path}: not {encoding} text ({short_error(exc)}){hint}") from None

    yield from _batched_records(items())


_KINDS = {"{": "map", "[": "list", '"': "string", "t": "boolean", "f": "boolean", "n": "null"}


def _records(text: JsonText, path: Path, records_path: str | None, cap: int) -> Iterator[Any]:
    """The elements of the top-level array, or of the array at `records_path`; then the rest of the document."""
    if text.peek() == "\ufeff":  # a byte order mark read as UTF-8
        text.pos += 1
    first = text.peek()
    if not first:
        raise ExtractError(f"{path}: the file is empty")
    if records_path is None:
        if first == "{":
            raise ExtractError(f"{path}: the file is a JSON object; set records_path to the list of records inside it")
        if first != "[":
            raise ExtractError(f"{path}: expected a JSON array of objects")
        open_maps = 0
    else:
        if first == "[":
            raise ExtractError(f"{path}: records_path {records_path!r} is set but the file is a JSON array")
        open_maps = _enter(text, records_path.split("."), cap)
        if open_maps is None:
            raise ExtractError(f"{path}: records_path {records_path!r} is not in the file")
        kind = text.peek()
        if kind != "[":
            kind_name = _KINDS.get(kind, "number")
            raise ExtractError(f"{path}: records_path {records_path!r} is a {kind_name}, not a list")
    text.take("[")
    if text.peek() == "]":
        text.pos += 1
    else:
        yield text.value(cap)
        while text.take(",]") == ",":
            yield text.value(cap)
    for _ in range(open_maps):
        while text.take(",}") == ",":
            _member(text, cap)
    if text.peek():
        raise text.error(text.pos, "more text after the end of the JSON document")


def _enter(text: JsonText, keys: list[str], cap: int) -> int | None:
    """Move to the value at `keys` (nested objects' keys), passing over other members; the number of objects
    opened on the way, or None when the path isn't in the document."""
    for depth, key in enumerate(keys):
        if text.peek() != "{":
            return None
        text.take("{")
        if text.peek() == "}":
            return None
        while _member(text, cap, key) != key:
            if text.take(",}") == "}":
                return None
        if depth == len(keys) - 1:
            return depth + 1
    return None


def _member(text: JsonText, cap: int, wanted: str | None = None) -> str:
    """Read `"key": value` and return the key; the value is left unread when the key is `wanted`."""
    at = text.pos
    key = text.value(cap)
    if not isinstance(key, str):
        raise text.error(at, "expected a key (a string in double quotes)")
    text.take(":")
    if key != wanted:
        text.value(cap)
    return key
