"""The README stays a first page, every relative link in the docs resolves, and every YAML key is documented."""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path

from pydantic import BaseModel

from elt_dagster.engine.config.env import PUBLIC_ENV_KEY
from elt_dagster.engine.config.models import PipelineConfig

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
YAML_REFERENCE = ROOT / "docs" / "yaml-reference.md"
MAX_README_LINES = 160

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} (.+)$", re.MULTILINE)
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_slug(h) for h in HEADING.findall(FENCE.sub("", path.read_text()))}


def _broken_links(path: Path) -> list[str]:
    """The relative links of one markdown file whose file (or heading anchor) does not exist."""
    broken = []
    for target in LINK.findall(FENCE.sub("", path.read_text())):
        if re.match(r"^[a-z][a-z+.-]*:", target):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{path.name}: {target} (no such file)")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(f"{path.name}: {target} (no such heading)")
    return broken


def _yaml_words(annotation: object, seen: set[type]) -> tuple[set[str], set[str]]:
    """The YAML keys of a model annotation, recursively, and the values its `Literal` fields accept."""
    keys: set[str] = set()
    values: set[str] = set()
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return keys, values
        seen.add(annotation)
        for name, field in annotation.model_fields.items():
            alias = field.alias or (field.validation_alias if isinstance(field.validation_alias, str) else None)
            key = alias or name
            if key.isidentifier():  # not an internal section such as "(automation)", whose keys are top-level
                keys.add(key)
            more_keys, more_values = _yaml_words(field.annotation, seen)
            keys |= more_keys
            values |= more_values
        return keys, values
    if typing.get_origin(annotation) is typing.Literal:
        return keys, {str(value) for value in typing.get_args(annotation)}
    for argument in typing.get_args(annotation):
        if not isinstance(argument, (str, int, float, types.NoneType)) or argument is None:
            more_keys, more_values = _yaml_words(argument, seen)
            keys |= more_keys
            values |= more_values
    return keys, values


def test_the_readme_is_a_first_page() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines: move details into docs/"


def test_every_relative_link_resolves() -> None:
    assert DOCS, "docs/*.md is missing"
    broken = [link for path in [README, *DOCS] for link in _broken_links(path)]
    assert broken == []


def test_a_broken_link_is_found(tmp_path: Path) -> None:
    (tmp_path / "there.md").write_text("# A heading\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](there.md#a-heading) [gone](gone.md) [bad](there.md#nope) [web](https://x.org/a.md)\n")
    assert _broken_links(page) == ["page.md: gone.md (no such file)", "page.md: there.md#nope (no such heading)"]


def test_every_yaml_key_and_choice_is_in_the_yaml_reference() -> None:
    keys, values = _yaml_words(PipelineConfig, set())
    keys.add(PUBLIC_ENV_KEY)
    text = YAML_REFERENCE.read_text()
    assert {"sources", "records_path", "cursor_field", "not_null", "rejected_ratio_severity", "in"} <= keys
    assert {"append", "merge", "bearer", "link_header", "warn", "fail"} <= values
    # a key is written `key`, key: or in a list of keys (key, key (default)); a bare word would find "in" anywhere
    written = {key for key in keys if re.search(rf"(?<![\w.]){re.escape(key)}(:|`|,| \(|$)", text, re.MULTILINE)}
    missing_keys = sorted(keys - written)
    missing_values = sorted(value for value in values if not re.search(rf"\b{re.escape(value)}\b", text))
    assert (missing_keys, missing_values) == ([], [])
