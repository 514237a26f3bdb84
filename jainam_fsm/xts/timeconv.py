"""Conversion between XTS wire times (integer seconds) and aware datetimes.

Decisions (``docs/xts-protocol.md`` §7 "Timestamps"):

* ``LastTradedTime``, ``LastUpdateTime`` and ``ExchangeTimeStamp`` of NSECM/NSEFO/NSECD count
  seconds from **1980-01-01**; other segments count from 1970-01-01 (sources NODE, XAC, TRADX).
* ``BarTime`` (1505 candles, partial key ``bt``) is 1970-based for every segment.
* The counts are **India wall-clock time, not UTC** ([inference], consistent with the captured
  payloads: ``LastTradedTime`` 1420632949 on NSECM is 2025-01-06 12:15:49 in India, and
  ``BarTime`` 1736164979 is 12:02:59 India time). So ``wire = seconds between the epoch's
  midnight and the event, both read on an Indian wall clock``. We apply the same reading to the
  1970-based segments (BSE, MCX...) for consistency; no capture of those exists [inference].
* India has had no daylight saving since 1945, so a fixed ``+05:30`` offset (named ``IST``) is
  exact for every representable time; it avoids a dependency on the system tz database.
* ``0`` (and ``None``) means "not set" and decodes to ``None`` (the 1510 capture sends
  ``ExchangeTimeStamp: 0``). Negative or absurdly large counts are invalid.
* Wire times are whole seconds; encoding truncates any microseconds.

Decoding speed: the decoders memoise decoded times per epoch (:func:`wire_time_cache`), since
consecutive ticks repeat the same few seconds; a hit is one dict lookup instead of about 0.7 us
of ``datetime`` arithmetic, and every tick that carries the same second shares one (immutable)
``datetime`` object.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from jainam_fsm.xts.codes import EPOCH_1980_SEGMENTS

__all__ = [
    "EPOCH_1980_OFFSET",
    "IST",
    "MAX_WIRE_SECONDS",
    "TIME_CACHE_MAX",
    "bar_time_from_wire",
    "bar_time_to_wire",
    "cached_time_from_wire",
    "time_from_wire",
    "time_to_wire",
    "wire_offset",
    "wire_time_cache",
]

#: India Standard Time, UTC+05:30.
IST = timezone(timedelta(hours=5, minutes=30), "IST")

#: Seconds between 1970-01-01 and 1980-01-01 (calendar days, no leap seconds).
EPOCH_1980_OFFSET = 315_532_800

#: Largest accepted wire count (year ~2100 on either epoch); larger values are bad input.
MAX_WIRE_SECONDS = 4_102_444_800

_EPOCH_1970_IST = datetime(1970, 1, 1, tzinfo=IST)
_SECOND = timedelta(seconds=1)


def wire_offset(segment: int) -> int:
    """Seconds to add to a wire count of ``segment`` to count from 1970 instead."""
    return EPOCH_1980_OFFSET if segment in EPOCH_1980_SEGMENTS else 0


def _from_1970(seconds: int) -> datetime:
    return _EPOCH_1970_IST + timedelta(seconds=seconds)


def time_from_wire(value: int, segment: int) -> datetime | None:
    """Decode an exchange time (``LastTradedTime``...) of ``segment``; ``0`` gives ``None``.

    Raises ``ValueError`` for a negative or out-of-range count.
    """
    if value == 0:
        return None
    if not 0 < value <= MAX_WIRE_SECONDS:
        raise ValueError("wire time out of range")
    return _from_1970(value + wire_offset(segment))


def bar_time_from_wire(value: int) -> datetime | None:
    """Decode a 1970-based ``BarTime``; ``0`` gives ``None``."""
    if value == 0:
        return None
    if not 0 < value <= MAX_WIRE_SECONDS:
        raise ValueError("wire time out of range")
    return _from_1970(value)


#: Entries per memo; a full memo is emptied (a day has 22,500 trading seconds, most ticks carry
#: the last few).
TIME_CACHE_MAX = 4096
_CACHES: dict[int, dict[int, datetime | None]] = {}


def wire_time_cache(offset: int) -> dict[int, datetime | None]:
    """The process-wide memo ``wire count -> datetime`` for the epoch ``offset``
    (:func:`wire_offset`; ``0`` for 1970-based counts and ``BarTime``).

    ``0`` maps to ``None``. Read it with ``memo[value]`` and on ``KeyError`` call
    :func:`cached_time_from_wire`, which fills it (the hot path's cheapest form). Safe to share
    between threads: the worst a race does is compute a value twice.
    """
    memo = _CACHES.get(offset)
    if memo is None:
        memo = _CACHES.setdefault(offset, {0: None})
    return memo


def cached_time_from_wire(
    memo: dict[int, datetime | None], value: int, offset: int
) -> datetime | None:
    """Decode the wire count ``value`` counted from ``offset`` and remember it in ``memo``
    (from :func:`wire_time_cache` with the same ``offset``). ``0`` gives ``None``; a negative or
    out-of-range count raises ``ValueError`` and is not remembered."""
    if not 0 < value <= MAX_WIRE_SECONDS:
        if value == 0:
            return None
        raise ValueError("wire time out of range")
    if len(memo) >= TIME_CACHE_MAX:
        memo.clear()
        memo[0] = None
    when = memo[value] = _from_1970(value + offset)
    return when


def _to_1970(when: datetime) -> int:
    if when.tzinfo is None:
        raise ValueError("naive datetime: XTS times must be timezone-aware")
    return (when - _EPOCH_1970_IST) // _SECOND


def time_to_wire(when: datetime, segment: int) -> int:
    """Encode an aware datetime as the wire count of ``segment`` (whole seconds)."""
    return _to_1970(when) - wire_offset(segment)


def bar_time_to_wire(when: datetime) -> int:
    """Encode an aware datetime as a 1970-based ``BarTime``."""
    return _to_1970(when)
