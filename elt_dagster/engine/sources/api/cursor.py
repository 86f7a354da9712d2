"""Incremental API sources: the highest cursor value loaded, and the key it is remembered under."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime

from elt_dagster.engine.redaction import redact_url

from .json_paths import as_number
from .models import ApiSource


def max_cursor(values: Iterable[str | None], current: str | None) -> str | None:
    """The highest of `current` and `values` (None and empty values ignored), as it was spelled.

    Compared as numbers when every value is one, else as ISO-8601 timestamps when every value is one (a
    timestamp without zone counts as UTC), else as strings.
    """
    candidates = [v for v in (current, *values) if v is not None and str(v).strip() != ""]
    if not candidates:
        return None
    texts = [str(v).strip() for v in candidates]
    for parse in (as_number, _as_timestamp):
        keys = [parse(text) for text in texts]
        if all(key is not None for key in keys):
            return candidates[max(range(len(keys)), key=keys.__getitem__)]
    return candidates[max(range(len(texts)), key=texts.__getitem__)]


def cursor_key(source: ApiSource) -> str:
    """How an API source's incremental cursor is remembered: its URL without credentials, plus a digest of what
    else selects its records (method, params, body, records_path, the raw URL), so two sources never share one."""
    selection = json.dumps(
        [source.url, source.method, source.params, source.json_body, source.records_path], sort_keys=True, default=str
    )
    return f"{source.display_url()}#{hashlib.sha256(selection.encode()).hexdigest()[:12]}"


def remembered_cursor(source: ApiSource, cursors: dict[str, str]) -> str | None:
    """The source's cursor among those remembered; also under the key used before values from the environment
    were masked in it (a `${VAR}` in the URL), so that an upgrade doesn't fetch everything again."""
    found = cursors.get(cursor_key(source))
    if found is None and source.secrets():
        shown = redact_url(source.url, source.secret_query_names(), drop=True)
        found = cursors.get(shown + cursor_key(source)[len(source.display_url()) :])
    return found


def _as_timestamp(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
