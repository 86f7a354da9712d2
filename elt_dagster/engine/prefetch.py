"""Overlap Python's work with the database's: produce the next batches in a thread while the current one loads."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

PREFETCH_BATCHES = 2
T = TypeVar("T")


def prefetch(items: Iterable[T], depth: int = PREFETCH_BATCHES) -> Iterator[T]:
    """Iterate `items` in a background thread, at most `depth` ahead; its exceptions are raised here."""
    slots: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put(("done", None))
        except BaseException as exc:
            slots.put(("error", exc))

    worker = threading.Thread(target=produce, name="elt-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = slots.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while worker.is_alive():
            try:
                slots.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)
