"""The `elt-dagster` commands that show a pipeline's data or messages keep its values from the environment out of
their output: a `${TOKEN}` in a source path or URL shows in older rows' `_elt_source` and quarantine rows."""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from collections.abc import Callable

from elt_dagster.cli.pipelines import find_pipeline
from elt_dagster.engine.errors import PipelineError
from elt_dagster.engine.redaction import mask_values

Command = Callable[[argparse.Namespace], int]


def without_env_secrets(pipeline_of: Callable[[argparse.Namespace], str]) -> Callable[[Command], Command]:
    """A decorator: the command's printed lines, and its error, cleared of the values from the environment of the
    pipeline that `pipeline_of(args)` names."""

    def decorate(command: Command) -> Command:
        def masked(args: argparse.Namespace) -> int:
            secrets = find_pipeline(pipeline_of(args)).env_secrets
            shown = io.StringIO()
            try:
                with contextlib.redirect_stdout(shown):
                    return command(args)
            except PipelineError as exc:
                raise PipelineError(mask_values(str(exc), secrets)) from None
            finally:
                sys.stdout.write(mask_values(shown.getvalue(), secrets))

        return masked

    return decorate
