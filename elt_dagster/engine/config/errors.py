"""Config errors that name the file, the key path (`sources[1].path`) and the line the YAML puts it on."""

from __future__ import annotations

from typing import Any

import yaml

from elt_dagster.engine.errors import PipelineError


class ConfigError(PipelineError):
    """A pipeline YAML that can't be used; the message says which file, key and line."""

    def __init__(self, path: Any, problems: list[str]):
        self.path = str(path)
        self.problems = problems
        super().__init__(f"{self.path}: " + "; ".join(problems))


def format_loc(loc: tuple[Any, ...]) -> str:
    """`("sources", 1, "path")` -> `sources[1].path`."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text or "(top level)"


def _step(node: Any, part: Any) -> tuple[Any, Any] | None:
    """(key node, value node) of `part` inside a mapping or sequence node; None when it isn't there."""
    if isinstance(node, yaml.MappingNode):
        return next(((key, value) for key, value in node.value if key.value == part), None)
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return node.value[part], node.value[part]
    return None


def _is_union_tag(node: Any, part: str) -> bool:
    """Whether `part` is pydantic's tag for the union member this mapping was read as: its `type:` value, or
    `local` for a source that leaves `type` out."""
    if not isinstance(node, yaml.MappingNode):
        return False
    written = _step(node, "type")
    return part == (written[1].value if written else "local")


def walk(root: yaml.Node | None, loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], yaml.Node | None]:
    """Follow `loc` through the YAML nodes: (the path as the user wrote it, the deepest node found on it).

    pydantic puts a union member's tag ("api", "bearer", ...) into error paths; it is left out. The node is the key (or list item) of the last part
    found, else the nearest parent, for its line.
    """
    kept: list[Any] = []
    node: Any = root
    found: Any = root
    for part in loc:
        step = _step(node, part)
        if step is None:
            if isinstance(part, str) and _is_union_tag(node, part):
                continue
            kept.append(part)
            node = None
            continue
        kept.append(part)
        found, node = step
    return tuple(kept), found


def located(loc: tuple[Any, ...], root: yaml.Node | None, message: str) -> str:
    """`sources[1].path (line 7): <message>`, with the path as the user wrote it."""
    user_loc, node = walk(root, loc)
    where = f" (line {node.start_mark.line + 1})" if node is not None else ""
    return f"{format_loc(user_loc)}{where}: {message}"


def duplicate_keys(root: yaml.Node | None) -> list[str]:
    """`key (line N): written twice (first on line M)` for each key a mapping repeats: YAML keeps the last one
    silently, which hides a mistake."""
    problems: list[str] = []
    stack: list[tuple[yaml.Node | None, tuple[Any, ...]]] = [(root, ())]
    while stack:
        node, loc = stack.pop()
        if isinstance(node, yaml.SequenceNode):
            stack += [(item, (*loc, index)) for index, item in enumerate(node.value)]
        elif isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key, value in node.value:
                line = key.start_mark.line + 1
                if key.value in first:
                    problems.append(
                        f"{format_loc((*loc, key.value))} (line {line}): written twice (first on line {first[key.value]})"
                    )
                first.setdefault(key.value, line)
                stack.append((value, (*loc, key.value)))
    return sorted(problems)
