"""Bounded, ordered hand-off of ticks from the I/O thread to one delivery thread.

``inline=True`` skips the hand-off: the callback runs on the I/O thread, in order, with no
queue and no thread switch (the fastest mode, for callbacks that return in microseconds; a
slow one delays the socket's reads and heartbeats instead of dropping ticks).

Policy when the consumer is slower than the feed: the queue holds at most ``capacity`` items;
a new tick arriving at a full queue evicts the **oldest** one (a trader wants the latest price,
not a stale backlog) and the eviction is counted in ``dropped``. Memory therefore stays bounded
and order is preserved among the ticks that are delivered.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger("jainam_fsm.streaming")

T = TypeVar("T")


class Delivery(Generic[T]):
    """One consumer thread calling ``callback(item)`` for each item, in arrival order."""

    def __init__(
        self,
        callback: Callable[[T], None],
        capacity: int = 10_000,
        name: str = "jainam-delivery",
        *,
        inline: bool = False,
        linger: float = 0.0,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._callback = callback
        self.inline = inline
        self.linger = linger
        self._stopped = threading.Event()
        self.capacity = capacity
        self._queue: deque[T] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._stop = False
        self._name = name
        self._thread: threading.Thread | None = None
        self.delivered = 0
        self.dropped = 0
        self.callback_errors = 0
        self.high_water = 0

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def start(self) -> None:
        if self.inline:
            return
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def put(self, item: T) -> None:
        """Hand one item over (called on the I/O thread; never blocks on the consumer)."""
        if self.inline:
            self._call(item)
            return
        with self._cond:
            q = self._queue
            if len(q) >= self.capacity:
                q.popleft()
                self.dropped += 1
            q.append(item)
            n = len(q)
            self.high_water = max(self.high_water, n)
            if n == 1:
                self._cond.notify()

    def _call(self, item: T) -> None:
        try:
            self._callback(item)
        except Exception:
            self.callback_errors += 1
            if self.callback_errors == 1 or self.callback_errors % 1000 == 0:
                log.exception("tick callback raised (%d so far)", self.callback_errors)
        self.delivered += 1

    def depth(self) -> int:
        return len(self._queue)

    def _run(self) -> None:
        q = self._queue
        while True:
            with self._cond:
                while not q and not self._stop:
                    self._cond.wait()
                if not q and self._stop:
                    return
                batch = list(q)
                q.clear()
            for item in batch:
                try:
                    self._callback(item)
                except Exception:
                    self.callback_errors += 1
                    if self.callback_errors == 1 or self.callback_errors % 1000 == 0:
                        log.exception("tick callback raised (%d so far)", self.callback_errors)
            self.delivered += len(batch)
            if self.linger and not self._stop:
                # Let a burst gather: one wake-up per burst instead of one per tick (a thread
                # switch costs more CPU than decoding a tick). Bounded extra latency.
                self._stopped.wait(self.linger)

    def stop(self, timeout: float = 10.0, drain: bool = False) -> None:
        """Stop the thread. Without ``drain`` queued items are discarded. Idempotent."""
        with self._cond:
            if not drain:
                self._queue.clear()
            self._stop = True
            self._cond.notify()
        self._stopped.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
