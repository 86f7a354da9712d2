"""The records of one API page: found at `records_path`, checked to be objects, flattened like JSON files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from elt_dagster.engine.sources.files.json_records import BadRecord, flatten_record

from .errors import ApiError, excerpt
from .json_paths import MISSING, describe_top, json_kind, lookup
from .paginators import Page


def records_of(page: Page, records_path: str | None) -> list[Any]:
    """The list of records in a response: at `records_path`, else the response itself."""
    data = page.data
    if not records_path:
        if isinstance(data, list):
            return data
        raise ApiError(
            f"the response from {page.shown} is {json_kind(data)}, not a list of records; "
            f"set records_path to the list inside it ({describe_top(data)})",
            url=page.shown,
        )
    value = lookup(data, records_path)
    if value is MISSING:
        raise ApiError(
            f"records_path {records_path!r} is not in the response from {page.shown}; {describe_top(data)}",
            url=page.shown,
        )
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApiError(
            f"records_path {records_path!r} in the response from {page.shown} is {json_kind(value)}, not a list",
            url=page.shown,
        )
    return value


def flattened(items: list[Any], page: Page, page_index: int) -> Iterator[dict[str, str | None]]:
    """Each record as flat string columns (`parent_child`, lists as JSON text); a non-object is an ApiError."""
    for index, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise ApiError(
                f"record {index} of page {page_index} from {page.shown} is {json_kind(item)}, not a JSON object: "
                f"{excerpt(json.dumps(item, default=str))}",
                url=page.shown,
            )
        try:
            yield flatten_record(item)
        except BadRecord as exc:
            raise ApiError(f"record {index} of page {page_index} from {page.shown}: {exc}", url=page.shown) from None
