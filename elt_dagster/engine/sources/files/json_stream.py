"""The records of a JSON document, streamed from the parser's events with a bounded nesting depth.

ijson's `items()` builds every record whole and keeps a path string per event, which grows with the square of the
depth (a 100 KB file of nested brackets took 6 GB). Here the events come from `basic_parse`, which keeps no path,
and a record deeper than MAX_DEPTH is skipped event by event, never built.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from elt_dagster.engine.json_text import MAX_DEPTH

TOO_DEEP = object()
"""Stands for a record nested deeper than MAX_DEPTH (it is skipped, not built)."""
_STARTS = {"start_map": dict, "start_array": list}


def records_at(handle: IO[bytes] | Any, records_path: str | None) -> Iterator[Any]:
    """Each element of the array at `records_path` (dotted keys; the document itself when None), or TOO_DEEP.

    Numbers are Decimals. Raises ijson's errors for invalid JSON. Yields nothing when the path isn't there.
    """
    import ijson

    target = records_path.split(".") if records_path else []
    keys: list[str | None] = []  # the key (or None in an array) of each open container, outermost first
    events = ijson.basic_parse(handle, use_float=False)
    for event, value in events:
        if event == "map_key":
            keys[-1] = value
        elif event in _STARTS:
            if event == "start_array" and keys == target:
                yield from _elements(events)
            else:
                keys.append(None)
        elif event in ("end_map", "end_array"):
            keys.pop()


def _elements(events: Iterator[tuple[str, Any]]) -> Iterator[Any]:
    """The elements of the array whose start was just read, up to its end."""
    for event, value in events:
        if event == "end_array":
            return
        yield _build(event, value, events)


def _build(event: str, value: Any, events: Iterator[tuple[str, Any]]) -> Any:
    """One value from its first event; TOO_DEEP (its events consumed) past MAX_DEPTH."""
    if event not in _STARTS:
        return value
    root = _STARTS[event]()
    stack: list[Any] = [root]
    key: str | None = None
    for event, value in events:
        if event == "map_key":
            key = value
            continue
        if event in ("end_map", "end_array"):
            stack.pop()
            if not stack:
                return root
            continue
        item = _STARTS[event]() if event in _STARTS else value
        parent = stack[-1]
        if isinstance(parent, dict):
            parent[key] = item
        else:
            parent.append(item)
        if event in _STARTS:
            stack.append(item)
            if len(stack) > MAX_DEPTH:
                _skip(events, len(stack))
                return TOO_DEEP
    return root


def _skip(events: Iterator[tuple[str, Any]], depth: int) -> None:
    """Consume events until `depth` open containers have closed."""
    for event, _ in events:
        if event in _STARTS:
            depth += 1
        elif event in ("end_map", "end_array"):
            depth -= 1
            if depth == 0:
                return
