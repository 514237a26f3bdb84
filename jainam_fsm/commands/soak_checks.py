"""The invariants the soak checks, kept apart from the fault driving so they are unit-tested.

Pure bookkeeping (no I/O): :class:`Audit` is fed ticks, lifecycle transitions and the
consumers' wants, and records every :class:`Violation` with the time it happened.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime

from jainam_fsm.core.machine import TRANSITIONS
from jainam_fsm.core.registry import SubKey
from jainam_fsm.xts.ticks import Tick

__all__ = ["DECLARED_EDGES", "GHOST_GRACE", "Audit", "Violation", "order_of"]

#: Every (trigger, source, dest) the machine declares.
DECLARED_EDGES: frozenset[tuple[str, str, str]] = frozenset(
    (e.trigger.value, e.source.value, e.dest.value) for e in TRANSITIONS
)

#: A tick for a key nobody wants is a ghost unless the last want went away this recently
#: (a tick already handed to the callback when ``unsubscribe()`` returned is not a ghost).
GHOST_GRACE = 1.0


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken invariant."""

    check: str
    detail: str
    #: seconds since the soak started
    at: float


def order_of(tick: Tick) -> tuple[int, float] | None:
    """What must never go backwards for one instrument and code: the exchange sequence
    number when the message has one, else its newest timestamp. ``None``: nothing to order."""
    if tick.sequence_number is not None:
        return (1, float(tick.sequence_number))
    times: list[datetime] = [
        t
        for t in (tick.last_update_time, tick.exchange_time, tick.last_traded_time)
        if t is not None
    ]
    if times:
        return (0, max(times).timestamp())
    return None


@dataclass
class Audit:
    """Wants, ticks and transitions of a soak; every method is thread-safe."""

    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)
    violations: list[Violation] = field(default_factory=list)
    edges: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    ticks: int = 0
    ghosts: int = 0
    reorders: int = 0
    #: (key, consumer) pairs currently wanted
    wants: set[tuple[SubKey, Hashable]] = field(default_factory=set)
    _desired: Counter[SubKey] = field(default_factory=Counter)
    _removed_at: dict[SubKey, float] = field(default_factory=dict)
    #: last order value per key and kind (sequence numbers and times are not comparable, and
    #: one key may see both: an LTP want can be served by touchline messages)
    _last: dict[tuple[SubKey, int], float] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        if not self.started:
            self.started = self.clock()

    def elapsed(self) -> float:
        return round(self.clock() - self.started, 3)

    def violate(self, check: str, detail: str) -> None:
        with self.lock:
            self.violations.append(Violation(check, detail, self.elapsed()))

    # -- wants ----------------------------------------------------------------------------
    def want(self, key: SubKey, consumer: Hashable) -> bool:
        """Record a consumer's want; False if it already had it."""
        with self.lock:
            if (key, consumer) in self.wants:
                return False
            self.wants.add((key, consumer))
            self._desired[key] += 1
            return True

    def drop(self, key: SubKey, consumer: Hashable) -> bool:
        """Record that a consumer no longer wants ``key``; False if it did not."""
        with self.lock:
            if (key, consumer) not in self.wants:
                return False
            self.wants.discard((key, consumer))
            self._desired[key] -= 1
            if self._desired[key] <= 0:
                del self._desired[key]
                self._removed_at[key] = self.clock()
            return True

    def desired(self) -> set[SubKey]:
        with self.lock:
            return set(self._desired)

    # -- events ---------------------------------------------------------------------------
    def tick(self, tick: Tick) -> None:
        """A delivered tick: wanted, and never older than the last one of its key."""
        key = (tick.exchange_segment, tick.instrument_id, tick.message_code)
        order = order_of(tick)
        with self.lock:
            self.ticks += 1
            if key not in self._desired:
                removed = self._removed_at.get(key)
                if removed is None or self.clock() - removed > GHOST_GRACE:
                    self.ghosts += 1
                    self.violate("no tick for an unwanted instrument", f"{key}")
            if order is not None:
                kind, value = order
                last = self._last.get((key, kind))
                if last is not None and value < last:
                    self.reorders += 1
                    self.violate(
                        "per-instrument order never backwards", f"{key}: {last} -> {value}"
                    )
                else:
                    self._last[(key, kind)] = value

    def transition(self, trigger: object, source: object, dest: object) -> None:
        """A ``lifecycle.transition`` record: it must be a declared edge."""
        edge = (str(trigger), str(source), str(dest))
        with self.lock:
            self.edges[edge] += 1
            if edge not in DECLARED_EDGES:
                self.violate("only declared edges", f"{edge[1]} --{edge[0]}--> {edge[2]}")
