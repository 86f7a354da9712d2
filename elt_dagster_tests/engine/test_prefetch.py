"""The prefetch thread: order kept, bounded, its exceptions raised in the consumer, stopped when abandoned."""

from __future__ import annotations

import threading

import pytest

from elt_dagster.engine.prefetch import prefetch


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
