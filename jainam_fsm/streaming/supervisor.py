"""The supervisor: the one thread that owns the lifecycle machine.

Everything that touches the :class:`~jainam_fsm.core.lifecycle.Lifecycle` is posted here as
an action and run in order. It is also the machine's :class:`~jainam_fsm.core.ports.Clock`:
timers are a heap this thread waits on, so a shutdown posted during a 60 s backoff wait is
handled at once.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("jainam_fsm.streaming")

Action = Callable[[], None]


@dataclass(order=True)
class _Timer:
    due: float
    seq: int
    callback: Action = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class Supervisor:
    """Owner thread with an action queue and timers. Implements the ``Clock`` port."""

    def __init__(
        self,
        name: str = "jainam-supervisor",
        monotonic: Callable[[], float] = time.monotonic,
        tick: float | None = None,
        on_tick: Action | None = None,
    ) -> None:
        self._name = name
        self._monotonic = monotonic
        self._cond = threading.Condition()
        self._actions: deque[Action] = deque()
        self._timers: list[_Timer] = []
        self._seq = itertools.count()
        self._stop = False
        self._thread: threading.Thread | None = None
        #: optional periodic housekeeping (the stall watchdog), every ``tick`` seconds
        self._tick = tick
        self._on_tick = on_tick
        self._next_tick = 0.0
        self.busy = False

    # -- Clock port -----------------------------------------------------------------------
    def monotonic(self) -> float:
        return self._monotonic()

    def call_later(self, delay: float, callback: Action) -> _Timer:
        timer = _Timer(self._monotonic() + max(0.0, delay), next(self._seq), callback)
        with self._cond:
            heapq.heappush(self._timers, timer)
            self._cond.notify()
        return timer

    # -- thread ---------------------------------------------------------------------------
    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def on_thread(self) -> bool:
        return self._thread is threading.current_thread()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def post(self, action: Action) -> None:
        """Run ``action`` on the supervisor thread, after those already posted."""
        with self._cond:
            self._actions.append(action)
            self._cond.notify()

    def idle(self) -> bool:
        """No action queued or running."""
        with self._cond:
            return not self._actions and not self.busy

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the queued actions, then end the thread and join it."""
        with self._cond:
            self._stop = True
            self._cond.notify()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _next_action(self) -> Action | None:
        with self._cond:
            while True:
                now = self._monotonic()
                if self._actions:
                    self.busy = True
                    return self._actions.popleft()
                while self._timers and self._timers[0].cancelled:
                    heapq.heappop(self._timers)
                if self._timers and self._timers[0].due <= now:
                    timer = heapq.heappop(self._timers)
                    self.busy = True
                    return timer.callback
                if self._tick is not None and now >= self._next_tick:
                    self._next_tick = now + self._tick
                    if self._on_tick is not None:
                        self.busy = True
                        return self._on_tick
                if self._stop:
                    return None
                wait = None
                if self._timers:
                    wait = self._timers[0].due - now
                if self._tick is not None:
                    until_tick = self._next_tick - now
                    wait = until_tick if wait is None else min(wait, until_tick)
                self._cond.wait(wait)

    def _run(self) -> None:
        while True:
            action = self._next_action()
            if action is None:
                return
            try:
                action()
            except Exception:
                log.exception("supervisor action failed")
            finally:
                with self._cond:
                    self.busy = False
                    self._cond.notify_all()

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Block until ``predicate()`` holds after some action; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
            return True
