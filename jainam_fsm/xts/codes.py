"""XTS numeric codes: exchange segments, message codes, broadcast modes and event names.

Protocol decisions (sources are sections of ``docs/xts-protocol.md``):

* Exchange segments are the ``clientConfig`` list (§4, source XAC): NSECM 1, NSEFO 2,
  NSECD 3, NSECO 4, SLBM 5, NIFSC 7, BSECM 11, BSEFO 12, BSECD 13, BSECO 14, NCDEX 21,
  MSECM 41, MSEFO 42, MSECD 43, MCXFO 51.
* Message codes (§4, §6, ``xtsMessageCode``): 1501 touchline, 1502 5-level depth, 1504
  index, 1505 candle, 1507 market status, 1510 open interest, 1512 LTP, 1105 instrument
  property change.
* Socket.IO data events are named ``<code>-json-<mode>`` in lower case (§6, source CS),
  e.g. ``1501-json-full`` / ``1501-json-partial``. Only the JSON publish format is handled here;
  ``*-binary-*`` events are not part of this codec.
* Times of the NSE cash, F&O and currency segments (NSECM, NSEFO, NSECD) count seconds from
  1980-01-01; every other segment counts from 1970-01-01 (§7 "Timestamps", sources
  NODE/XAC/TRADX). ``BarTime`` of 1505 candles is always 1970-based. See :mod:`.timeconv`.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

__all__ = [
    "EPOCH_1980_SEGMENTS",
    "BroadcastMode",
    "ExchangeSegment",
    "MessageCode",
    "event_name",
    "is_known_code",
    "parse_event_name",
    "uses_1980_epoch",
]


class ExchangeSegment(IntEnum):
    """Numeric exchange-segment codes used in subscriptions and payloads."""

    NSECM = 1
    NSEFO = 2
    NSECD = 3
    NSECO = 4
    SLBM = 5
    NIFSC = 7
    BSECM = 11
    BSEFO = 12
    BSECD = 13
    BSECO = 14
    NCDEX = 21
    MSECM = 41
    MSEFO = 42
    MSECD = 43
    MCXFO = 51


class MessageCode(IntEnum):
    """XTS market-data message codes (``xtsMessageCode``)."""

    INSTRUMENT_PROPERTY = 1105
    TOUCHLINE = 1501
    DEPTH = 1502
    INDEX = 1504
    CANDLE = 1505
    MARKET_STATUS = 1507
    OPEN_INTEREST = 1510
    LTP = 1512


class BroadcastMode(StrEnum):
    """The ``broadcastMode`` query parameter of the socket URL."""

    FULL = "Full"
    PARTIAL = "Partial"


#: Segments whose exchange times count seconds from 1980-01-01
#: (``docs/xts-protocol.md`` §7 "Timestamps").
EPOCH_1980_SEGMENTS: frozenset[int] = frozenset(
    {ExchangeSegment.NSECM, ExchangeSegment.NSEFO, ExchangeSegment.NSECD}
)


def uses_1980_epoch(segment: int) -> bool:
    """True when ``segment`` sends exchange times as seconds since 1980-01-01."""
    return segment in EPOCH_1980_SEGMENTS


_KNOWN_CODES: frozenset[int] = frozenset(int(c) for c in MessageCode)

# Precomputed event names: event_name() and parse_event_name() run once per tick.
_EVENT_NAMES: dict[tuple[int, BroadcastMode], str] = {
    (int(c), m): f"{int(c)}-json-{m.value.lower()}" for c in MessageCode for m in BroadcastMode
}
_PARSED_EVENTS: dict[str, tuple[int, BroadcastMode]] = {v: k for k, v in _EVENT_NAMES.items()}


def event_name(code: int, mode: BroadcastMode) -> str:
    """The Socket.IO event carrying ``code`` in ``mode``, e.g. ``event_name(1501, FULL)``
    is ``"1501-json-full"``. Works for any integer code, known or not."""
    name = _EVENT_NAMES.get((code, mode))
    if name is None:
        name = f"{int(code)}-json-{BroadcastMode(mode).value.lower()}"
    return name


def parse_event_name(name: object) -> tuple[int, BroadcastMode] | None:
    """Split ``"<code>-json-<full|partial>"`` into ``(code, mode)``.

    Returns ``None`` for anything else (binary events, lifecycle events, garbage). The code may
    be one not listed in :class:`MessageCode`; the caller decides whether it knows it.
    Matching is case-insensitive, as some clients upper-case the mode.
    """
    if type(name) is not str:
        return None
    hit = _PARSED_EVENTS.get(name)
    if hit is not None:
        return hit
    if len(name) > 40:
        return None
    parts = name.lower().split("-")
    if len(parts) != 3 or parts[1] != "json":
        return None
    code_text = parts[0]
    if not (code_text.isascii() and code_text.isdigit()) or len(code_text) > 9:
        return None
    if parts[2] == "full":
        mode = BroadcastMode.FULL
    elif parts[2] == "partial":
        mode = BroadcastMode.PARTIAL
    else:
        return None
    return int(code_text), mode


def is_known_code(code: int) -> bool:
    """True when ``code`` is one of :class:`MessageCode`."""
    return code in _KNOWN_CODES
