"""The prefetch thread: order kept, bounded, its exceptions raised in the consumer, stopped when abandoned."""

from __future__ import annotations

import threading

import pytest

from elt_dagster.engine.prefetch import ordered_map, prefetch


def test_items_arrive_in_order() -> None:
    assert list(prefetch(iter(range(100)), depth=2)) == list(range(100))


def test_producer_exception_is_raised_in_the_consumer() -> None:
    def items():
        yield 1
        raise ValueError("broken source")

    with pytest.raises(ValueError, match="broken source"):
        list(prefetch(items()))


def test_abandoned_iteration_stops_the_thread() -> None:
    produced = []

    def items():
        for i in range(1_000):
            produced.append(i)
            yield i

    iterator = prefetch(items(), depth=2)
    assert next(iterator) == 0
    iterator.close()
    assert not [t for t in threading.enumerate() if t.name == "elt-prefetch"]
    assert len(produced) < 10  # bounded: the producer never ran far ahead


def test_ordered_map_runs_items_at_once_and_yields_them_in_order() -> None:
    """Item 0 finishes only after item 1 has started: one thread would wait for ever (here: fail after 10 s)."""
    second_started = threading.Event()

    def work(item: int) -> int:
        if item == 1:
            second_started.set()
        if item == 0 and not second_started.wait(timeout=10):
            raise AssertionError("item 1 never ran beside item 0")
        return item * 10

    assert list(ordered_map(work, iter(range(20)), workers=2)) == [i * 10 for i in range(20)]


def test_ordered_map_raises_the_first_failure_in_order_and_pulls_boundedly() -> None:
    pulled = []

    def items():
        for i in range(1_000):
            pulled.append(i)
            yield i

    def work(item: int) -> int:
        if item == 3:
            raise ValueError("bad batch 3")
        return item

    results = ordered_map(work, items(), workers=2)
    assert [next(results) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(ValueError, match="bad batch 3"):
        next(results)
    assert len(pulled) <= 3 + 1 + 2  # never more than `workers + 1` items ahead of what was yielded
    assert not [t for t in threading.enumerate() if t.name.startswith("elt-batch")]
