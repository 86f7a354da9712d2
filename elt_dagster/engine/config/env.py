"""`${VAR}` and `${VAR:-default}` in any YAML value, replaced from the environment."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError, located

ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def substitute_env(value: Any, path: Path, root: yaml.Node | None, loc: tuple[Any, ...] = ()) -> Any:
    """`value` (parsed YAML) with every `${VAR}` replaced; an unset variable without a default is a ConfigError."""
    if isinstance(value, dict):
        return {key: substitute_env(item, path, root, (*loc, key)) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute_env(item, path, root, (*loc, index)) for index, item in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = os.environ.get(name)
        if found is not None and (found or default is None):
            return found
        if default is not None:
            return default
        raise ConfigError(path, [located(loc, root, f"environment variable {name} is not set")])

    return ENV_REFERENCE.sub(replace, value)
