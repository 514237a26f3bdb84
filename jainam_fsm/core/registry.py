"""The subscription registry (what consumers want) and reconcile (what to ask the server).

Desired subscriptions are keyed by exchange segment, then instrument id, then the set of XTS
message codes, each (segment, instrument, code) with a count of consumers. The registry is
thread-safe; its lock guards only in-memory dictionaries, so no network call can ever happen
under it. Readers on the tick hot path use :meth:`SubscriptionRegistry.wants`, which reads an
immutable snapshot without taking the lock.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from jainam_fsm.core.ports import Instrument, SubKey

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_CONSUMER",
    "Plan",
    "Request",
    "SubKey",
    "SubscriptionRegistry",
    "SubscriptionSet",
    "flatten",
    "nest",
    "reconcile",
]

#: ``{segment: {instrument_id: frozenset(message_codes)}}``
SubscriptionSet = Mapping[int, Mapping[int, frozenset[int]]]

DEFAULT_BATCH = 50
DEFAULT_CONSUMER = "default"


@dataclass(frozen=True, slots=True)
class Request:
    """One subscribe or unsubscribe request: one message code, up to ``batch`` instruments."""

    code: int
    instruments: tuple[Instrument, ...]

    def keys(self) -> frozenset[SubKey]:
        """The server subscriptions the request is about."""
        return frozenset((s, i, self.code) for s, i in self.instruments)


@dataclass(frozen=True, slots=True)
class Plan:
    """The minimal requests that turn the server's set into the desired set."""

    subscribe: tuple[Request, ...]
    unsubscribe: tuple[Request, ...]

    @property
    def empty(self) -> bool:
        return not self.subscribe and not self.unsubscribe


class SubscriptionRegistry:
    """Desired subscriptions with consumer counts. Safe to call from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # key -> Counter(consumer -> number of times that consumer asked)
        self._wanted: dict[SubKey, Counter[Hashable]] = {}
        self._snapshot: frozenset[SubKey] = frozenset()
        self._version = 0

    def add(
        self, segment: int, instrument_id: int, code: int, consumer: Hashable = DEFAULT_CONSUMER
    ) -> bool:
        """Record that ``consumer`` wants this subscription. True if it was not desired before."""
        key = _key(segment, instrument_id, code)
        with self._lock:
            consumers = self._wanted.get(key)
            new = consumers is None
            if consumers is None:
                consumers = self._wanted[key] = Counter()
            consumers[consumer] += 1
            if new:
                self._publish()
            return new

    def remove(
        self, segment: int, instrument_id: int, code: int, consumer: Hashable = DEFAULT_CONSUMER
    ) -> bool:
        """Drop one want of ``consumer``. True if nobody wants the subscription any more.

        Removing something the consumer never asked for is a no-op that returns False.
        """
        key = _key(segment, instrument_id, code)
        with self._lock:
            consumers = self._wanted.get(key)
            if consumers is None or consumers[consumer] == 0:
                return False
            consumers[consumer] -= 1
            if consumers[consumer] == 0:
                del consumers[consumer]
            if consumers:
                return False
            del self._wanted[key]
            self._publish()
            return True

    def remove_consumer(self, consumer: Hashable) -> set[SubKey]:
        """Drop every want of ``consumer``; return the keys nobody wants any more."""
        gone: set[SubKey] = set()
        with self._lock:
            for key in list(self._wanted):
                consumers = self._wanted[key]
                if consumer in consumers:
                    del consumers[consumer]
                    if not consumers:
                        del self._wanted[key]
                        gone.add(key)
            if gone:
                self._publish()
        return gone

    def clear(self) -> None:
        """Forget everything (intentional shutdown: nothing may replay afterwards)."""
        with self._lock:
            self._wanted.clear()
            self._publish()

    def wants(self, segment: int, instrument_id: int, code: int) -> bool:
        """Lock-free check for the tick hot path."""
        return (segment, instrument_id, code) in self._snapshot

    def keys(self) -> frozenset[SubKey]:
        """An immutable snapshot of the desired keys."""
        return self._snapshot

    def desired(self) -> dict[int, dict[int, frozenset[int]]]:
        """The desired set keyed by segment, then instrument id, then message codes."""
        return nest(self._snapshot)

    def consumers(self, segment: int, instrument_id: int, code: int) -> int:
        """How many distinct consumers want this subscription."""
        with self._lock:
            return len(self._wanted.get(_key(segment, instrument_id, code), ()))

    def consumer_counts(self) -> dict[SubKey, dict[Hashable, int]]:
        """A copy of every desired key with each consumer's number of wants (the hot
        standby persists it: :mod:`jainam_fsm.standby`)."""
        with self._lock:
            return {key: dict(consumers) for key, consumers in self._wanted.items()}

    @property
    def version(self) -> int:
        """Increases on every change of the desired set (not on consumer-count changes)."""
        return self._version

    def __len__(self) -> int:
        return len(self._snapshot)

    def __iter__(self) -> Iterator[SubKey]:
        return iter(self._snapshot)

    def __repr__(self) -> str:
        return f"SubscriptionRegistry({len(self._snapshot)} subscriptions)"

    def _publish(self) -> None:
        # Called with the lock held: swap in a new immutable snapshot for lock-free readers.
        self._snapshot = frozenset(self._wanted)
        self._version += 1


def nest(keys: Iterable[SubKey]) -> dict[int, dict[int, frozenset[int]]]:
    """``{(seg, id, code)}`` to ``{seg: {id: frozenset(codes)}}``."""
    tmp: dict[int, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    for seg, iid, code in keys:
        tmp[seg][iid].add(code)
    return {seg: {iid: frozenset(codes) for iid, codes in ids.items()} for seg, ids in tmp.items()}


def flatten(subs: SubscriptionSet) -> set[SubKey]:
    """``{seg: {id: codes}}`` to ``{(seg, id, code)}``."""
    return {
        (seg, iid, code)
        for seg, ids in subs.items()
        for iid, codes in ids.items()
        for code in codes
    }


def reconcile(
    server: Iterable[SubKey], desired: Iterable[SubKey], batch: int = DEFAULT_BATCH
) -> Plan:
    """The minimal requests that make the server's set equal the desired set.

    One message code per request, at most ``batch`` instruments each, in a stable order
    (code, segment, instrument) so that replays are reproducible.
    """
    if batch < 1:
        raise ValueError("batch must be >= 1")
    have = set(server)
    want = set(desired)
    return Plan(subscribe=_requests(want - have, batch), unsubscribe=_requests(have - want, batch))


def _requests(keys: set[SubKey], batch: int) -> tuple[Request, ...]:
    by_code: dict[int, list[Instrument]] = defaultdict(list)
    for seg, iid, code in sorted(keys, key=lambda k: (k[2], k[0], k[1])):
        by_code[code].append((seg, iid))
    out: list[Request] = []
    for code, instruments in by_code.items():
        for start in range(0, len(instruments), batch):
            out.append(Request(code, tuple(instruments[start : start + batch])))
    return tuple(out)


def _key(segment: int, instrument_id: int, code: int) -> SubKey:
    for name, value in (("segment", segment), ("instrument_id", instrument_id), ("code", code)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return (segment, instrument_id, code)
