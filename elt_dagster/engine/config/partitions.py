"""Partitions: a pipeline's table split into time windows (hour, day, week, month) or batches of files, each loaded,
replaced and retried on its own. A file belongs to the window of the date written in its path (`path_date`,
strptime codes); with `by: files`, to the batch the source sensor put it in when it first saw it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator

from elt_dagster.engine.config.automation import checked_time, known_zone, parse_time
from elt_dagster.engine.errors import StrictModel

PERIODS = ("hour", "day", "week", "month")
_CODES = {"Y": r"\d{4}", "y": r"\d{2}", "m": r"\d{2}", "d": r"\d{2}", "H": r"\d{2}", "M": r"\d{2}", "j": r"\d{3}"}
DEFAULT_FILES_PER_PARTITION = 500
_NEEDED = {"month": ({"m", "j"},), "week": ({"d", "j"},), "day": ({"d", "j"},), "hour": ({"d", "j"}, {"H"})}
"""For each period, the codes of which `path_date` needs one from each set (and a year: %Y or %y)."""


class Partitions(StrictModel):
    """`partitions:` of a pipeline YAML."""

    by: Literal["hour", "day", "week", "month", "files"]
    start: str | None = None
    end: str | None = None
    timezone: str = "UTC"
    path_date: str | None = Field(default=None, min_length=2)
    files_per_partition: int | None = Field(default=None, ge=1, le=100_000)
    max_partitions_per_run: int = Field(default=1, ge=1, le=1000)
    concurrent_runs: int = Field(default=1, ge=1, le=64)

    _a_time = field_validator("start", "end")(classmethod(lambda cls, value: checked_time(value)))
    _known_zone = field_validator("timezone")(classmethod(lambda cls, value: known_zone(value)))

    @field_validator("path_date")
    @classmethod
    def _known_codes(cls, value: str | None) -> str | None:
        if value is None:
            return None
        unknown = sorted({code for code in re.findall(r"%(.)", value) if code not in _CODES and code != "%"})
        if unknown:
            codes = ", ".join(f"%{code}" for code in _CODES)
            raise ValueError(f"{value!r} uses {', '.join('%' + c for c in unknown)}: path_date knows {codes}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Partitions:
        if self.by == "files":
            given = [key for key in ("start", "end", "path_date") if getattr(self, key)]
            if given:
                raise ValueError(
                    f"partitions.{', partitions.'.join(given)}: only for time windows (by: hour, day, week or month); "
                    "by: files puts each batch of new files into a partition of its own"
                )
            return self
        if self.files_per_partition is not None:
            raise ValueError("partitions.files_per_partition: only with by: files")
        for key in ("start", "path_date"):
            if not getattr(self, key):
                raise ValueError(f"partitions.{key} is required with by: {self.by}")
        assert self.path_date is not None
        codes = set(re.findall(r"%(.)", self.path_date))
        missing = [group for group in _NEEDED[self.by] if not codes & group]
        if not codes & {"Y", "y"} or missing:
            needs = {
                "month": "a month (%m) or a day of the year (%j)",
                "hour": "a day (%d, or %j) and an hour (%H)",
            }.get(self.by, "a day (%d, or a day of the year: %j)")
            article = "an" if self.by == "hour" else "a"
            raise ValueError(
                f"path_date {self.path_date!r} does not name {article} {self.by}: it needs a year (%Y or %y) and {needs}"
            )
        if self.end and self.window()[1] <= self.window()[0]:
            raise ValueError(f"partitions.end ({self.end}) must be after partitions.start ({self.start})")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def by_files(self) -> bool:
        """Partitions are batches of files (not time windows)."""
        return self.by == "files"

    @property
    def batch_size(self) -> int:
        """Files per partition with `by: files` (default 500)."""
        return self.files_per_partition or DEFAULT_FILES_PER_PARTITION

    def window(self) -> tuple[datetime, datetime | None]:
        """(start, end) of time windows as aware datetimes; end may be None (open-ended)."""
        if self.start is None:
            raise ValueError("partitions by files have no time window")  # never expected: callers check by_files
        return parse_time(self.start, self.zone), parse_time(self.end, self.zone) if self.end else None

    def path_date_pattern(self) -> re.Pattern[str]:
        """A regex finding `path_date` in a path."""
        parts = re.split(r"(%.)", self.path_date or "")
        regex = "".join(
            _CODES[part[1]] if part.startswith("%") and part[1] in _CODES else re.escape(part.replace("%%", "%"))
            for part in parts
        )
        return re.compile(regex)

    def date_in_path(self, relative: PurePath) -> datetime | None:
        """The date `path_date` finds in `relative` (a file's path below its source folder), in the partitions'
        timezone; None when the path holds none (or only an impossible one, e.g. month 13)."""
        if self.path_date is None:
            return None
        text = relative.as_posix()
        for match in self.path_date_pattern().finditer(text):
            try:
                return datetime.strptime(match.group(0), self.path_date).replace(tzinfo=self.zone)
            except ValueError:
                continue
        return None


def check_partitioned(partitions: Partitions, target: Any, automation: Any, sources: Any) -> None:
    """What a partitioned pipeline can't have: merge mode, a schedule or a start/end window of its own; with
    `by: files`, an API source (its records are no files)."""
    for source in sources or []:
        if getattr(source, "type", None) in ("s3", "azure", "gcs"):
            raise ValueError(f"partitions read local files and APIs: an {source.type} source can't be partitioned yet")
    if partitions.by_files and any(getattr(source, "type", None) == "api" for source in sources or []):
        raise ValueError("by: files partitions the local files: an API source needs time windows (by: day, ...)")
    if target is not None and target.mode != "append":
        raise ValueError(
            f"partitions replace a window's rows as a whole, which {target.mode} mode does not do: use target.mode "
            f"append with partitions ({target.mode} loads of one table take turns, unpartitioned)"
        )
    timed = [key for key in ("schedule", "start_time", "end_time") if getattr(automation, key, None)]
    if timed:
        raise ValueError(
            f"{', '.join(timed)} and partitions don't go together: the windows say when (partitions.start, "
            "partitions.end; the partitions' schedule loads each window once it is complete)"
        )


@dataclass(frozen=True)
class FileBatch:
    """One partition of `by: files`: its key; its files are those the source sensor assigned to it."""

    key: str


@dataclass(frozen=True)
class PartitionWindow:
    """One partition: its key (as the orchestrator names it) and its time window [start, end)."""

    key: str
    start: datetime
    end: datetime

    def contains(self, moment: datetime) -> bool:
        """Whether `moment` falls in the window (compared as instants)."""
        instant = moment.astimezone(UTC)
        return self.start.astimezone(UTC) <= instant < self.end.astimezone(UTC)
