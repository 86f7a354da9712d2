"""The fault suite's summary: each case's outcome is recorded, and a table of them is printed at the end of the run."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    suite: str
    case: str
    outcome: str


OUTCOMES: list[Outcome] = []


def record(suite: str, case: str, outcome: str) -> None:
    """Note one case's outcome (e.g. "loaded, 2 quarantined" or "one-line error") for the summary table."""
    OUTCOMES.append(Outcome(suite, case, outcome))


def summary_lines() -> list[str]:
    """A table: per suite, how many cases ended in each outcome (the suite's total on its first line)."""
    by_suite: dict[str, Counter[str]] = defaultdict(Counter)
    for outcome in OUTCOMES:
        by_suite[outcome.suite][outcome.outcome] += 1
    width = max((len(suite) for suite in by_suite), default=5) + 6
    lines = [f"{'suite (cases)':<{width}}  cases  outcome"]
    for suite, counts in by_suite.items():
        label = f"{suite} ({sum(counts.values())})"
        for what, count in sorted(counts.items()):
            lines.append(f"{label:<{width}}  {count:>5}  {what}")
            label = ""
    return lines
