"""JSON text read value by value in time linear in its size, in bounded memory.

A value is parsed whole by the json module's C scanner from a buffer of text; when the buffer ends inside it, the
buffer is read further, at least doubling, so a value costs time linear in its size (ijson's C backend re-scans a
token split across its 64 KB reads from the token's start: a record holding a 200 MB string took 9 minutes). A value
over the size cap, or nested too deeply for the scanner, is passed over by `_skip`, which keeps nothing: it is never
built, and at most cap + one chunk of it is ever held.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

from elt_dagster.engine.json_text import MAX_DEPTH, BadRecord
from elt_dagster.engine.sources.files.readers import CHUNK_CHARS

_MAYBE_CUT = 16
"""An error this close to the buffer's end may be a value cut by the read (`tru`, `1.`, `\\u00`), not bad JSON."""
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_STRUCTURE = re.compile(r'["\[\]{},]')
_STRING_BODY = re.compile(r'(?:[^"\\]++|\\.)*+', re.DOTALL)


def _not_json(name: str) -> Any:
    raise BadRecord(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_not_json)


class JsonSyntaxError(ValueError):
    """The text is not valid JSON; the message says what is wrong, at which line and column, with an excerpt."""


@dataclass(frozen=True)
class Skipped:
    """A value that was passed over, not built: why, and the line it started on."""

    reason: str
    line: int


class JsonText:
    """A text stream read through a buffer that holds at most one value (up to the cap) and one chunk."""

    def __init__(self, handle: IO[str], chunk_chars: int = CHUNK_CHARS):
        self.handle, self.chunk_chars = handle, chunk_chars
        self.buf, self.pos, self.eof = "", 0, False
        self.lines_before = 0  # line ends in the text dropped from the buffer's front
        self.columns_before = 0  # characters of the buffer's first line in the text dropped
        self.peak = 0  # the longest the buffer has been: bounded by the cap plus two chunks

    def _more(self, want: int = 0) -> bool:
        """Read at least `want` characters (one chunk at least) after the unread text; False at the end."""
        if self.eof:
            return False
        if self.pos:
            self.lines_before += self.buf.count("\n", 0, self.pos)
            line_start = self.buf.rfind("\n", 0, self.pos) + 1
            self.columns_before = self.pos - line_start + (0 if line_start else self.columns_before)
            self.buf, self.pos = self.buf[self.pos :], 0
        text = self.handle.read(max(want, self.chunk_chars))
        if not text:
            self.eof = True
            return False
        self.buf += text
        self.peak = max(self.peak, len(self.buf))
        return True

    def peek(self) -> str:
        """The next character that isn't whitespace ('' at the end), without taking it."""
        while True:
            self.pos = _WHITESPACE.match(self.buf, self.pos).end()
            if self.pos < len(self.buf) or not self._more():
                return self.buf[self.pos : self.pos + 1]

    def take(self, expected: str) -> str:
        """The next non-blank character, which must be one of `expected`."""
        char = self.peek()
        if not char or char not in expected:
            wanted = " or ".join(repr(c) for c in expected)
            raise self.error(self.pos, f"expected {wanted}, found {_found(char)}")
        self.pos += 1
        return char

    def line(self, pos: int | None = None) -> int:
        """The line number (1-based) of buffer position `pos` (default: the current one)."""
        return self.lines_before + self.buf.count("\n", 0, self.pos if pos is None else pos) + 1

    def error(self, pos: int, what: str) -> JsonSyntaxError:
        line_start = self.buf.rfind("\n", 0, pos) + 1
        column = pos - line_start + 1 + (0 if line_start else self.columns_before)
        excerpt = self.buf[max(0, pos - 10) : pos + 20]
        return JsonSyntaxError(f"{what} at line {self.line(pos)}, column {column} (near {excerpt!r})")

    def value(self, cap: int) -> Any:
        """The next value, parsed; Skipped for one over `cap` characters, too deep, or not storable as it is."""
        self.peek()
        too_large = f"larger than the {cap:,}-character cap of a record"
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
                cut = end == len(self.buf) and self.buf[self.pos] not in '{["'  # `12` may go on as `123`
            except json.JSONDecodeError as exc:
                cut = exc.msg.startswith("Unterminated string") or exc.pos >= len(self.buf) - _MAYBE_CUT
                if not cut or self.eof:
                    raise self.error(exc.pos, exc.msg.removesuffix(" at")) from None
            except RecursionError:
                return self._skip(f"nested deeper than {MAX_DEPTH} levels")
            except BadRecord as exc:  # NaN, Infinity
                return self._skip(str(exc))
            except ArithmeticError:  # decimal's InvalidOperation
                return self._skip("a number out of range (its exponent is too large)")
            except ValueError:  # an integer of more digits than Python converts
                return self._skip(f"a number of more than {sys.get_int_max_str_digits():,} digits")
            if not cut or self.eof:
                if end - self.pos > cap:  # read whole with the last chunk: at most cap + one chunk
                    skipped = Skipped(too_large, self.line())
                    self.pos = end
                    return skipped
                self.pos = end
                return value
            held = len(self.buf) - self.pos
            if held > cap:
                return self._skip(too_large)
            self._more(min(held, cap + 1 - held))  # doubling: linear in the value's size, up to the cap

    def _skip(self, reason: str) -> Skipped:
        """Pass over the value at the current position, a chunk at a time, keeping nothing of it."""
        skipped = Skipped(reason, self.line())
        depth, in_string = 0, False
        while True:
            if in_string:
                self.pos = _STRING_BODY.match(self.buf, self.pos).end()
                if self.pos < len(self.buf) and self.buf[self.pos] == '"':
                    self.pos, in_string = self.pos + 1, False
                    if depth == 0:
                        return skipped
                    continue
            else:
                found = _STRUCTURE.search(self.buf, self.pos)
                if found:
                    char = found.group()
                    if depth == 0 and char in ",]}":  # the end of a scalar
                        self.pos = found.start()
                        return skipped
                    self.pos = found.end()
                    in_string = char == '"'
                    depth += 1 if char in "[{" else -1 if char in "]}" else 0
                    if depth == 0 and char in "]}":
                        return skipped
                    continue
                self.pos = len(self.buf)
            if not self._more():
                if in_string or depth:
                    raise self.error(self.pos, "the file ends inside a value")
                return skipped


def _found(char: str) -> str:
    return "the end of the file" if not char else repr(char)
