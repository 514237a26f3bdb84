"""The fields of XTS JSON market-data payloads, for :class:`~jainam_fsm.xts.decode.XtsDecoder`.

Value converters (JSON values and partial-format text to typed values, :class:`_Reject` on
garbage), the full-payload mappers per message code, and the partial format's key tables and
depth merge. Every mapper writes into a tick being decoded: a list of field values in
:data:`~jainam_fsm.xts.ticks.TICK_FIELDS` order. The protocol decisions these follow, and their
sources, are listed in :mod:`jainam_fsm.xts.decode`.

Hot path: the decoder imports these names as its own module globals, so a call costs what it
cost when both lived in one module.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from jainam_fsm.xts.codes import EPOCH_1980_SEGMENTS
from jainam_fsm.xts.ticks import TICK_DEFAULTS, TICK_FIELDS, DepthLevel, MarketStatus, _make_level
from jainam_fsm.xts.timeconv import EPOCH_1980_OFFSET, cached_time_from_wire, wire_time_cache

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


class _Reject(Exception):
    """Internal: the payload is bad; ``kind`` names why."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


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
