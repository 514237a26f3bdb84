"""The stall watchdog: runs on the supervisor's periodic tick (every ``min(1 s, stall/4)``).

Only decoded data for a wanted instrument counts as life (:attr:`Ingest.wanted_at`, taken on
the I/O thread); pings, unwanted instruments and events that decode to nothing do not. A silent
spell during which undecodable events did arrive is reported as ``connection.undecodable``
(ERROR, with the event names and counts) instead of ``connection.stalled``; both count as a
stall and are answered by the machine's ``connection_lost``. The same tick reports ticks a slow
consumer lost (``delivery.dropped``). See docs/operations.md, "Stall watchdog".
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from typing import Protocol

from jainam_fsm.core.lifecycle import Lifecycle
from jainam_fsm.core.machine import Trigger
from jainam_fsm.core.ports import TelemetrySink, emit_safely
from jainam_fsm.streaming.ingest import Ingest


class DropCounter(Protocol):
    """What the watchdog reads of the delivery queue."""

    @property
    def dropped(self) -> int: ...

    @property
    def capacity(self) -> int: ...


class StallWatchdog:
    """Supervisor thread only. ``counts`` is the adapter's counter dict (``stalls``,
    ``undecodable_stalls``); ``api`` names the API in use for the undecodable report."""

    def __init__(
        self,
        stall_timeout: float,
        *,
        ingest: Ingest,
        delivery: DropCounter,
        telemetry: TelemetrySink,
        counts: Counter[str],
        api: Callable[[], str],
    ) -> None:
        self.stall_timeout = stall_timeout
        self._ingest = ingest
        self._delivery = delivery
        self._telemetry = telemetry
        self._counts = counts
        self._api = api
        #: 1, 2, 4 or 8: a connection that never received anything doubles the next allowance
        self.factor = 1
        #: when watching last (re)started: silence before it does not count
        self._since = time.monotonic()
        self._dropped_seen = 0

    def check(self, lc: Lifecycle | None) -> None:
        """One tick: report dropped ticks; fire ``connection_lost`` on a stalled feed.

        A connection that never received anything (a closed or very quiet market) doubles
        the allowance for the next one, up to 8x, so a quiet feed is not reconnected every
        ``stall_timeout`` forever; wanted data brings it back to 1x.
        """
        self._report_drops()
        now = time.monotonic()
        ingest = self._ingest
        if lc is None or not lc.ready or not lc.server_subscriptions:
            self._since = now  # nothing to watch yet: the silence starts counting later
            return
        # Silence counts from the latest of: watching began, this socket started, the last
        # wanted tick (both measured on the I/O thread, so not rounded to our ticks).
        since = max(self._since, ingest.socket_started, ingest.wanted_at)
        if ingest.wanted_on_socket:
            self.factor = 1
        allowance = self.stall_timeout * self.factor
        silent = now - since
        if silent <= allowance:
            return
        undecodable = ingest.undecodable()
        self._counts["stalls"] += 1
        if not ingest.wanted_on_socket and not undecodable:
            self.factor = min(8, self.factor * 2)
        fields: dict[str, object] = {
            "silent_seconds": math.ceil(silent * 1000) / 1000,  # never shown below the limit
            "allowance": allowance,
            "next_allowance": self.stall_timeout * self.factor,
        }
        if undecodable:
            self._counts["undecodable_stalls"] += 1
            fields.update(
                events=undecodable, undecodable_events=sum(undecodable.values()), api=self._api()
            )
            emit_safely(self._telemetry, "connection.undecodable", logging.ERROR, fields)
            lc.fire(Trigger.CONNECTION_LOST, reason="undecodable")
            return
        emit_safely(self._telemetry, "connection.stalled", logging.WARNING, fields)
        lc.fire(Trigger.CONNECTION_LOST, reason="stall")

    def _report_drops(self) -> None:
        """Slow consumer: ticks evicted from the full queue are counted and logged (at most
        one record per watchdog tick)."""
        dropped = self._delivery.dropped
        if dropped > self._dropped_seen:
            emit_safely(
                self._telemetry,
                "delivery.dropped",
                logging.WARNING,
                {
                    "dropped": dropped - self._dropped_seen,
                    "total_dropped": dropped,
                    "queue_capacity": self._delivery.capacity,
                },
            )
            self._dropped_seen = dropped
