"""Caps on a pipeline YAML, checked before anything expands it.

YAML's anchors and aliases (`&a`, `*a`) let 600 bytes stand for billions of values (a "billion laughs" file), and
an alias may even name the collection that holds it. PyYAML composes an alias as one shared node, but everything
that walks the data afterwards (`${VAR}` substitution, duplicate keys, validation) would expand it. So the parser's
events are counted first, each alias as the size of what it names, and the file is refused as soon as a cap is
passed: before any node is built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError, format_loc

MAX_DOCUMENT_BYTES = 512 * 1024
"""A pipeline YAML's size: 4x the largest real one (1,596 columns, each with a type, a rule and a description)."""
MAX_VALUE_CHARS = 64 * 1024
"""One key or value of a pipeline YAML."""
MAX_EXPANDED_VALUES = 50_000
"""Keys, values and items of a pipeline YAML, each alias counted as the collection it stands for."""

YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML has it (10x faster on a large file), else PyYAML's own."""

_KEY_AT_LINE_START = re.compile(rb"[\s-]*[\"']?([A-Za-z_][A-Za-z0-9_]*)[\"']?\s*:")


def document_too_large(head: bytes, size: int) -> str:
    """The problem of a file of `size` bytes that is over MAX_DOCUMENT_BYTES, from its first bytes (`head`):
    it names the first line that alone is over MAX_VALUE_CHARS (and its key), where there is one."""
    problem = f"the file is {size:,} bytes: a pipeline YAML is at most {MAX_DOCUMENT_BYTES:,} bytes"
    for number, line in enumerate(head.split(b"\n"), start=1):
        if len(line) > MAX_VALUE_CHARS:
            key = _KEY_AT_LINE_START.match(line[:200])
            what = f"`{key.group(1).decode()}` holds" if key else "it holds"
            return f"line {number}: {what} a value of more than {MAX_VALUE_CHARS:,} characters; {problem}"
    return problem


def check_document_size(text: str, path: Path) -> None:
    """Refuse a YAML text longer than MAX_DOCUMENT_BYTES, before it is parsed."""
    if len(text) * 4 <= MAX_DOCUMENT_BYTES:  # UTF-8 takes at most 4 bytes a character
        return
    encoded = text.encode(errors="replace")
    if len(encoded) > MAX_DOCUMENT_BYTES:
        raise ConfigError(path, [document_too_large(encoded[: MAX_DOCUMENT_BYTES + 1], len(encoded))])


@dataclass
class _Collection:
    """A mapping or sequence the parser is inside: where it is, and how much it holds so far."""

    loc: tuple[Any, ...]
    is_mapping: bool
    anchor: str | None
    values_before: int
    items: int = 0
    key: Any = "?"

    def place_of_last(self) -> tuple[tuple[Any, ...], bool]:
        """The key path of the last item, and whether it is a mapping's key (a key's path is its mapping's)."""
        if not self.is_mapping:
            return (*self.loc, self.items - 1), False
        if self.items % 2:
            return self.loc, True
        return (*self.loc, self.key), False


class _Measure:
    """The keys and values a YAML's parser events stand for, each alias counted as the size of what it names."""

    def __init__(self, path: Path):
        self.path = path
        self.anchors: dict[str, int | None] = {}  # an anchor's size; None while its collection is still open
        self.open: list[_Collection] = []
        self.values = 0

    def item(self, event: Any) -> None:
        """A scalar, an alias or the start of a collection: one more item of the open collection."""
        if self.open:
            parent = self.open[-1]
            parent.items += 1
            if parent.is_mapping and parent.items % 2:
                short = isinstance(event, yaml.ScalarEvent) and len(event.value) <= 80
                parent.key = event.value if short else "?"
        if isinstance(event, yaml.AliasEvent):
            size = self.anchors.get(event.anchor, 1)
            if size is None:
                self.refuse(event, f"the alias *{event.anchor} is inside the collection it names")
            self.count(event, size, f" (the alias *{event.anchor} counts as what it names)")
        elif isinstance(event, yaml.ScalarEvent):
            self.count(event, 1)
            if len(event.value) > MAX_VALUE_CHARS:
                what = "key" if self.place()[1] else "value"
                self.refuse(event, f"a {what} of {len(event.value):,} characters (at most {MAX_VALUE_CHARS:,})")
            if event.anchor is not None:
                self.anchors[event.anchor] = 1
        else:
            self.count(event, 1)
            if event.anchor is not None:
                self.anchors[event.anchor] = None
            mapping = isinstance(event, yaml.MappingStartEvent)
            self.open.append(_Collection(self.place()[0], mapping, event.anchor, self.values - 1))

    def end(self) -> None:
        """The end of the innermost open collection: its anchor's size is known now."""
        closed = self.open.pop()
        if closed.anchor is not None:
            self.anchors[closed.anchor] = self.values - closed.values_before

    def count(self, event: Any, size: int, why: str = "") -> None:
        self.values += size
        if self.values > MAX_EXPANDED_VALUES:
            self.refuse(event, f"the file holds more than {MAX_EXPANDED_VALUES:,} keys and values{why}")

    def place(self) -> tuple[tuple[Any, ...], bool]:
        """The key path of the item being read, and whether it is a key."""
        return self.open[-1].place_of_last() if self.open else ((), False)

    def refuse(self, event: Any, problem: str) -> None:
        loc = self.place()[0]
        raise ConfigError(self.path, [f"{format_loc(loc)} (line {event.start_mark.line + 1}): {problem}"])


def check_yaml_size(text: str, path: Path) -> None:
    """Refuse a key or value over MAX_VALUE_CHARS, an alias inside the collection it names, and a YAML that holds
    more than MAX_EXPANDED_VALUES keys and values (each alias counted as what it names): from the parser's events,
    before any node is built."""
    measure = _Measure(path)
    for event in yaml.parse(text, Loader=YAML_LOADER):
        if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            measure.end()
        elif isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent, yaml.CollectionStartEvent)):
            measure.item(event)
