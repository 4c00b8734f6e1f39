"""A background producer for training batches, with the consumer's wait measured.

Rendering and windowing the stream is vectorized numpy (most of it runs without the GIL), so a
thread can prepare the next batches while the model trains on the current one. The producer runs
``depth`` batches ahead in a daemon thread; ``wait_s`` is the total time the training loop spent
blocked on it (0 when data is never on the critical path), recorded in the run summary. Order is
unchanged: the thread consumes the same iterator the loop would, so the token stream is identical.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
_DONE = object()


class Producer(Generic[T]):
    def __init__(self, source: Iterator[T], depth: int = 4):
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.wait_s = 0.0
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(iter(source),), daemon=True, name="kcap-producer")
        self._thread.start()

    def _run(self, source: Iterator[T]) -> None:
        try:
            for item in source:
                if not self._put(item):
                    return
            self._put(_DONE)
        except BaseException as e:  # noqa: BLE001 -- handed to the consumer, raised there with its traceback
            self._put(e)

    def _put(self, item: object) -> bool:
        """Queue ``item``, waiting for room; False if the consumer closed the producer meanwhile."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Producer[T]:
        return self

    def __next__(self) -> T:
        t = time.perf_counter()
        item = self._queue.get()
        self.wait_s += time.perf_counter() - t
        if item is _DONE:
            self._queue.put(_DONE)  # stay exhausted
            raise StopIteration
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        """Stop the thread early (e.g. when training stops on an error)."""
        self._stop.set()
        self._thread.join(timeout=5)

    def __enter__(self) -> Producer[T]:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
