"""The fault suite's summary: each case's outcome is recorded, and a table of them is printed at the end of the run;
each fuzzer keeps a tally of its six outcomes, printed as one line, with the details of what was not ok in a file."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Outcome:
    suite: str
    case: str
    outcome: str


OUTCOMES: list[Outcome] = []

FUZZ_OUTCOMES = ("ok", "clear error", "raw", "hang", "lost", "leaked")
"""What a fuzz case can end in: rows (ok), one clear line, a raw traceback, a hang, rows lost, a secret leaked."""
FUZZ_TARGET = ("raw", "hang", "lost", "leaked")
"""The outcomes each fuzzer must count zero of."""
REPORT_FOLDER = Path("/tmp")


@dataclass
class Tally:
    """One fuzzer's outcomes: counts, and per case not ok its seed, outcome and detail."""

    fuzzer: str
    counts: Counter[str] = field(default_factory=Counter)
    details: list[tuple[str, str, str]] = field(default_factory=list, repr=False)
    seconds: float = 0.0
    durations: list[tuple[float, str]] = field(default_factory=list, repr=False)
    """(seconds, case) of each case, for the report's slowest ones."""

    def add(self, case: str, outcome: str, detail: str = "", seconds: float = 0.0) -> None:
        """Count one case; one that is not ok keeps `detail` (the exception type and first line) for the report."""
        assert outcome in FUZZ_OUTCOMES, outcome
        self.counts[outcome] += 1
        self.durations.append((seconds, case))
        if outcome != "ok":
            self.details.append((outcome, case, " ".join(detail.split())[:400]))

    def line(self) -> str:
        """`fuzz files (300): 251 ok, 49 clear error, 0 raw, 0 hang, 0 lost, 0 leaked (84 s)`."""
        counts = ", ".join(f"{self.counts[outcome]} {outcome}" for outcome in FUZZ_OUTCOMES)
        return f"fuzz {self.fuzzer} ({sum(self.counts.values())}): {counts} ({self.seconds:.0f} s)"

    def missed(self) -> dict[str, int]:
        """The target outcomes that occurred, with their counts ({} when the target is met)."""
        return {outcome: self.counts[outcome] for outcome in FUZZ_TARGET if self.counts[outcome]}

    def write_report(self) -> Path:
        """The tally, the slowest cases, and every case that was not ok (target outcomes first) with its detail, in
        /tmp/fuzz-report-<fuzzer>.txt."""
        order = {outcome: index for index, outcome in enumerate((*FUZZ_TARGET, "clear error"))}
        rows = sorted(self.details, key=lambda row: order[row[0]])
        slowest = ", ".join(f"{case} {seconds:.1f} s" for seconds, case in sorted(self.durations, reverse=True)[:8])
        path = REPORT_FOLDER / f"fuzz-report-{self.fuzzer}.txt"
        lines = [self.line(), f"slowest: {slowest}", *("\t".join(row) for row in rows)]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


TALLIES: list[Tally] = []


def record(suite: str, case: str, outcome: str) -> None:
    """Note one case's outcome (e.g. "loaded, 2 quarantined" or "one-line error") for the summary table."""
    OUTCOMES.append(Outcome(suite, case, outcome))


def record_tally(tally: Tally) -> Path:
    """Keep a fuzzer's tally for the end of the run; returns the report file written for it."""
    TALLIES.append(tally)
    return tally.write_report()


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


def tally_lines() -> list[str]:
    """One line per fuzzer that ran, and where its report is."""
    return [f"{tally.line()}; details: {REPORT_FOLDER / f'fuzz-report-{tally.fuzzer}.txt'}" for tally in TALLIES]
