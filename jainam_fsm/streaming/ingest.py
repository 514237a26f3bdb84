"""The tick path: decode -> filter -> hand-off, on the I/O thread, in arrival order.

:class:`Ingest` owns everything between the socket and the delivery queue: the decoder, the
subscribe-snapshot ordering and the tick counters. The transport calls :meth:`Ingest.on_data`
for every data event and drives the :class:`~jainam_fsm.streaming.transport.SnapshotSink`
methods (``connecting``/``begin``/``deliver``/``end``) around each subscribe request. Nothing
here touches the lifecycle machine: ticks never go through it.

Snapshot ordering: a snapshot is older than any live tick of the same instrument and code that
arrived while the subscribe request was in flight, so it is dropped for those (it would move
the price backwards, and in Partial mode overwrite newer merge state). Each snapshot is parsed
once: its key is read from the parsed object, which the decoder then turns into a tick.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from jainam_fsm.core.registry import SubscriptionRegistry
from jainam_fsm.xts.decode import XtsDecoder
from jainam_fsm.xts.ticks import MarketStatus, Tick

Put = Callable[[Tick | MarketStatus], None]

#: Counter names owned by the tick path (all present from the start: ``stats()`` copies them
#: while the I/O thread counts).
INGEST_COUNTERS = ("ticks_filtered", "snapshots_skipped")


class Ingest:
    """Decode, filter and hand off one socket's data events. I/O thread only (except
    :meth:`stats`, a copy that any thread may take)."""

    def __init__(self, registry: SubscriptionRegistry, put: Put) -> None:
        self._registry = registry
        self._put = put
        self.decoder = XtsDecoder()
        self.counts: Counter[str] = Counter(dict.fromkeys(INGEST_COUNTERS, 0))
        #: keys with a subscribe in flight -> a live tick arrived meanwhile
        self._snapshot_wait: dict[tuple[int, int, int], bool] = {}

    # -- live data: the hot path ------------------------------------------------------------
    def on_data(self, event: str, data: object) -> None:
        """One data event: decode, filter, hand off."""
        item = self.decoder.decode(event, data)
        if item is None:
            return
        if type(item) is Tick:
            key = (item.exchange_segment, item.instrument_id, item.message_code)
            if not self._registry.wants(*key):
                self.counts["ticks_filtered"] += 1
                return
            if self._snapshot_wait and key in self._snapshot_wait:
                self._snapshot_wait[key] = True  # live data is newer than any snapshot
        self._put(item)

    # -- SnapshotSink ------------------------------------------------------------------------
    def connecting(self) -> None:
        """A new socket: partial-mode state and pending snapshots start afresh."""
        self.decoder.reset()
        self._snapshot_wait.clear()

    def begin(self, code: int, instruments: Sequence[tuple[int, int]]) -> None:
        wait = self._snapshot_wait
        for seg, iid in instruments:
            wait[(seg, iid, code)] = False

    def deliver(self, code: int, quotes: Sequence[str]) -> None:
        for raw in quotes:
            obj = _parse(raw, self.decoder.max_payload)
            key = _snapshot_key(obj, code)
            if key is None or self._snapshot_wait.get(key):
                self.counts["snapshots_skipped"] += 1
                continue
            item = self.decoder.decode_snapshot(obj, code)
            if type(item) is Tick and self._registry.wants(
                item.exchange_segment, item.instrument_id, item.message_code
            ):
                self._put(item)

    def end(self, code: int, instruments: Sequence[tuple[int, int]]) -> None:
        wait = self._snapshot_wait
        for seg, iid in instruments:
            wait.pop((seg, iid, code), None)

    # -- any thread ---------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Tick-path counters and the decoder's counts (``decode_errors``)."""
        out: dict[str, Any] = dict(self.counts)
        out["decode_errors"] = dict(self.decoder.stats)
        return out


def _parse(raw: object, limit: int) -> object:
    """A snapshot entry parsed once (orjson, strict); unparsable or oversized entries stay as
    they are (and are then skipped, counted)."""
    if (type(raw) is str or isinstance(raw, bytes)) and len(raw) <= limit:
        try:
            return orjson.loads(raw)
        except (ValueError, RecursionError):
            return raw
    return raw


def _snapshot_key(obj: object, code: int) -> tuple[int, int, int] | None:
    """The (segment, instrument, code) of a parsed snapshot, or None when unreadable."""
    if type(obj) is not dict:
        return None
    try:
        return (int(obj["ExchangeSegment"]), int(obj["ExchangeInstrumentID"]), code)
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
