"""Pure XTS market-data codec: codes, typed tick records, decoding and encoding. No I/O.

* :mod:`.codes` -- exchange segments, message codes, broadcast modes, event names.
* :mod:`.ticks` -- the normalized records :class:`Tick`, :class:`DepthLevel`, :class:`MarketStatus`.
* :mod:`.timeconv` -- wire seconds (1980/1970 epochs, India wall clock) <-> aware datetimes.
* :mod:`.decode` -- :class:`XtsDecoder`, one per connection; never raises on bad input.
* :mod:`.encode` -- back to the wire formats, for the simulator.
* :mod:`.binary` -- :class:`BinaryDecoder` for the binary API's ``xts-binary-packet`` events.
* :mod:`.binary_encode` -- ticks as binary packets, for the simulator and tests.

Each module's docstring records the protocol decisions taken and the section of
``docs/xts-protocol.md`` behind them.
"""

from __future__ import annotations

from jainam_fsm.xts.binary import BINARY_IGNORED_KINDS, BinaryDecoder
from jainam_fsm.xts.codes import (
    EPOCH_1980_SEGMENTS,
    BroadcastMode,
    ExchangeSegment,
    MessageCode,
    event_name,
    is_known_code,
    parse_event_name,
    uses_1980_epoch,
)
from jainam_fsm.xts.decode import (
    DEFAULT_MAX_INSTRUMENTS,
    DEFAULT_MAX_PAYLOAD,
    IGNORED_KINDS,
    XtsDecoder,
)
from jainam_fsm.xts.encode import (
    FULL_FIELDS,
    PARTIAL_FIELDS,
    encode_full,
    encode_listquote,
    encode_partial,
)
from jainam_fsm.xts.ticks import TICK_FIELDS, DepthLevel, MarketStatus, Tick
from jainam_fsm.xts.timeconv import (
    IST,
    bar_time_from_wire,
    bar_time_to_wire,
    time_from_wire,
    time_to_wire,
)

__all__ = [
    "BINARY_IGNORED_KINDS",
    "DEFAULT_MAX_INSTRUMENTS",
    "DEFAULT_MAX_PAYLOAD",
    "EPOCH_1980_SEGMENTS",
    "FULL_FIELDS",
    "IGNORED_KINDS",
    "IST",
    "PARTIAL_FIELDS",
    "TICK_FIELDS",
    "BinaryDecoder",
    "BroadcastMode",
    "DepthLevel",
    "ExchangeSegment",
    "MarketStatus",
    "MessageCode",
    "Tick",
    "XtsDecoder",
    "bar_time_from_wire",
    "bar_time_to_wire",
    "encode_full",
    "encode_listquote",
    "encode_partial",
    "event_name",
    "is_known_code",
    "parse_event_name",
    "time_from_wire",
    "time_to_wire",
    "uses_1980_epoch",
]
