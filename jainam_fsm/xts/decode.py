"""Decoding of XTS Socket.IO market-data payloads into :class:`~jainam_fsm.xts.ticks.Tick`.

One :class:`XtsDecoder` per connection. ``decode(event, data)`` never raises: bad input yields
``None``, is counted in :attr:`XtsDecoder.stats` by kind and logged once per kind (WARNING on the
``jainam_fsm.xts`` logger, payload sample cut to 200 characters).

Protocol decisions and their sources (sections of ``docs/xts-protocol.md``):

* Payloads arrive as **strings**: JSON text on ``<code>-json-full``, a flat ``k:v,k:v`` string
  on ``<code>-json-partial`` (§6). ``bytes`` are decoded as UTF-8; an already-parsed ``dict`` is
  accepted on full events. Anything else is ``not_a_string``.
* 1501 touchline comes **flat or nested** under ``Touchline`` (§7); both map to the same fields.
  The quantity key is read as ``LastTradedQunatity`` (sic, the real servers) or
  ``LastTradedQuantity`` (UTA docs). ``ExchangeSegment``/``ExchangeInstrumentID`` may be JSON
  numbers or digit strings (§7, RMDOC/JAVA).
* 1502 depth: ``Bids``/``Asks`` (up to 5 levels, best first) + ``Touchline``. ``bid``/``ask`` come
  from ``Touchline.BidInfo/AskInfo``; when those are absent, from ``bids[0]``/``asks[0]``.
* 1504 index: ``IndexValue`` -> ``ltp``, ``OpeningIndex/HighIndexValue/LowIndexValue/
  ClosingIndex`` -> OHLC (JAVA ``MarketDataResponseIndex``). Partial 1504 keyed by index *name*
  (``t:1_NIFTY 50``) cannot be keyed by instrument id: counted ``ignored_index_name``, no tick.
* 1505 candle: ``BarTime`` is 1970-based, ``BarVolume``, OHLC, ``OpenInterest``,
  ``SumOfQtyInToPrice`` -> ``sum_qty_price``.
* 1507 market status -> :class:`MarketStatus`; the segment is read from ``exchangeSegment``
  (lower case, sic) falling back to ``ExchangeSegment``; market type from ``maketType`` (sic),
  ``marketType`` or ``XMarketType``.
* 1510 open interest: ``OpenInterest``, ``ExchangeTimeStamp``, ``XTSMarketType``.
* 1512 LTP: ``LastTradedPrice``, quantity, ``LastUpdateTime``, optional ``PercentChange``/``Close``.
* 1105 instrument-property changes are not market data: counted as ``ignored_code`` (not an
  error) without looking at the payload (the real ones contain NUL characters).
* Partial format (§7 "Partial"): ``t:<seg>_<id>`` then ``key:value`` pairs split at the first
  ``:``. Keys per code: 1501/1502/1512 ``ltp ltq tb ts v ap ltt lut pc o h l c vp bt mt bi ai``
  (``bt``/``mt`` = BookType/MarketType; ``vp`` is mapped to ``total_value_traded``
  [inference: no source defines it]); 1505 ``o h l c bt bv pv`` (``bt`` = BarTime here);
  1510 ``o`` = OpenInterest; 1504 ``ltp lut pc o h l c``. Unknown keys are ignored (forward
  compatibility). ``bi``/``ai`` are ``|``-joined groups of ``Index|Size|Price|TotalOrders``
  (NODE ``constructPartialMarketDepthObject``; TRADX's variant is flagged incomplete by its
  author and not followed). An **empty value means unchanged** (NODE, for ``bi``/``ai``; applied
  to every key here).
* Partial merge: the first partial packet is complete, later ones carry only changed fields (§6,
  UTA). The decoder keeps the last record per ``(segment, instrument, code)`` and returns
  complete ticks. ``reset()`` forgets this on reconnect; :meth:`XtsDecoder.decode_snapshot`
  seeds it from a ``listQuotes``/quotes entry. At most ``max_instruments`` keys are remembered
  (oldest evicted) so garbage ids cannot grow memory without bound.
* ``MessageCode`` in a full body must match the event's code, else ``code_mismatch``.
* Numbers: JSON numbers or numeric strings; booleans and non-finite values are ``bad_number``.
  JSON is parsed strictly (orjson): ``NaN``/``Infinity`` literals, numbers beyond a double's
  range and lone surrogates make the payload ``invalid_json``. Quantities must be integral.
  Times: see :mod:`.timeconv`.

Bad-input kinds (keys of :attr:`XtsDecoder.stats`, plus ``decoded``): ``unknown_event``,
``unknown_code``, ``not_a_string``, ``bad_encoding``, ``oversize``, ``nul_character``,
``invalid_json``, ``not_an_object``, ``code_mismatch``, ``missing_id``, ``bad_id``,
``bad_number``, ``bad_value``, ``bad_depth``, ``malformed_partial``, ``unsupported_partial``,
``internal_error``; not errors (see :data:`IGNORED_KINDS`): ``ignored_code``,
``ignored_index_name``.
"""

from __future__ import annotations

import logging
import reprlib
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

import orjson

from jainam_fsm.xts.codes import EPOCH_1980_SEGMENTS, BroadcastMode, parse_event_name
from jainam_fsm.xts.ticks import (
    TICK_DEFAULTS,
    TICK_FIELDS,
    DepthLevel,
    MarketStatus,
    Tick,
    _make_level,
    _make_tick_args,
)
from jainam_fsm.xts.timeconv import EPOCH_1980_OFFSET, cached_time_from_wire, wire_time_cache

__all__ = [
    "DEFAULT_MAX_INSTRUMENTS",
    "DEFAULT_MAX_PAYLOAD",
    "IGNORED_KINDS",
    "XtsDecoder",
]

log = logging.getLogger("jainam_fsm.xts")

#: Default largest accepted payload, in characters (a real 1502 is about 1.5 KB).
DEFAULT_MAX_PAYLOAD: Final = 64 * 1024
#: Default number of ``(segment, instrument, code)`` partial states kept.
DEFAULT_MAX_INSTRUMENTS: Final = 10_000
#: Stats kinds that are counted but are not errors.
IGNORED_KINDS: Final = frozenset({"ignored_code", "ignored_index_name"})

_SAMPLE_CHARS = 200
_MAX_LEVELS = 5
_MAX_ID = (1 << 63) - 1

# A tick being decoded is a list of its field values in TICK_FIELDS order, built into the Tick
# positionally at the end (ticks._make_tick_args); partial-mode state keeps these lists. A list
# copy, index stores and a positional build cost about 0.45 us less per tick than the same on
# a dict keyed by field name (docs/performance.md).
_DEFAULT_VALUES: Final = list(TICK_DEFAULTS.values())
_field = TICK_FIELDS.index


def _indexed(*pairs: tuple[str, str]) -> tuple[tuple[str, int], ...]:
    """``(wire key, Tick field name)`` pairs as ``(wire key, field index)``."""
    return tuple((wire, _field(name)) for wire, name in pairs)


_I_ASK = _field("ask")
_I_ASKS = _field("asks")
_I_BAR_TIME = _field("bar_time")
_I_BAR_VOLUME = _field("bar_volume")
_I_BID = _field("bid")
_I_BIDS = _field("bids")
_I_CLOSE = _field("close")
_I_EXCHANGE_SEGMENT = _field("exchange_segment")
_I_EXCHANGE_TIME = _field("exchange_time")
_I_HIGH = _field("high")
_I_INSTRUMENT_ID = _field("instrument_id")
_I_LAST_UPDATE_TIME = _field("last_update_time")
_I_LOW = _field("low")
_I_LTP = _field("ltp")
_I_LTQ = _field("ltq")
_I_MARKET_TYPE = _field("market_type")
_I_MESSAGE_CODE = _field("message_code")
_I_OPEN = _field("open")
_I_OPEN_INTEREST = _field("open_interest")
_I_PERCENT_CHANGE = _field("percent_change")
_I_SEQUENCE_NUMBER = _field("sequence_number")
_I_SUM_QTY_PRICE = _field("sum_qty_price")

Decoded = Tick | MarketStatus


class _Reject(Exception):
    """Internal: the payload is bad; ``kind`` names why."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


# orjson: strict JSON (no NaN/Infinity literals) and about twice as fast as json.loads on
# tick payloads; this is the hot path.
_json_decode: Callable[[str], Any] = orjson.loads

# ---------------------------------------------------------------------------------------------
# Value converters. Each takes the raw JSON value (or partial-format text) and returns the
# typed value or None, raising _Reject on garbage. The fast path (the right JSON type) comes first.


def _price(v: Any) -> float | None:
    t = type(v)
    if t is float:
        if v - v == 0.0:  # false for inf and nan
            return v  # type: ignore[no-any-return]
        raise _Reject("bad_number")
    if t is int:
        try:
            return float(v)
        except OverflowError:
            raise _Reject("bad_number") from None
    if v is None:
        return None
    if t is str:
        return _price_text(v)
    raise _Reject("bad_number")


def _price_text(v: str) -> float | None:
    if not v:
        return None
    if len(v) > 40:
        raise _Reject("bad_number")
    try:
        f = float(v)
    except ValueError:
        raise _Reject("bad_number") from None
    if f - f != 0.0:
        raise _Reject("bad_number")
    return f


def _qty(v: Any) -> int | None:
    t = type(v)
    if t is int:
        return v  # type: ignore[no-any-return]
    if v is None:
        return None
    if t is float:
        if v.is_integer():
            return int(v)
        raise _Reject("bad_number")
    if t is str:
        return _qty_text(v)
    raise _Reject("bad_number")


def _qty_text(v: str) -> int | None:
    if not v:
        return None
    if len(v) > 40:
        raise _Reject("bad_number")
    try:
        return int(v)
    except ValueError:
        pass
    f = _price_text(v)
    if f is None or not f.is_integer():
        raise _Reject("bad_number")
    return int(f)


def _ident(v: Any, *, positive: bool) -> int:
    t = type(v)
    if t is int:
        n: int = v
    elif v is None:
        raise _Reject("missing_id")
    elif t is str:
        if not (0 < len(v) <= 20 and v.isascii() and v.isdigit()):
            raise _Reject("bad_id" if v else "missing_id")
        n = int(v)
    elif t is float and v.is_integer():
        n = int(v)
    else:
        raise _Reject("bad_id")
    if n < 0 or n > _MAX_ID or (positive and n == 0):
        raise _Reject("bad_id")
    return n


# Wire-time -> datetime. Ticks repeat the same second many times, so the shared memo of
# timeconv turns ~0.7 us of datetime arithmetic into one dict lookup. ``offset`` is 0 or
# EPOCH_1980_OFFSET.
_TIMES_1970 = wire_time_cache(0)
_TIMES_1980 = wire_time_cache(EPOCH_1980_OFFSET)


def _time(v: Any, offset: int) -> datetime | None:
    if type(v) is not int:
        if v is None:
            return None
        v = _qty(v)
        if v is None:
            return None
    memo = _TIMES_1980 if offset else _TIMES_1970
    try:
        return memo[v]
    except KeyError:
        pass
    try:
        return cached_time_from_wire(memo, v, offset)
    except ValueError:
        raise _Reject("bad_number") from None


def _level(x: Any) -> DepthLevel:
    if type(x) is dict:
        try:  # fast path: the three keys present with the usual JSON types
            price = x["Price"]
            size = x["Size"]
            orders = x["TotalOrders"]
            if (
                type(price) is float
                and price - price == 0.0
                and type(size) is int
                and type(orders) is int
            ):
                return _make_level(price, size, orders)
        except KeyError:
            pass
        price = _price(x.get("Price"))
        size = _qty(x.get("Size"))
        orders = _qty(x.get("TotalOrders"))
        if price is not None and size is not None:
            return _make_level(price, size, 0 if orders is None else orders)
    raise _Reject("bad_depth")


def _info(x: Any) -> DepthLevel | None:
    if x is None:
        return None
    return _level(x)


def _levels(v: Any) -> tuple[DepthLevel, ...]:
    if v is None:
        return ()
    if type(v) is not list or len(v) > 4 * _MAX_LEVELS:
        raise _Reject("bad_depth")
    return tuple([_level(x) for x in v])


# ---------------------------------------------------------------------------------------------
# Full (JSON) payloads.


def _ids(obj: dict[str, Any]) -> tuple[int, int]:
    seg = obj.get("ExchangeSegment")
    iid = obj.get("ExchangeInstrumentID")
    if type(seg) is not int or type(iid) is not int or seg <= 0 or iid < 0:
        return _ident(seg, positive=True), _ident(iid, positive=False)
    if seg > _MAX_ID or iid > _MAX_ID:
        raise _Reject("bad_id")
    return seg, iid


# Wire key -> Tick field tables of the touchline family. "src" keys live in the ``Touchline``
# object when the payload is nested, else at the top level; "hdr" keys are always top level.
_TL_PRICES_1512 = _indexed(
    ("LastTradedPrice", "ltp"),
    ("PercentChange", "percent_change"),
    ("Close", "close"),
)
_TL_PRICES = _TL_PRICES_1512 + _indexed(
    ("Open", "open"),
    ("High", "high"),
    ("Low", "low"),
    ("AverageTradedPrice", "average_price"),
    ("TotalValueTraded", "total_value_traded"),
)
_TL_QTYS_1512 = _indexed()
_TL_QTYS = _indexed(
    ("TotalTradedQuantity", "volume"),
    ("TotalBuyQuantity", "total_buy_quantity"),
    ("TotalSellQuantity", "total_sell_quantity"),
)
_TL_TIMES_1512 = _indexed(("LastUpdateTime", "last_update_time"))
_TL_TIMES = _TL_TIMES_1512 + _indexed(("LastTradedTime", "last_traded_time"))
_HDR_QTYS = _indexed(
    ("BookType", "book_type"),
    ("XMarketType", "market_type"),
    ("SequenceNumber", "sequence_number"),
)


def _full_touchline(code: int, obj: dict[str, Any], d: list[Any], off: int) -> None:
    """1501, 1502 (touchline part) and 1512: nested ``Touchline`` or flat keys.

    Hot path: each value is checked inline for the expected JSON type and only handed to the
    general converter when it is something else (an int price, a string, garbage).
    """
    tl = obj.get("Touchline")
    src = tl if type(tl) is dict else obj
    g = src.get
    if code == 1512:
        prices, qtys, times = _TL_PRICES_1512, _TL_QTYS_1512, _TL_TIMES_1512
    else:
        prices, qtys, times = _TL_PRICES, _TL_QTYS, _TL_TIMES
    for wire, field in prices:
        v = g(wire)
        if type(v) is float:
            if v - v == 0.0:  # finite
                d[field] = v
                continue
        elif type(v) is int:
            d[field] = float(v)  # OverflowError is counted as bad_number by decode()
            continue
        d[field] = _price(v)
    for wire, field in qtys:
        v = g(wire)
        d[field] = v if type(v) is int else _qty(v)
    memo = _TIMES_1980 if off else _TIMES_1970
    for wire, field in times:
        v = g(wire)
        if type(v) is int:
            try:
                d[field] = memo[v]
                continue
            except KeyError:
                pass
        d[field] = _time(v, off)
    v = g("LastTradedQunatity")
    if v is None:
        v = g("LastTradedQuantity")
    d[_I_LTQ] = v if type(v) is int else _qty(v)
    gh = obj.get
    for wire, field in _HDR_QTYS:
        v = gh(wire)
        d[field] = v if type(v) is int else _qty(v)
    v = gh("ExchangeTimeStamp")
    if v is not None:
        d[_I_EXCHANGE_TIME] = _time(v, off)
    if code == 1512:
        return
    v = g("BidInfo")
    if v is not None:
        d[_I_BID] = _level(v)
    v = g("AskInfo")
    if v is not None:
        d[_I_ASK] = _level(v)
    if code == 1502:
        bids = d[_I_BIDS] = _levels(gh("Bids"))
        asks = d[_I_ASKS] = _levels(gh("Asks"))
        if d[_I_BID] is None and bids:
            d[_I_BID] = bids[0]
        if d[_I_ASK] is None and asks:
            d[_I_ASK] = asks[0]


def _full_index(obj: dict[str, Any], d: list[Any], off: int) -> None:
    g = obj.get
    d[_I_LTP] = _price(g("IndexValue"))
    d[_I_OPEN] = _price(g("OpeningIndex"))
    d[_I_HIGH] = _price(g("HighIndexValue"))
    d[_I_LOW] = _price(g("LowIndexValue"))
    d[_I_CLOSE] = _price(g("ClosingIndex"))
    d[_I_PERCENT_CHANGE] = _price(g("PercentChange"))
    d[_I_EXCHANGE_TIME] = _time(g("ExchangeTimeStamp"), off)
    d[_I_LAST_UPDATE_TIME] = _time(g("LastUpdateTime"), off)
    d[_I_SEQUENCE_NUMBER] = _qty(g("SequenceNumber"))


def _full_candle(obj: dict[str, Any], d: list[Any]) -> None:
    g = obj.get
    d[_I_BAR_TIME] = _time(g("BarTime"), 0)
    d[_I_BAR_VOLUME] = _qty(g("BarVolume"))
    d[_I_OPEN] = _price(g("Open"))
    d[_I_HIGH] = _price(g("High"))
    d[_I_LOW] = _price(g("Low"))
    d[_I_CLOSE] = _price(g("Close"))
    d[_I_OPEN_INTEREST] = _qty(g("OpenInterest"))
    d[_I_SUM_QTY_PRICE] = _price(g("SumOfQtyInToPrice"))


def _full_oi(obj: dict[str, Any], d: list[Any], off: int) -> None:
    g = obj.get
    d[_I_OPEN_INTEREST] = _qty(g("OpenInterest"))
    d[_I_EXCHANGE_TIME] = _time(g("ExchangeTimeStamp"), off)
    d[_I_MARKET_TYPE] = _qty(g("XTSMarketType"))


def _market_status(obj: dict[str, Any]) -> MarketStatus:
    g = obj.get
    raw_seg = g("exchangeSegment")
    seg = _ident(g("ExchangeSegment") if raw_seg is None else raw_seg, positive=True)
    mt = g("maketType")
    if mt is None:
        mt = g("marketType")
        if mt is None:
            mt = g("XMarketType")
    message = g("message")
    if message is not None:
        if type(message) is not str:
            raise _Reject("bad_value")
        if "\x00" in message:
            raise _Reject("nul_character")
    return MarketStatus(
        exchange_segment=seg,
        trading_session=_qty(g("tradingSession")),
        market_type=_qty(mt),
        message=message,
        exchange_time=_time(
            g("ExchangeTimeStamp"), EPOCH_1980_OFFSET if seg in EPOCH_1980_SEGMENTS else 0
        ),
        sequence_number=_qty(g("SequenceNumber")),
    )


# ---------------------------------------------------------------------------------------------
# Partial (flat string) payloads.

_PRICE, _QTY, _TIME_EX, _TIME_BAR = 0, 1, 2, 3

_TOUCH_KEYS: dict[str, tuple[int, int]] = {
    "ltp": (_field("ltp"), _PRICE),
    "ltq": (_field("ltq"), _QTY),
    "tb": (_field("total_buy_quantity"), _QTY),
    "ts": (_field("total_sell_quantity"), _QTY),
    "v": (_field("volume"), _QTY),
    "ap": (_field("average_price"), _PRICE),
    "ltt": (_field("last_traded_time"), _TIME_EX),
    "lut": (_field("last_update_time"), _TIME_EX),
    "pc": (_field("percent_change"), _PRICE),
    "o": (_field("open"), _PRICE),
    "h": (_field("high"), _PRICE),
    "l": (_field("low"), _PRICE),
    "c": (_field("close"), _PRICE),
    "vp": (_field("total_value_traded"), _PRICE),
    "bt": (_field("book_type"), _QTY),
    "mt": (_field("market_type"), _QTY),
}
_PARTIAL_KEYS: dict[int, dict[str, tuple[int, int]]] = {
    1501: _TOUCH_KEYS,
    1502: _TOUCH_KEYS,
    1512: _TOUCH_KEYS,
    1504: {k: _TOUCH_KEYS[k] for k in ("ltp", "lut", "pc", "o", "h", "l", "c")},
    1505: {
        "o": (_field("open"), _PRICE),
        "h": (_field("high"), _PRICE),
        "l": (_field("low"), _PRICE),
        "c": (_field("close"), _PRICE),
        "bt": (_field("bar_time"), _TIME_BAR),
        "bv": (_field("bar_volume"), _QTY),
        "pv": (_field("sum_qty_price"), _PRICE),
    },
    1510: {"o": (_field("open_interest"), _QTY)},
}

_ZERO_LEVEL = DepthLevel(0.0, 0, 0)


def _merge_levels(text: str, previous: tuple[DepthLevel, ...]) -> tuple[DepthLevel, ...]:
    """Apply ``Index|Size|Price|TotalOrders`` groups to ``previous`` levels."""
    parts = text.split("|")
    if len(parts) % 4 or len(parts) > 4 * _MAX_LEVELS:
        raise _Reject("bad_depth")
    levels = list(previous)
    for i in range(0, len(parts), 4):
        idx = _qty_text(parts[i])
        size = _qty_text(parts[i + 1])
        price = _price_text(parts[i + 2])
        orders = _qty_text(parts[i + 3])
        if idx is None or size is None or price is None or not 0 <= idx < _MAX_LEVELS:
            raise _Reject("bad_depth")
        while len(levels) <= idx:
            levels.append(_ZERO_LEVEL)
        levels[idx] = _make_level(price, size, 0 if orders is None else orders)
    return tuple(levels)


def _split_partial(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for item in text.split(","):
        if not item:
            continue
        key, sep, value = item.partition(":")
        if not sep:
            raise _Reject("malformed_partial")
        fields[key] = value
    return fields


# ---------------------------------------------------------------------------------------------


class XtsDecoder:
    """Stateful decoder for one socket connection. Not thread-safe: use it from one thread.

    ``decode(event, data)`` returns a :class:`Tick`, a :class:`MarketStatus` or ``None`` and
    never raises. ``stats`` counts decoded records and every kind of dropped input.
    """

    def __init__(
        self,
        *,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        max_instruments: int = DEFAULT_MAX_INSTRUMENTS,
        logger: logging.Logger | None = None,
    ) -> None:
        if max_payload <= 0 or max_instruments <= 0:
            raise ValueError("max_payload and max_instruments must be positive")
        self.max_payload = max_payload
        self.max_instruments = max_instruments
        self._log = logger if logger is not None else log
        self._decoded = 0
        self._counts: dict[str, int] = {}
        self._logged: set[str] = set()
        self._state: dict[tuple[int, int, int], list[Any]] = {}
        self._events: dict[object, tuple[int, BroadcastMode] | None] = {}

    # -- public API ---------------------------------------------------------------------------

    @property
    def stats(self) -> Mapping[str, int]:
        """Snapshot: ``{"decoded": n, "<kind>": count, ...}`` (only kinds seen so far)."""
        out = {"decoded": self._decoded}
        out.update(self._counts)
        return out

    @property
    def errors(self) -> int:
        """Total dropped inputs, excluding the harmless :data:`IGNORED_KINDS`."""
        return sum(n for k, n in self._counts.items() if k not in IGNORED_KINDS)

    def reset(self) -> None:
        """Forget partial-mode state (call on every reconnect). Counters are kept."""
        self._state.clear()

    def decode(self, event: str, data: object) -> Tick | MarketStatus | None:
        """Decode one Socket.IO data event. Never raises; ``None`` means "no tick"."""
        try:
            try:
                spec = self._events.get(event)
            except TypeError:  # unhashable "event"
                spec = None
            if spec is None:
                spec = self._event_spec(event)
                if spec is None:
                    return None
            code, mode = spec
            if code == 1105:
                self._count("ignored_code", event, None)
                return None
            if type(data) is str and 0 < len(data) <= self.max_payload and "\x00" not in data:
                payload: Any = data  # the usual case, checked inline
            else:
                payload = self._payload(event, data, mode)
            if mode is BroadcastMode.FULL:
                result = self._decode_full(code, payload)
            else:
                result = self._decode_partial(code, payload)
        except _Reject as bad:
            self._count(bad.kind, event, data)
            return None
        except OverflowError:  # an integer too large for a float
            self._count("bad_number", event, data)
            return None
        except Exception:
            self._count("internal_error", event, data, exc_info=True)
            return None
        if result is not None:
            self._decoded += 1
        return result

    def decode_snapshot(self, data: object, code: int | None = None) -> Tick | MarketStatus | None:
        """Decode one full-shape snapshot (a ``listQuotes`` entry of subscribe or quotes).

        The code comes from ``code`` or the body's ``MessageCode``. The result also seeds
        partial-mode merging, so deltas that follow a reconnect apply to it. Never raises.
        """
        event = "listQuotes"
        try:
            obj = self._payload(event, data, BroadcastMode.FULL)
            if type(obj) is str:
                obj = self._loads(obj)
            if type(obj) is not dict:
                raise _Reject("not_an_object")
            if code is None:
                code = _ident(obj.get("MessageCode"), positive=True)
            if code == 1105:
                self._count("ignored_code", event, None)
                return None
            if code not in _KNOWN_FULL:
                raise _Reject("unknown_code")
            result = self._decode_full(code, obj)
            if isinstance(result, Tick):
                values = [getattr(result, name) for name in TICK_FIELDS]
                self._remember((result.exchange_segment, result.instrument_id, code), values)
        except _Reject as bad:
            self._count(bad.kind, event, data)
            return None
        except OverflowError:
            self._count("bad_number", event, data)
            return None
        except Exception:
            self._count("internal_error", event, data, exc_info=True)
            return None
        if result is not None:
            self._decoded += 1
        return result

    # -- internals ----------------------------------------------------------------------------

    def _event_spec(self, event: object) -> tuple[int, BroadcastMode] | None:
        spec = parse_event_name(event)
        if spec is None:
            self._count("unknown_event", event, None)
            return None
        if spec[0] not in _KNOWN_FULL and spec[0] != 1105:
            self._count("unknown_code", event, None)
            return None
        if len(self._events) < 64:  # cache only real events; garbage names are not remembered
            self._events[event] = spec
        return spec

    def _payload(self, event: object, data: object, mode: BroadcastMode) -> Any:
        """Return the payload text (or an already-parsed dict), checked for size and NULs."""
        if type(data) is str:
            text = data
        elif isinstance(data, bytes | bytearray | memoryview):
            if len(data) > self.max_payload:
                raise _Reject("oversize")
            try:
                text = bytes(data).decode("utf-8")
            except UnicodeDecodeError:
                raise _Reject("bad_encoding") from None
        elif isinstance(data, str):
            text = str(data)
        elif isinstance(data, dict) and mode is BroadcastMode.FULL:
            return data
        else:
            raise _Reject("not_a_string")
        if len(text) > self.max_payload:
            raise _Reject("oversize")
        if "\x00" in text:
            raise _Reject("nul_character")
        if not text:
            raise _Reject("invalid_json" if mode is BroadcastMode.FULL else "malformed_partial")
        return text

    @staticmethod
    def _loads(text: str) -> Any:
        try:
            return _json_decode(text)
        except (ValueError, RecursionError):
            raise _Reject("invalid_json") from None

    def _decode_full(self, code: int, payload: Any) -> Tick | MarketStatus | None:
        obj = self._loads(payload) if type(payload) is str else payload
        if type(obj) is not dict:
            raise _Reject("not_an_object")
        body_code = obj.get("MessageCode")
        if body_code is not None and body_code != code and str(body_code) != str(code):
            raise _Reject("code_mismatch")
        if code == 1507:
            return _market_status(obj)
        seg, iid = _ids(obj)
        d = _DEFAULT_VALUES.copy()
        d[_I_EXCHANGE_SEGMENT] = seg
        d[_I_INSTRUMENT_ID] = iid
        d[_I_MESSAGE_CODE] = code
        off = EPOCH_1980_OFFSET if seg in EPOCH_1980_SEGMENTS else 0
        if code in {1501, 1502, 1512}:
            _full_touchline(code, obj, d, off)
        elif code == 1505:
            _full_candle(obj, d)
        elif code == 1510:
            _full_oi(obj, d, off)
        else:  # 1504
            _full_index(obj, d, off)
        return _make_tick_args(*d)

    def _decode_partial(self, code: int, text: str) -> Tick | None:
        keys = _PARTIAL_KEYS.get(code)
        if keys is None:
            raise _Reject("unsupported_partial")
        fields = _split_partial(text)
        t = fields.pop("t", None)
        if t is None:
            raise _Reject("missing_id")
        seg_text, sep, id_text = t.partition("_")
        if not sep:
            raise _Reject("bad_id")
        seg = _ident(seg_text, positive=True)
        if code == 1504 and not (id_text.isascii() and id_text.isdigit()):
            raise _Reject("ignored_index_name")
        iid = _ident(id_text, positive=False)
        key = (seg, iid, code)
        previous = self._state.get(key)
        if previous is None:
            d = _DEFAULT_VALUES.copy()
            d[_I_EXCHANGE_SEGMENT] = seg
            d[_I_INSTRUMENT_ID] = iid
            d[_I_MESSAGE_CODE] = code
        else:
            d = previous.copy()
        off = EPOCH_1980_OFFSET if seg in EPOCH_1980_SEGMENTS else 0
        for name, value in fields.items():
            if not value:
                continue  # empty value: unchanged
            spec = keys.get(name)
            if spec is None:
                if name in {"bi", "ai"} and code in {1501, 1502}:
                    self._partial_depth(code, name, value, d)
                continue  # unknown key: ignored
            field, kind = spec
            if kind == _PRICE:
                d[field] = _price_text(value)
            elif kind == _QTY:
                d[field] = _qty_text(value)
            elif kind == _TIME_EX:
                d[field] = _time(_qty_text(value), off)
            else:
                d[field] = _time(_qty_text(value), 0)
        self._remember(key, d)
        return _make_tick_args(*d)

    @staticmethod
    def _partial_depth(code: int, name: str, value: str, d: list[Any]) -> None:
        best, ladder = (_I_BID, _I_BIDS) if name == "bi" else (_I_ASK, _I_ASKS)
        if code == 1502:
            levels = _merge_levels(value, d[ladder])
            d[ladder] = levels
            d[best] = levels[0] if levels else None
        else:
            prev = d[best]
            levels = _merge_levels(value, () if prev is None else (prev,))
            d[best] = levels[0]

    def _remember(self, key: tuple[int, int, int], d: list[Any]) -> None:
        state = self._state
        if key not in state and len(state) >= self.max_instruments:
            del state[next(iter(state))]  # evict the oldest key
        state[key] = d

    def _count(self, kind: str, event: object, data: object, *, exc_info: bool = False) -> None:
        self._counts[kind] = self._counts.get(kind, 0) + 1
        if kind in self._logged:
            return
        self._logged.add(kind)
        level = logging.DEBUG if kind in IGNORED_KINDS else logging.WARNING
        self._log.log(
            level,
            "xts decoder dropped input (%s) on event %s: %s; later ones of this kind are only "
            "counted in stats",
            kind,
            _sample(event),
            _sample(data),
            exc_info=exc_info,
        )


_KNOWN_FULL: Final = frozenset({1501, 1502, 1504, 1505, 1507, 1510, 1512})

_repr = reprlib.Repr()
_repr.maxstring = _SAMPLE_CHARS
_repr.maxother = _SAMPLE_CHARS


def _sample(value: object) -> str:
    """A short, safe description of a payload for the log: never more than ~200 characters."""
    try:
        if isinstance(value, str | bytes | bytearray):
            head = repr(value[:_SAMPLE_CHARS])
            more = f"... ({len(value)} chars)" if len(value) > _SAMPLE_CHARS else ""
            return head + more
        if value is None:
            return "-"
        return f"<{type(value).__name__}> {_repr.repr(value)[:_SAMPLE_CHARS]}"
    except Exception:
        return f"<{type(value).__name__}>"
