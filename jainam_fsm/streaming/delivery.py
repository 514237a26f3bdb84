"""Bounded, ordered hand-off of ticks from the I/O thread to one delivery thread.

``inline=True`` skips the hand-off: the callback runs on the I/O thread, in order, with no
queue and no thread switch (the fastest mode, for callbacks that return in microseconds; a
slow one delays the socket's reads and heartbeats instead of dropping ticks).

Policy when the consumer is slower than the feed: the queue holds at most ``capacity`` items;
a new tick arriving at a full queue evicts the **oldest** one (a trader wants the latest price,
not a stale backlog) and the eviction is counted in ``dropped``. Memory therefore stays bounded
and order is preserved among the ticks that are delivered.

Control items (:meth:`Delivery.put_control`: the lifecycle hooks such as ``on_connect``) share
the queue, so they reach the consumer in order with the ticks around them; they are never
evicted (only ticks are) and survive :meth:`Delivery.stop` without ``drain``.

``batched=True``: the callback gets a list -- everything that arrived since its last call, in
order -- instead of one item per call (one thread wake-up and one call per burst).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

log = logging.getLogger("jainam_fsm.streaming")

T = TypeVar("T")


class Control:
    """A queued item that is not a tick: never evicted, kept by :meth:`Delivery.stop`."""

    __slots__ = ()


class Delivery(Generic[T]):
    """One consumer thread calling ``callback`` for the queued items, in arrival order:
    ``callback(item)`` per item, or ``callback([items])`` per burst with ``batched=True``."""

    def __init__(
        self,
        callback: Callable[[Any], None],
        capacity: int = 10_000,
        name: str = "jainam-delivery",
        *,
        inline: bool = False,
        linger: float = 0.0,
        batched: bool = False,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._callback = callback
        self.inline = inline
        self.linger = linger
        self.batched = batched
        self._stopped = threading.Event()
        self.capacity = capacity
        self._queue: deque[Any] = deque()
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
            self._deliver([item])
            return
        with self._cond:
            q = self._queue
            if len(q) >= self.capacity:
                self._evict(1)
            q.append(item)
            n = len(q)
            self.high_water = max(self.high_water, n)
            if n == 1:
                self._cond.notify()

    def put_many(self, items: list[T]) -> None:
        """Hand over a burst (one decoded event's ticks) with one lock and at most one
        wake-up."""
        if not items:
            return
        if self.inline:
            self._deliver(items)
            return
        with self._cond:
            q = self._queue
            was_empty = not q
            over = len(q) + len(items) - self.capacity
            if over > 0:
                self._evict(over)
            q.extend(items)
            n = len(q)
            if n > self.capacity:  # a burst larger than the whole queue: keep its newest
                self._evict(n - self.capacity)
                n = len(q)
            self.high_water = max(self.high_water, n)
            if was_empty:
                self._cond.notify()

    def put_control(self, item: Control) -> None:
        """Queue a control item (never evicted). Inline: delivered on the calling thread."""
        if self.inline:
            self._deliver([item])
            return
        with self._cond:
            self._queue.append(item)
            if len(self._queue) == 1:
                self._cond.notify()

    def _evict(self, count: int) -> None:
        """Drop the ``count`` oldest ticks (lock held); control items stay, in order."""
        q = self._queue
        kept: list[Any] = []
        while count > 0 and q:
            old = q.popleft()
            if isinstance(old, Control):
                kept.append(old)
            else:
                self.dropped += 1
                count -= 1
        if kept:
            q.extendleft(reversed(kept))

    def _deliver(self, batch: list[Any]) -> None:
        if self.batched:
            try:
                self._callback(batch)
            except Exception:
                self._failed()
        else:
            for item in batch:
                try:
                    self._callback(item)
                except Exception:
                    self._failed()
        self.delivered += len(batch)

    def _failed(self) -> None:
        # The consumer's own error handling is the callback's job (the adapter counts per
        # callback kind); this is the last guard that keeps the delivery thread alive.
        self.callback_errors += 1
        if self.callback_errors == 1 or self.callback_errors % 1000 == 0:
            log.exception("delivery callback raised (%d so far)", self.callback_errors)

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
            self._deliver(batch)
            if self.linger and not self._stop:
                # Let a burst gather: one wake-up per burst instead of one per tick (a thread
                # switch costs more CPU than decoding a tick). Bounded extra latency.
                self._stopped.wait(self.linger)

    def stop(self, timeout: float = 10.0, drain: bool = False) -> None:
        """Stop the thread. Without ``drain`` queued ticks are discarded (control items are
        still delivered). Idempotent."""
        with self._cond:
            if not drain:
                kept = [i for i in self._queue if isinstance(i, Control)]
                self._queue.clear()
                self._queue.extend(kept)
            self._stop = True
            self._cond.notify()
        self._stopped.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
