"""Source names as `schema.normalize_names` maps them, and the hint for a key named differently in a file.

`snake_case` (the one rule so far), applied to a header or record key before it is matched to the declared columns:
1. Unicode NFKD, accents dropped (`Café` -> `Cafe`, `ﬁle` -> `file`); other non-ASCII characters are separators (step 3);
2. camelCase split: a lower-case letter or digit followed by a capital (`orderId` -> `order_Id`), and a run of
   capitals followed by a capitalised word (`HTTPServer` -> `HTTP_Server`);
3. every run of characters other than ASCII letters and digits becomes one `_`; leading and trailing `_` removed;
4. lower-cased; a name starting with a digit gets a leading `_` (`2024 Total` -> `_2024_total`).
So `Order ID`, `OrderID`, `orderId` and `order-id` are all `order_id`. A name with nothing left (`€`) is unnamed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

_LOWER_THEN_UPPER = re.compile(r"([a-z0-9])([A-Z])")
_CAPITALS_THEN_WORD = re.compile(r"([A-Z]+)([A-Z][a-z])")
_OTHER = re.compile(r"[^A-Za-z0-9]+")


def snake_case(name: str) -> str:
    """`name` by the `snake_case` rule above (`Order ID` -> `order_id`); empty when nothing of it is kept."""
    decomposed = unicodedata.normalize("NFKD", name)
    text = "".join(char for char in decomposed if not unicodedata.combining(char))
    text = _CAPITALS_THEN_WORD.sub(r"\1_\2", _LOWER_THEN_UPPER.sub(r"\1_\2", text))
    text = _OTHER.sub("_", text).strip("_").lower()
    return f"_{text}" if text[:1].isdigit() else text


NORMALIZERS: dict[str, Callable[[str], str]] = {"snake_case": snake_case}
"""`schema.normalize_names` values and their rules."""


def loose(name: str) -> str:
    """`name` with case, spaces and punctuation ignored (`Order ID` and `order_id` are both `orderid`)."""
    return "".join(char for char in name.lower() if char.isalnum())


def key_hint(setting: str, key: str, names: Iterable[str], normalizing: bool, source: str) -> str | None:
    """The one-line error for a key column (`setting` `target.primary_key` or `target.order_by`) that no column of
    `source` fills while one of its `names` would (by `snake_case`, or ignoring case and spaces); None if none would."""
    wanted = key.strip()
    for name in names:
        if snake_case(name) == wanted.lower() and not normalizing:
            ways = f'schema.normalize_names: snake_case, or columns.{wanted}: {{from: "{name}"}}'
        elif loose(name) == loose(wanted) and loose(wanted):
            ways = f'columns.{wanted}: {{from: "{name}"}}'
        else:
            continue
        return f"{setting} {wanted!r}: no column of {source} is named so; its header {name!r} would be with {ways}"
    return None
