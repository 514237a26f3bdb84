"""The stall watchdog's eyes, and the supervisor's periodic report of dropped ticks.

The watchdog itself is a timer of the lifecycle with its policy in the core
(:mod:`jainam_fsm.core.watchdog`): when a silent feed counts as stalled, the 1x..8x allowance,
undecodable stalls. This module gives it what the tick path saw (:class:`TickPathMonitor`, the
``FeedMonitor`` port) and reports ticks a slow consumer lost (:class:`DropReporter`, on the
supervisor's one-second tick). See docs/operations.md, "Stall watchdog".
"""

from __future__ import annotations

import logging
from typing import Protocol

from jainam_fsm.core.ports import FeedActivity, TelemetrySink, emit_safely
from jainam_fsm.streaming.flavour import Flavour
from jainam_fsm.streaming.ingest import Ingest


class TickPathMonitor:
    """The ``FeedMonitor`` port over the tick path's counters; read on the supervisor thread.

    Only decoded data for a wanted instrument counts as life (:attr:`Ingest.wanted_at`);
    pings, unwanted instruments and events that decode to nothing do not. Both times are
    taken on the I/O thread with ``time.monotonic``, the supervisor's clock, so they are not
    rounded to any timer.
    """

    def __init__(self, ingest: Ingest, flavour: Flavour) -> None:
        self._ingest = ingest
        self._flavour = flavour

    def activity(self) -> FeedActivity:
        ingest = self._ingest
        return FeedActivity(
            since=max(ingest.socket_started, ingest.wanted_at),
            wanted=ingest.wanted_on_socket,
            undecodable=ingest.undecodable(),
            context={"api": self._flavour.api},
        )


class DropCounter(Protocol):
    """What the report reads of the delivery queue."""

    @property
    def dropped(self) -> int: ...

    @property
    def capacity(self) -> int: ...


class DropReporter:
    """Slow consumer: ticks evicted from the full queue are counted and logged, at most one
    ``delivery.dropped`` record per call (the supervisor calls it every second)."""

    def __init__(self, delivery: DropCounter, telemetry: TelemetrySink) -> None:
        self._delivery = delivery
        self._telemetry = telemetry
        self._seen = 0

    def report(self) -> None:
        dropped = self._delivery.dropped
        if dropped > self._seen:
            emit_safely(
                self._telemetry,
                "delivery.dropped",
                logging.WARNING,
                {
                    "dropped": dropped - self._seen,
                    "total_dropped": dropped,
                    "queue_capacity": self._delivery.capacity,
                },
            )
            self._seen = dropped
