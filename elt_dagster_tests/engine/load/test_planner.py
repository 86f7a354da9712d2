"""The planner: each strategy chosen on its facts, with a reason that states them; each strategy names itself."""

from __future__ import annotations

import pytest

from elt_dagster.engine.load import planner
from elt_dagster.engine.load.append import HashsetAppend, ProbeAppend
from elt_dagster.engine.load.base import LoadStrategy
from elt_dagster.engine.load.bulk import BulkLoad
from elt_dagster.engine.load.merge import MergeInDatabase, MergeInProducer
from elt_dagster.engine.load.merge_new import MergeIntoNewTable
from elt_dagster.engine.load.planner import TableFacts, choose_strategy
from elt_dagster.engine.load.scd2 import Scd2InDatabase, Scd2InProducer, Scd2IntoNewTable

MB = 1_000_000


@pytest.mark.parametrize(
    ("facts", "strategy", "reason"),
    [
        (TableFacts(created=True, merge=False), BulkLoad, "the table is new"),
        (TableFacts(created=True, merge=True), MergeIntoNewTable, "the table is new"),
        (
            TableFacts(False, False, 1_000, 40 * MB, 10 * MB),
            HashsetAppend,
            "10 MB in, at least 25% of the table's 40 MB",
        ),
        (TableFacts(False, True, 1_000, 40 * MB, 10 * MB), MergeInProducer, "its hashes fetched once"),
        (TableFacts(False, False, 1_000, 40 * MB, 9 * MB), ProbeAppend, "9 MB in, under 25% of the table's 40 MB"),
        (TableFacts(False, True, 1_000, 40 * MB, 9 * MB), MergeInDatabase, "left out by an anti-join"),
        (TableFacts(False, False, 6_000_000, 40 * MB, 80 * MB), ProbeAppend, "6,000,000 rows, over 5,000,000"),
        (TableFacts(False, True, 6_000_000, 40 * MB, 80 * MB), MergeInDatabase, "too many hashes to fetch"),
        (TableFacts(False, False, 0, 0, 0), HashsetAppend, "0 B in, at least 25% of the table's 0 B"),
        (TableFacts(True, True, scd2=True), Scd2IntoNewTable, "each key's latest row opens its first version"),
        (TableFacts(False, True, 1_000, 40 * MB, 10 * MB, scd2=True), Scd2InProducer, "current versions' hashes"),
        (TableFacts(False, True, 1_000, 40 * MB, 9 * MB, scd2=True), Scd2InDatabase, "9 MB into a table of 1,000"),
        (TableFacts(False, True, 6_000_000, 40 * MB, 80 * MB, scd2=True), Scd2InDatabase, "by an anti-join"),
    ],
)
def test_each_strategy_is_chosen_on_its_facts_with_the_reason(
    facts: TableFacts, strategy: type[LoadStrategy], reason: str
) -> None:
    choice = choose_strategy(facts)
    assert choice.strategy is strategy
    assert reason in choice.reason


def test_the_thresholds_are_read_when_choosing(monkeypatch: pytest.MonkeyPatch) -> None:
    facts = TableFacts(False, False, 1_000, 40 * MB, 10 * MB)
    monkeypatch.setattr(planner, "BULK_SHARE", 0.5)
    assert choose_strategy(facts).strategy is ProbeAppend
    monkeypatch.setattr(planner, "BULK_SHARE", 0.25)
    monkeypatch.setattr(planner, "FETCH_HASHES_MAX_ROWS", 999)
    assert choose_strategy(facts).strategy is ProbeAppend


def test_every_strategy_names_itself_once() -> None:
    classes = [
        BulkLoad,
        HashsetAppend,
        ProbeAppend,
        MergeIntoNewTable,
        MergeInProducer,
        MergeInDatabase,
        Scd2IntoNewTable,
        Scd2InProducer,
        Scd2InDatabase,
    ]
    names = [cls.name for cls in classes]
    assert names == [
        "bulk",
        "hashset",
        "probe",
        "merge-new-table",
        "merge-in-producer",
        "merge-in-database",
        "scd2-new-table",
        "scd2-in-producer",
        "scd2-in-database",
    ]
    assert all(cls.name != getattr(cls.__base__, "name", None) for cls in classes)


def test_a_strategy_only_finish_knows_of_counts_its_own_rows() -> None:
    """`finish` takes no count from its caller: the strategy owns it (issue 22)."""
    import inspect

    for cls in (
        BulkLoad,
        HashsetAppend,
        ProbeAppend,
        MergeIntoNewTable,
        MergeInProducer,
        MergeInDatabase,
        Scd2IntoNewTable,
        Scd2InProducer,
        Scd2InDatabase,
    ):
        assert list(inspect.signature(cls.finish).parameters) == ["self"], cls
