"""API sources in a run: their pages are fetched as they arrive and spooled to a JSON Lines file in the run's
folder, so the rest of the pipeline (column discovery, validation, loading) treats them like any file.
Memory holds one page at a time; the disk holds the run's records.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from elt_dagster.engine.config import LoadedConfig
from elt_dagster.engine.sources.api.cursor import remembered_cursor
from elt_dagster.engine.sources.api.models import ApiSource
from elt_dagster.engine.sources.files.extract import SourceFile

if TYPE_CHECKING:
    from elt_dagster.engine.sources.api.client import ApiStats


@dataclass
class SpooledApi:
    """One API source fetched for this run: its spool file and the incremental cursor it reached."""

    file: SourceFile
    source: ApiSource
    stats: ApiStats

    @property
    def key(self) -> str:
        return self.file.source_label

    def summary(self) -> dict[str, Any]:
        """What was fetched, for logs and metadata; `stopped` is max_pages or repeated_page when paging was cut."""
        stats = self.stats
        return {"url": self.key, "pages": stats.pages, "records": stats.records, "stopped": stats.stopped}


def spool_api_sources(
    loaded: LoadedConfig, folder: Path, cursors: dict[str, str], placeholders: dict[str, str] | None = None
) -> list[SpooledApi]:
    """Fetch every API source of the pipeline into `folder/api_<n>.jsonl`, starting from the remembered cursors.

    `placeholders`: `{name}` in a text value of `params:` is replaced by its value (a partition's
    `{partition_start}` and `{partition_end}`)."""
    sources = [(index, source) for index, source in enumerate(loaded.config.sources) if source.type == "api"]
    if not sources:
        return []
    from elt_dagster.engine.sources.api.client import ApiStats, iter_api_batches  # requests: only for API sources

    spooled = []
    for index, source in sources:
        if placeholders:
            source = with_placeholders(source, placeholders)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"api_{index}.jsonl"
        stats = ApiStats()
        with path.open("w", encoding="utf-8") as spool:
            for batch in iter_api_batches(source, remembered_cursor(source, cursors), stats=stats):
                for record in batch.table.to_pylist():
                    spool.write(
                        json.dumps({k: v for k, v in record.items() if v is not None}, ensure_ascii=False) + "\n"
                    )
        spooled.append(SpooledApi(SourceFile(path, None, label=source.display_url()), source, stats))
    return spooled


def with_placeholders(source: ApiSource, values: dict[str, str]) -> ApiSource:
    """`source` with each `{name}` of `values` replaced in its text `params:` values."""

    def filled(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        for name, text in values.items():
            value = value.replace("{" + name + "}", text)
        return value

    return source.model_copy(update={"params": {key: filled(value) for key, value in source.params.items()}})
