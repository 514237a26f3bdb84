"""The binary flavour's payloads: ``xts-binary-packet`` events built from the shared market model.

The emission loop hands this module, per socket and per step, the ``(code, tick)`` items due in
order; it answers the Socket.IO events to send. Encoding is the codec's
(:mod:`jainam_fsm.xts.binary_encode`); this module only decides *what* goes on the wire:

* 1501, 1502, 1510 become binary packets in layout A or B (:class:`~.config.BinaryKnobs`), a
  seeded share of them raw-DEFLATE compressed, optionally with NaN ``TotalValueTraded``,
  extended properties and opaque 1512 packets mixed in; ``packets_per_event`` packets per
  event, mixing instruments and codes in the socket's order.
* 1512 and 1504 have no public binary layout (docs/xts-protocol.md): a subscription to them gets
  *opaque* packets of that code (right header, meaningless payload) that decoders must skip.
* 1505 candles go out as JSON strings on ``1505-json-full`` / ``-partial`` [JSB].

Every tick is recorded in the :class:`~.emitted.EmittedLog` exactly as a correct decoder must
return it (for example ``total_value_traded=None`` when NaN was written).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, replace

from jainam_fsm.simulator.config import BinaryKnobs
from jainam_fsm.simulator.emitted import EmittedLog
from jainam_fsm.simulator.frames import Frame
from jainam_fsm.simulator.payloads import render_full, render_partial
from jainam_fsm.xts.binary_encode import (
    CORRUPT_KINDS,
    corrupt_packet,
    encode_event,
    encode_tick,
    opaque_packet,
)
from jainam_fsm.xts.codes import BroadcastMode, MessageCode, event_name
from jainam_fsm.xts.ticks import Tick

__all__ = [
    "BINARY_EVENT",
    "BINARY_MALFORMED_KINDS",
    "BinaryStream",
    "Outgoing",
    "binary_frame",
    "binary_tick",
    "joined_payload",
    "malformed_event",
]

#: The Socket.IO event carrying binary packets [NET], [PYB], [JSB].
BINARY_EVENT = "xts-binary-packet"

#: Codes with a public binary layout.
_ENCODED: frozenset[int] = frozenset(
    {MessageCode.TOUCHLINE, MessageCode.DEPTH, MessageCode.OPEN_INTEREST}
)
#: Codes streamed as opaque packets (no public layout).
_OPAQUE: frozenset[int] = frozenset({MessageCode.LTP, MessageCode.INDEX})

#: Corrupt packets sent by ``/_sim/malformed`` on the binary flavour, cycled in this order;
#: each name is the decoder's stats kind that counts it (flag neither 0 nor 1, cut short,
#: not DEFLATE, inflating to another size, a 1501 whose size fits no layout).
BINARY_MALFORMED_KINDS: tuple[str, ...] = CORRUPT_KINDS


#: Socket.IO text of a binary event with one attachment, as python-socketio encodes it (a test
#: pins the equality): built once, every binary event reuses it.
_BINARY_EVENT_TEXT = '51-["xts-binary-packet",{"_placeholder":true,"num":0}]'


def binary_frame(data: bytes) -> Frame:
    """The frame of one ``xts-binary-packet`` event carrying ``data`` as its attachment."""
    return Frame(_BINARY_EVENT_TEXT, (data,))


def joined_payload(sid: str) -> dict[str, str]:
    """The binary server's ``joined`` object [NET-LOG22]."""
    return {
        "type": "success",
        "code": "s-socket-0001",
        "description": f"Socket joined successfully! SocketId={sid}",
    }


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One Socket.IO event to send: ``payload`` is ``bytes`` (one binary attachment) or ``str``."""

    event: str
    payload: bytes | str


def binary_tick(tick: Tick, *, nan_total_value_traded: bool) -> Tick:
    """``tick`` as the binary flavour publishes it, i.e. as a correct decoder returns it.

    The binary touchline always carries ``TotalValueTraded`` (the JSON one sends ``null``):
    the turnover (volume x average price), or NaN when asked, which decoders sanitise to
    ``None``.
    """
    if tick.message_code not in (MessageCode.TOUCHLINE, MessageCode.DEPTH):
        return tick
    if nan_total_value_traded or tick.volume is None or tick.average_price is None:
        return replace(tick, total_value_traded=None)
    return replace(tick, total_value_traded=round(tick.volume * tick.average_price, 2))


def _extended(count: int) -> tuple[tuple[str, str], ...]:
    return tuple((f"k{n}", f"v{n}") for n in range(count))


class BinaryStream:
    """Per-step packet maker of the binary flavour; one per simulator.

    Call :meth:`begin_step` once per emission step, then :meth:`events` per socket. A packet is
    built once per step and key and reused for every socket, so all sockets see the same bytes
    (and the same compressed/raw choice).
    """

    def __init__(self, seed: int, knobs: BinaryKnobs, emitted: EmittedLog) -> None:
        self.knobs = knobs
        self._emitted = emitted
        # Our own stream of choices (compression, opaque extras), independent of the price walk.
        self._rng = random.Random(f"jainam-sim-binary:{seed}")  # noqa: S311
        self._step: dict[tuple[int, int, int], tuple[bytes, ...]] = {}
        self.packets = 0
        self.compressed = 0
        self.events_built = 0

    def begin_step(self) -> None:
        """Forget the previous step's packets."""
        self._step.clear()

    def _packets(self, code: int, tick: Tick) -> tuple[bytes, ...]:
        key = (tick.exchange_segment, tick.instrument_id, code)
        cached = self._step.get(key)
        if cached is not None:
            return cached
        knobs = self.knobs
        seg, iid = tick.exchange_segment, tick.instrument_id
        out: list[bytes]
        if code in _OPAQUE:
            out = [opaque_packet(code, seg, iid, knobs.opaque_size)]
            self._emitted.record_opaque(code, knobs.opaque_size)
        else:
            wire = binary_tick(tick, nan_total_value_traded=knobs.nan_total_value_traded)
            compress = self._rng.random() < knobs.compressed_share
            out = [
                encode_tick(
                    wire,
                    layout=knobs.layout,
                    compress=compress,
                    nan_total_value_traded=knobs.nan_total_value_traded,
                    extended_properties=_extended(knobs.extended_properties),
                )
            ]
            self.compressed += compress
            self._emitted.record(wire)
            if knobs.opaque_share and self._rng.random() < knobs.opaque_share:
                out.append(opaque_packet(MessageCode.LTP, seg, iid, knobs.opaque_size))
                self._emitted.record_opaque(MessageCode.LTP, knobs.opaque_size)
        self.packets += len(out)
        packets = self._step[key] = tuple(out)
        return packets

    def events(
        self,
        items: Iterable[tuple[int, Tick]],
        *,
        partial: bool,
        previous: dict[tuple[int, tuple[int, int]], Tick],
    ) -> list[Outgoing]:
        """The events for one socket: its due ``(code, tick)`` items, in order.

        Candles (1505) go out as JSON strings in place; binary packets are cut into events of
        ``packets_per_event``. ``previous`` is the socket's last candle per key (partial mode).
        """
        per_event = self.knobs.packets_per_event
        out: list[Outgoing] = []
        pending: list[bytes] = []
        for code, tick in items:
            if code == MessageCode.CANDLE:
                key = (code, tick.instrument)
                step_key = (tick.exchange_segment, tick.instrument_id, code)
                if step_key not in self._step:
                    self._step[step_key] = ()
                    self._emitted.record(tick)
                if partial:
                    text = render_partial(tick, previous.get(key))
                    previous[key] = tick
                    out.append(Outgoing(event_name(code, BroadcastMode.PARTIAL), text))
                else:
                    out.append(Outgoing(event_name(code, BroadcastMode.FULL), render_full(tick)))
                continue
            if code not in _ENCODED and code not in _OPAQUE:
                continue
            for packet in self._packets(code, tick):
                pending.append(packet)
                if len(pending) >= per_event:
                    out.append(Outgoing(BINARY_EVENT, encode_event(pending)))
                    pending = []
        if pending:
            out.append(Outgoing(BINARY_EVENT, encode_event(pending)))
        self.events_built += sum(1 for o in out if o.event == BINARY_EVENT)
        return out


def malformed_event(n: int, tick: Tick, layout: str) -> tuple[str, bytes]:
    """The ``n``-th corrupt event (kinds cycled): ``(kind, attachment)`` with one broken packet
    made from ``tick`` (a 1501 touchline of its instrument when ``tick`` has another code)."""
    kind = BINARY_MALFORMED_KINDS[n % len(BINARY_MALFORMED_KINDS)]
    if tick.message_code not in (MessageCode.TOUCHLINE, MessageCode.DEPTH):
        tick = Tick(tick.exchange_segment, tick.instrument_id, MessageCode.TOUCHLINE, ltp=tick.ltp)
    wire = binary_tick(tick, nan_total_value_traded=False)
    return kind, encode_event([corrupt_packet(kind, wire, layout="A" if layout == "A" else "B")])
