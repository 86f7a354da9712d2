"""`${VAR}` and `${VAR:-default}` in any YAML value, replaced from the environment.

Every value taken from the environment is a secret (masked wherever it would be shown or stored) unless the YAML's
top-level `public_env:` lists its variable: `public_env: [REGION, API_HOST]`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError, located

ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
PUBLIC_ENV_KEY = "public_env"
"""Top-level key: the variables whose values may be shown (a region, a host); every other one is a secret."""
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NAMING_KEYS = (("name",), ("target", "table"), ("target", "db_schema"), ("target", "database"))
"""Keys whose values become names Dagster shows and stores (asset keys, jobs, run tags, pools): a variable used in
one is never masked, so it must be listed in `public_env`."""


def resolve_env(data: dict[str, Any], path: Path, root: yaml.Node | None) -> tuple[dict[str, Any], frozenset[str]]:
    """The parsed YAML with every `${VAR}` replaced and `public_env` taken out, and the values that came from the
    environment for variables not declared public: the secrets to mask in every output."""
    public = _public_names(data.pop(PUBLIC_ENV_KEY, []), path, root)
    _check_public_names(data, public, path, root)
    secrets: set[str] = set()
    return substitute_env(data, path, root, secrets=secrets, public=public), frozenset(secrets)


def substitute_env(
    value: Any,
    path: Path,
    root: yaml.Node | None,
    loc: tuple[Any, ...] = (),
    *,
    secrets: set[str] | None = None,
    public: frozenset[str] = frozenset(),
) -> Any:
    """`value` (parsed YAML) with every `${VAR}` replaced; an unset variable without a default is a ConfigError.

    The values taken from the environment for variables not in `public` are added to `secrets`.
    """
    if isinstance(value, dict):
        return {
            key: substitute_env(item, path, root, (*loc, key), secrets=secrets, public=public)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            substitute_env(item, path, root, (*loc, index), secrets=secrets, public=public)
            for index, item in enumerate(value)
        ]
    if not isinstance(value, str) or "${" not in value:
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = os.environ.get(name)
        if found is not None and (found or default is None):
            if secrets is not None and name not in public:
                secrets.add(found)
            return found
        if default is not None:
            return default
        raise ConfigError(path, [located(loc, root, f"environment variable {name} is not set")])

    return ENV_REFERENCE.sub(replace, value)


def _public_names(value: Any, path: Path, root: yaml.Node | None) -> frozenset[str]:
    """The variable names of `public_env:` (a list of names, or one name)."""
    names = [] if value is None else [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(name, str) and _NAME.match(name) for name in names):
        problem = "must be a list of environment variable names, e.g. [REGION, API_HOST] (without ${})"
        raise ConfigError(path, [located((PUBLIC_ENV_KEY,), root, problem)])
    return frozenset(names)


def _check_public_names(data: dict[str, Any], public: frozenset[str], path: Path, root: yaml.Node | None) -> None:
    """A variable used in a key of NAMING_KEYS is declared public: its value can't be masked there."""
    for loc in NAMING_KEYS:
        value = data
        for key in loc:
            value = value.get(key) if isinstance(value, dict) else None
        names = ENV_REFERENCE.findall(value) if isinstance(value, str) else []
        hidden = [name for name, _default in names if name not in public]
        if hidden:
            problem = (
                f"takes ${{{hidden[0]}}} from the environment, and this value names the pipeline's assets, jobs and "
                f"run tags, where it can't be masked: list {hidden[0]} in public_env (or write the value)"
            )
            raise ConfigError(path, [located(loc, root, problem)])
