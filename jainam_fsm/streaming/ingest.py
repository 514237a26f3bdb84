"""The tick path: decode -> filter -> hand-off, on the I/O thread, in arrival order.

:class:`Ingest` owns everything between the socket and the delivery queue: the decoder, the
subscribe-snapshot ordering and the tick counters. The transport calls :meth:`Ingest.on_data`
for every data event and drives the :class:`~jainam_fsm.streaming.transport.SnapshotSink`
methods (``connecting``/``begin``/``deliver``/``end``) around each subscribe request. Nothing
here touches the lifecycle machine: ticks never go through it.

Flavour: on the JSON API every event goes through :class:`~jainam_fsm.xts.decode.XtsDecoder`;
on the binary API ``xts-binary-packet`` events go through
:class:`~jainam_fsm.xts.binary.BinaryDecoder` (one event, one or more ticks) and the JSON events
of the same socket (1505 candles) through the JSON decoder. The choice is made per socket, at
``connecting()``.

Liveness: :attr:`Ingest.wanted` counts ticks handed over for a wanted instrument; nothing else
(heartbeats, unwanted instruments, undecodable events) moves it, and the stall watchdog reads
only it. Events that decode to nothing are counted by event name in :meth:`Ingest.undecodable`
until the next wanted tick, so the watchdog can say what the silent socket did receive.

Other codes: a tick for a wanted instrument under a code nobody asked for (Jainam reportedly
answers an LTP want with 1502; on the binary API an LTP want is served by 1501) is delivered
under the wanted code when it carries what that want needs (:data:`NEEDS`), and otherwise
counted (``ticks_code_unserved``) and logged once per (code, wanted code).

Snapshot ordering: a snapshot is older than any live tick of the same instrument and code that
arrived while the subscribe request was in flight, so it is dropped for those (it would move
the price backwards, and in Partial mode overwrite newer merge state). Each snapshot is parsed
once: its key is read from the parsed object, which the decoder then turns into a tick.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from jainam_fsm.core.registry import SubscriptionRegistry
from jainam_fsm.streaming.flavour import BINARY_EVENT
from jainam_fsm.xts.binary import BinaryDecoder
from jainam_fsm.xts.decode import XtsDecoder
from jainam_fsm.xts.ticks import MarketStatus, Tick, _make_tick

log = logging.getLogger("jainam_fsm.streaming")

Put = Callable[[Tick | MarketStatus], None]
PutMany = Callable[[list[Tick | MarketStatus]], None]
_monotonic = time.monotonic

#: Counter names owned by the tick path (all present from the start: ``stats()`` copies them
#: while the I/O thread counts).
INGEST_COUNTERS = (
    "ticks_filtered",
    "snapshots_skipped",
    "ticks_other_code",
    "ticks_code_unserved",
    "events_undecodable",
)


def _has_ltp(t: Tick) -> bool:
    return t.ltp is not None


def _has_touchline(t: Tick) -> bool:
    return t.ltp is not None and t.bid is not None and t.ask is not None


def _has_depth(t: Tick) -> bool:
    return bool(t.bids or t.asks)


def _has_oi(t: Tick) -> bool:
    return t.open_interest is not None


def _has_bar(t: Tick) -> bool:
    return t.bar_time is not None


#: What a want of each code needs from a tick that arrives under another code. Checked in
#: this order when several codes of the instrument are wanted (the richest first).
NEEDS: dict[int, Callable[[Tick], bool]] = {
    1502: _has_depth,
    1501: _has_touchline,
    1512: _has_ltp,
    1504: _has_ltp,
    1510: _has_oi,
    1505: _has_bar,
}


class Ingest:
    """Decode, filter and hand off one socket's data events. I/O thread only (except
    :meth:`stats`, a copy that any thread may take)."""

    def __init__(
        self, registry: SubscriptionRegistry, put: Put, put_many: PutMany | None = None
    ) -> None:
        self._registry = registry
        self._wants = registry.wants
        self._put = put
        #: a whole event's ticks in one hand-off (one lock, at most one wake-up)
        self._put_many = put_many
        self.decoder = XtsDecoder()
        self.binary = BinaryDecoder()
        self.counts: Counter[str] = Counter(dict.fromkeys(INGEST_COUNTERS, 0))
        #: ticks handed over for a wanted instrument, and the monotonic time of the last one
        #: (the stall watchdog's only input)
        self.wanted = 0
        self.wanted_at = 0.0
        #: the same on the current socket, and when that socket started opening
        self.wanted_on_socket = 0
        self.socket_started = _monotonic()
        #: event name -> events that decoded to nothing since the last wanted tick
        self._nothing: dict[str, int] = {}
        #: keys with a subscribe in flight -> a live tick arrived meanwhile
        self._snapshot_wait: dict[tuple[int, int, int], bool] = {}
        #: (registry version, {(segment, instrument): wanted codes}) for the other-code path
        self._by_instrument: tuple[int, dict[tuple[int, int], tuple[int, ...]]] = (-1, {})
        self._unserved_logged: set[tuple[int, int]] = set()

    # -- live data: the hot path ------------------------------------------------------------
    def on_data(self, event: str, data: object) -> None:
        """One JSON data event: decode, filter, hand off."""
        item = self.decoder.decode(event, data)
        if item is None:
            self._undecodable(event)
            return
        if type(item) is Tick:
            routed = self._route(item)
            if routed is not None:
                self._put(routed)
        else:
            self._put(item)

    def on_binary(self, data: object) -> None:
        """One ``xts-binary-packet`` event: its ticks, in packet order."""
        ticks = self.binary.decode(data)  # type: ignore[arg-type]  # never raises
        if not ticks:
            self._undecodable(BINARY_EVENT)
            return
        route = self._route
        put_many = self._put_many
        if put_many is None or len(ticks) == 1:
            put = self._put
            for tick in ticks:
                routed = route(tick)
                if routed is not None:
                    put(routed)
            return
        wanted: list[Tick | MarketStatus] = []
        for tick in ticks:
            routed = route(tick)
            if routed is not None:
                wanted.append(routed)
        put_many(wanted)

    def _route(self, tick: Tick) -> Tick | None:
        """``tick`` (or its other-code stand-in) when wanted, counted as wanted; else None."""
        key = (tick.exchange_segment, tick.instrument_id, tick.message_code)
        if not self._wants(*key):
            other = self._other_code(tick)
            if other is None:
                return None
            tick = other
        if self._snapshot_wait and key in self._snapshot_wait:
            self._snapshot_wait[key] = True  # live data is newer than any snapshot
        self.wanted += 1
        self.wanted_on_socket += 1
        self.wanted_at = _monotonic()
        if self._nothing:
            self._nothing.clear()
        return tick

    def _undecodable(self, event: object) -> None:
        name = event if type(event) is str and len(event) <= 64 else "<other>"
        self.counts["events_undecodable"] += 1
        if name in self._nothing or len(self._nothing) < 32:
            self._nothing[name] = self._nothing.get(name, 0) + 1

    def _other_code(self, tick: Tick) -> Tick | None:
        """A tick nobody wants under its own code: delivered under a wanted code of the same
        instrument when it carries what that want needs; counted either way."""
        version = self._registry.version
        cached, index = self._by_instrument
        if cached != version:
            index = {}
            for seg, iid, code in self._registry:
                index.setdefault((seg, iid), ())
                index[(seg, iid)] += (code,)
            self._by_instrument = (version, index)
        codes = index.get((tick.exchange_segment, tick.instrument_id))
        if not codes:
            self.counts["ticks_filtered"] += 1
            return None
        for code, needs in NEEDS.items():
            if code in codes and needs(tick):
                self.counts["ticks_other_code"] += 1
                values = vars(tick)  # a new dict of the fields, in order
                values["message_code"] = code
                return _make_tick(values)
        self.counts["ticks_code_unserved"] += 1
        for code in codes:
            pair = (tick.message_code, code)
            if pair not in self._unserved_logged and len(self._unserved_logged) < 64:
                self._unserved_logged.add(pair)
                log.warning(
                    "ticks of code %d arrive for instruments wanted as %d and lack what that "
                    "want needs; counted in ticks_code_unserved",
                    tick.message_code,
                    code,
                )
        return None

    def undecodable(self) -> dict[str, int]:
        """Events that decoded to nothing since the last wanted tick, by event name."""
        return dict(self._nothing)

    # -- SnapshotSink ------------------------------------------------------------------------
    def connecting(self) -> None:
        """A new socket: partial-mode state and pending snapshots start afresh."""
        self.decoder.reset()
        self.binary.reset()
        self._snapshot_wait.clear()
        self._nothing.clear()
        self.wanted_on_socket = 0
        self.socket_started = _monotonic()

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
            if type(item) is not Tick:
                continue
            if not self._wants(item.exchange_segment, item.instrument_id, item.message_code):
                item = self._other_code(item)
            if item is not None:
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
        out["binary_decode"] = self.binary.stats()
        out["binary_skipped"] = {f"{c}/{n}": k for (c, n), k in self.binary.skipped.items()}
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
