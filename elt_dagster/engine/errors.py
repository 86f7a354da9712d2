"""Shared building blocks of the engine: the user-facing error and the strict config model base."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class PipelineError(Exception):
    """A problem the user can fix (config, input file, API, database); its message says what and where."""


class StrictModel(BaseModel):
    """A config model that rejects unknown keys, so typos never pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)
