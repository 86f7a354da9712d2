"""elt-dagster: YAML-configured ELT pipelines on Dagster, loading into PostgreSQL.

`elt_dagster.defs` (the Dagster `Definitions`) is built on first access, so the engine and the CLI can be
imported without loading every pipeline config.
"""

from typing import Any

__all__ = ["defs"]


def __getattr__(name: str) -> Any:
    if name == "defs":
        from .definitions import defs

        return defs
    raise AttributeError(f"module 'elt_dagster' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "defs"])
