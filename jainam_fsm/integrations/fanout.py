"""Ticks to platform messages: each XTS tick is published, in the platform's shape, under the
topic of every subscription routed to it (:class:`TickFanout`).

Open interest rides along: a 1510 is remembered per instrument and republished on the latest
Quote/Depth payload of each subscribed derivative topic; later price messages carry the last
value seen. Runs on the stream's delivery thread, under the owner's lock, which is held while
publishing (PUB sends never block): once an unsubscribe returned, no message for its topic can
still be on its way out.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any, Protocol

from jainam_fsm.integrations.base import Mode
from jainam_fsm.integrations.payloads import normalize_tick, topic_for, with_open_interest
from jainam_fsm.integrations.subscriptions import (
    INDEX_CODE,
    OI_CODE,
    OI_EXCHANGES,
    PUBLISHED_CODES,
    SubscriptionBook,
    Target,
)
from jainam_fsm.xts.ticks import Tick

__all__ = ["TickFanout"]


class _Publishes(Protocol):
    def publish_market_data(self, topic: str, data: Mapping[str, Any]) -> bool | None: ...


class TickFanout:
    """Publishes ticks routed by ``book`` through ``owner.publish_market_data``.

    :param owner: called through its attribute on every message (OpenAlgo's connection pool
        replaces ``publish_market_data`` on the instance).
    :param lock: the lock guarding ``book`` (held while publishing).
    :param counts: ``published``, ``publish_errors``, ``ticks_unrouted`` and ``ticks_ignored``
        are counted here (the owner's counters).
    """

    def __init__(
        self,
        book: SubscriptionBook,
        owner: _Publishes,
        lock: threading.RLock,
        counts: Counter[str],
    ) -> None:
        self._book = book
        self._owner = owner
        self._lock = lock
        self._counts = counts
        #: messages published per XTS message code of the tick behind them
        self.published_by_code: Counter[int] = Counter()
        # (segment, instrument) -> open interest last seen (1510), and topic -> last payload
        self._oi: dict[tuple[int, int], int] = {}
        self._last: dict[str, dict[str, Any]] = {}

    def forget(self, exchange: str, symbol: str, mode: Mode) -> None:
        """A subscription is gone: its last payload is no longer republished (lock held)."""
        self._last.pop(topic_for(exchange, symbol, mode), None)

    def on_tick(self, tick: Tick) -> None:
        """Delivery thread: publish the tick for every platform symbol subscribed to it."""
        code = tick.message_code
        key = (tick.exchange_segment, tick.instrument_id, code)
        with self._lock:
            targets = self._book.routes.get(key)
            if not targets:
                self._counts["ticks_unrouted" if code in PUBLISHED_CODES else "ticks_ignored"] += 1
                return
            if code == OI_CODE:
                self._publish_oi(tick, targets)
                return
            oi = self._oi.get((tick.exchange_segment, tick.instrument_id))
            for exchange, symbol, mode in tuple(targets):
                if code == INDEX_CODE and mode is Mode.DEPTH:
                    continue  # an index has no book: its Depth want gets the 1502 messages
                payload = normalize_tick(tick, mode, symbol, exchange)
                if oi is not None and mode is not Mode.LTP:
                    payload["oi"] = oi
                topic = topic_for(exchange, symbol, mode)
                if mode is not Mode.LTP and exchange in OI_EXCHANGES:
                    self._last[topic] = payload
                self._send(topic, payload, code)

    def _publish_oi(self, tick: Tick, targets: set[Target]) -> None:
        """A 1510: remember the open interest and republish the latest Quote/Depth payload of
        each subscribed topic with it (nothing before the first price message)."""
        if tick.open_interest is None:
            return
        self._oi[(tick.exchange_segment, tick.instrument_id)] = tick.open_interest
        for exchange, symbol, mode in tuple(targets):
            topic = topic_for(exchange, symbol, mode)
            last = self._last.get(topic)
            if last is not None:
                self._send(topic, with_open_interest(last, tick.open_interest), OI_CODE)

    def _send(self, topic: str, payload: dict[str, Any], code: int) -> None:
        # Through the attribute: the connection pool replaces publish_market_data.
        if self._owner.publish_market_data(topic, payload) is False:
            self._counts["publish_errors"] += 1
        else:
            self._counts["published"] += 1
            self.published_by_code[code] += 1
