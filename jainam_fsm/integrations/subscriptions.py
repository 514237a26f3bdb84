"""The adapter's subscription book: counted wants per platform ``(symbol, exchange, mode)`` and
the routes from XTS ``(segment, instrument, code)`` back to the platform topics ticks feed.

Each ``subscribe`` is one want of a consumer; the XTS subscription goes away only when nobody
wants it. An index also streams 1504 (its value and OHLC), and a derivative's Quote/Depth want
1510 (open interest) too (:func:`xts_codes`). The book is not locked on its own: its owner (the
adapter) holds one lock around every call, the delivery thread's route lookups included.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from jainam_fsm.integrations.base import Mode

__all__ = [
    "INDEX_CODE",
    "OI_CODE",
    "OI_EXCHANGES",
    "PUBLISHED_CODES",
    "SubKey",
    "Subscription",
    "SubscriptionBook",
    "Target",
    "xts_codes",
]

SubKey = tuple[str, str, Mode]  # (symbol, exchange, mode)
Target = tuple[str, str, Mode]  # (exchange, symbol, mode) a tick is published for
Route = tuple[int, int, int]  # (segment, instrument, xts code)

#: XTS codes beyond the mode's own: an index also streams 1504 (its value and OHLC), and a
#: derivative's Quote/Depth want 1510 (open interest) too.
INDEX_CODE, OI_CODE = 1504, 1510
#: Codes whose ticks are published (others are counted as ignored).
PUBLISHED_CODES = frozenset({1501, 1502, 1512, INDEX_CODE, OI_CODE})
_INDEX_EXCHANGES = frozenset({"NSE_INDEX", "BSE_INDEX"})
#: Exchanges whose instruments carry open interest.
OI_EXCHANGES = frozenset({"NFO", "BFO", "MCX", "CDS"})


def xts_codes(exchange: str, mode: Mode) -> tuple[int, ...]:
    """Every XTS message code one (exchange, mode) want subscribes."""
    if exchange in _INDEX_EXCHANGES:
        return (mode.xts_code, INDEX_CODE)
    if exchange in OI_EXCHANGES and mode is not Mode.LTP:
        return (mode.xts_code, OI_CODE)
    return (mode.xts_code,)


class _Stream(Protocol):
    """What the book needs of a :class:`~jainam_fsm.streaming.adapter.StreamingAdapter`."""

    def subscribe(self, segment: int, instrument_id: int, code: int, *, consumer: Any) -> Any: ...

    def unsubscribe(self, segment: int, instrument_id: int, code: int, *, consumer: Any) -> Any: ...


@dataclass
class Subscription:
    """One platform subscription and the consumers that want it (with their want counts)."""

    symbol: str
    exchange: str
    mode: Mode
    segment: int
    instrument_id: int
    requested_depth: int
    actual_depth: int
    is_fallback: bool
    consumers: Counter[Hashable] = field(default_factory=Counter)

    def describe(self) -> str:
        return f"{self.exchange}:{self.symbol} ({self.mode.label})"

    @property
    def codes(self) -> tuple[int, ...]:
        return xts_codes(self.exchange, self.mode)

    @property
    def target(self) -> Target:
        return (self.exchange, self.symbol, self.mode)

    def apply(self, stream: _Stream, consumer: Hashable) -> None:
        """Add one want of ``consumer`` on ``stream`` (each of its codes)."""
        for code in self.codes:
            stream.subscribe(
                self.segment,
                self.instrument_id,
                code,
                consumer=(self.exchange, self.symbol, consumer),
            )

    def withdraw(self, stream: _Stream, consumer: Hashable) -> None:
        """Drop one want of ``consumer`` from ``stream`` (each of its codes)."""
        for code in self.codes:
            stream.unsubscribe(
                self.segment,
                self.instrument_id,
                code,
                consumer=(self.exchange, self.symbol, consumer),
            )


class SubscriptionBook:
    """Subscriptions by key and the routes of their ticks (the owner's lock held)."""

    def __init__(self) -> None:
        self.subs: dict[SubKey, Subscription] = {}
        #: (segment, instrument, xts code) -> {(exchange, symbol, mode)}: who a tick is for
        self.routes: dict[Route, set[Target]] = {}

    def __len__(self) -> int:
        return len(self.subs)

    def get(self, key: SubKey) -> Subscription | None:
        return self.subs.get(key)

    def want(
        self,
        key: SubKey,
        segment: int,
        instrument_id: int,
        depth: tuple[int, int, bool],
        consumer: Hashable,
    ) -> Subscription:
        """One more want of ``consumer``; ``depth`` is (requested, actual, is_fallback), which
        an existing subscription takes over."""
        requested, actual, fallback = depth
        sub = self.subs.get(key)
        if sub is None:
            sym, exch, mode = key
            sub = self.subs[key] = Subscription(
                sym, exch, mode, segment, instrument_id, requested, actual, fallback
            )
            for code in sub.codes:
                self.routes.setdefault((segment, instrument_id, code), set()).add(sub.target)
        else:
            sub.requested_depth, sub.actual_depth, sub.is_fallback = requested, actual, fallback
        sub.consumers[consumer] += 1
        return sub

    def drop(self, key: SubKey, consumer: Hashable) -> int:
        """Remove one want; returns how many wants remain for ``key`` (at 0 the subscription
        and its routes are gone)."""
        sub = self.subs[key]
        sub.consumers[consumer] -= 1
        if sub.consumers[consumer] <= 0:
            del sub.consumers[consumer]
        remaining = sum(sub.consumers.values())
        if remaining == 0:
            del self.subs[key]
            for code in sub.codes:
                route = (sub.segment, sub.instrument_id, code)
                targets = self.routes.get(route)
                if targets is not None:
                    targets.discard(sub.target)
                    if not targets:
                        del self.routes[route]
        return remaining

    def wants(self) -> Iterator[tuple[SubKey, Subscription, Hashable]]:
        """Every want, once per count: ``(key, subscription, consumer)`` (a snapshot)."""
        for key, sub in list(self.subs.items()):
            for consumer, n in list(sub.consumers.items()):
                for _ in range(n):
                    yield key, sub, consumer

    def replay(self, stream: _Stream) -> None:
        """Subscribe every recorded want on a new ``stream``."""
        for _, sub, consumer in self.wants():
            sub.apply(stream, consumer)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """``"SYMBOL_EXCHANGE_MODE"`` -> details (with the number of wants)."""
        return {
            f"{s.symbol}_{s.exchange}_{int(s.mode)}": {
                "symbol": s.symbol,
                "exchange": s.exchange,
                "mode": int(s.mode),
                "exchange_segment": s.segment,
                "instrument_id": s.instrument_id,
                "actual_depth": s.actual_depth,
                "wants": sum(s.consumers.values()),
            }
            for s in self.subs.values()
        }
