"""Pure XTS market-data codec: codes, typed tick records, decoding and encoding. No I/O."""

from __future__ import annotations

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
from jainam_fsm.xts.ticks import DepthLevel, MarketStatus, Tick

__all__ = [
    "EPOCH_1980_SEGMENTS",
    "BroadcastMode",
    "DepthLevel",
    "ExchangeSegment",
    "MarketStatus",
    "MessageCode",
    "Tick",
    "event_name",
    "is_known_code",
    "parse_event_name",
    "uses_1980_epoch",
]
