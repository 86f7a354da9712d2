"""elt-dagster: YAML-configured ELT pipelines on Dagster, loading into PostgreSQL.

`elt_dagster.defs` (the Dagster definitions of the config folder, built when Dagster loads them) and `elt_dagster.EltPipeline` (the Component
for dg projects) are imported on first access, so the engine and the CLI can be used without loading Dagster.
"""

from typing import Any

__all__ = ["EltPipeline", "defs"]


def __getattr__(name: str) -> Any:
    if name == "defs":
        from .definitions import defs

        return defs
    if name == "EltPipeline":
        from .orchestration.component import EltPipeline

        return EltPipeline
    raise AttributeError(f"module 'elt_dagster' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
