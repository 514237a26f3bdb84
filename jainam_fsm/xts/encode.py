"""Encoding of typed records back to the XTS wire formats (used by the simulator).

``decode(encode(t)) == t`` holds for every record whose set fields are among those the chosen
format carries for its code (:data:`FULL_FIELDS`, :data:`PARTIAL_FIELDS`) and whose times are
whole seconds after the epoch. Encoders are not on a receive loop: they raise ``ValueError``
on a record they cannot express (unknown code, naive datetime, non-finite number).

Wire shapes follow the real captures (``docs/xts-protocol.md`` §7 and
``tests/data/xts-captured-payloads.jsonl``):

* Full 1501 uses the nested ``Touchline`` shape by default (``flat=True`` gives the flat one),
  with the real misspelling ``LastTradedQunatity``, ``TotalValueTraded: null`` when unknown and
  the constant header fields ``MessageVersion`` (4; 1505: 1; 1510: 0, as captured),
  ``ApplicationType: 0, TokenID: 0``.
  Depth levels carry ``BuyBackMarketMaker: 0``. Compact separators, like the server.
* Integral prices are written as JSON integers (``"Open":627``), as the server does.
* Full 1510 writes ``ExchangeTimeStamp: 0`` when the time is unknown (as in the capture).
* Full 1507 repeats the segment as ``exchangeSegment`` and spells ``maketType`` (sic).
* Partial: ``t:<seg>_<id>`` then ``key:value`` in the order of the TRADX sample (§7)
  (``ltp,ltq,tb,ts,v,ap,ltt,lut,pc,o,h,l,c,vp,ai,bi,bt,mt``). With ``previous`` only changed
  fields are written; ``bi``/``ai`` then carry only the changed levels. A field cannot be
  cleared or a depth ladder shortened in partial mode (the format has no way to say so), so
  such changes are simply not sent.
* A ``listQuotes`` entry is the same JSON text as the full socket payload (§4).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from jainam_fsm.xts.ticks import DepthLevel, MarketStatus, Tick
from jainam_fsm.xts.timeconv import bar_time_to_wire, time_to_wire

__all__ = [
    "FULL_FIELDS",
    "PARTIAL_FIELDS",
    "encode_full",
    "encode_listquote",
    "encode_partial",
]

_IDS = frozenset({"exchange_segment", "instrument_id", "message_code"})
_TOUCH_COMMON = frozenset(
    {
        "ltp",
        "ltq",
        "last_update_time",
        "percent_change",
        "close",
        "exchange_time",
        "book_type",
        "market_type",
        "sequence_number",
    }
)
_TOUCH_1501 = _TOUCH_COMMON | {
    "last_traded_time",
    "open",
    "high",
    "low",
    "volume",
    "average_price",
    "total_buy_quantity",
    "total_sell_quantity",
    "total_value_traded",
    "bid",
    "ask",
}

#: Tick fields (besides the three ids) that the full JSON payload of each code carries.
FULL_FIELDS: Final[Mapping[int, frozenset[str]]] = {
    1501: _TOUCH_1501,
    1502: _TOUCH_1501 | {"bids", "asks"},
    1504: frozenset(
        {
            "ltp",
            "open",
            "high",
            "low",
            "close",
            "percent_change",
            "exchange_time",
            "last_update_time",
            "sequence_number",
        }
    ),
    1505: frozenset(
        {"bar_time", "bar_volume", "open", "high", "low", "close", "open_interest", "sum_qty_price"}
    ),
    1510: frozenset({"open_interest", "exchange_time", "market_type"}),
    1512: _TOUCH_COMMON,
}

# Partial keys in wire order: (key, field, kind). kind: p price, q quantity, t exchange time,
# b bar time.
_P_TOUCH: tuple[tuple[str, str, str], ...] = (
    ("ltp", "ltp", "p"),
    ("ltq", "ltq", "q"),
    ("tb", "total_buy_quantity", "q"),
    ("ts", "total_sell_quantity", "q"),
    ("v", "volume", "q"),
    ("ap", "average_price", "p"),
    ("ltt", "last_traded_time", "t"),
    ("lut", "last_update_time", "t"),
    ("pc", "percent_change", "p"),
    ("o", "open", "p"),
    ("h", "high", "p"),
    ("l", "low", "p"),
    ("c", "close", "p"),
    ("vp", "total_value_traded", "p"),
)
_P_BOOK: tuple[tuple[str, str, str], ...] = (("bt", "book_type", "q"), ("mt", "market_type", "q"))
_PARTIAL_LAYOUT: dict[
    int, tuple[tuple[tuple[str, str, str], ...], tuple[tuple[str, str, str], ...]]
]
_PARTIAL_LAYOUT = {
    # code: (keys before the depth groups, keys after them)
    1501: (_P_TOUCH, _P_BOOK),
    1502: (_P_TOUCH, _P_BOOK),
    1512: (
        (
            ("ltp", "ltp", "p"),
            ("ltq", "ltq", "q"),
            ("lut", "last_update_time", "t"),
            ("pc", "percent_change", "p"),
            ("c", "close", "p"),
        ),
        _P_BOOK,
    ),
    1504: (
        (
            ("ltp", "ltp", "p"),
            ("lut", "last_update_time", "t"),
            ("pc", "percent_change", "p"),
            ("o", "open", "p"),
            ("h", "high", "p"),
            ("l", "low", "p"),
            ("c", "close", "p"),
        ),
        (),
    ),
    1505: (
        (
            ("o", "open", "p"),
            ("h", "high", "p"),
            ("l", "low", "p"),
            ("c", "close", "p"),
            ("bt", "bar_time", "b"),
            ("bv", "bar_volume", "q"),
            ("pv", "sum_qty_price", "p"),
        ),
        (),
    ),
    1510: ((("o", "open_interest", "q"),), ()),
}

#: Tick fields (besides the ids) that the partial payload of each code carries. For 1502,
#: ``bid``/``ask`` are not sent: the decoder derives them from ``bids[0]``/``asks[0]``.
PARTIAL_FIELDS: Final[Mapping[int, frozenset[str]]] = {
    code: frozenset(f for _, f, _ in before + after)
    | ({"bid", "ask"} if code == 1501 else set())
    | ({"bids", "asks"} if code == 1502 else set())
    for code, (before, after) in _PARTIAL_LAYOUT.items()
}


def _num(value: float) -> float | int:
    """Integral prices go out as JSON integers, like the real server writes them."""
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _text(value: float) -> str:
    n = _num(value)
    return str(n) if isinstance(n, int) else repr(n)


def _info(level: DepthLevel) -> dict[str, Any]:
    return {
        "Size": level.size,
        "Price": _num(level.price),
        "TotalOrders": level.orders,
        "BuyBackMarketMaker": 0,
    }


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        out[key] = _num(value) if isinstance(value, float) else value


# MessageVersion per code as seen in the captures (1505: 1, 1510: 0, the rest: 4).
_MESSAGE_VERSION = {1505: 1, 1510: 0}


def _header(tick: Tick, *, full_header: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"MessageCode": tick.message_code}
    if full_header:
        version = _MESSAGE_VERSION.get(tick.message_code, 4)
        out.update(MessageVersion=version, ApplicationType=0, TokenID=0)
    out["ExchangeSegment"] = tick.exchange_segment
    out["ExchangeInstrumentID"] = tick.instrument_id
    return out


def _wire_time(when: datetime | None, segment: int) -> int | None:
    return None if when is None else time_to_wire(when, segment)


def _touchline_fields(tick: Tick) -> dict[str, Any]:
    seg = tick.exchange_segment
    out: dict[str, Any] = {}
    if tick.bid is not None:
        out["BidInfo"] = _info(tick.bid)
    if tick.ask is not None:
        out["AskInfo"] = _info(tick.ask)
    _put(out, "LastTradedPrice", tick.ltp)
    _put(out, "LastTradedQunatity", tick.ltq)
    _put(out, "TotalBuyQuantity", tick.total_buy_quantity)
    _put(out, "TotalSellQuantity", tick.total_sell_quantity)
    _put(out, "TotalTradedQuantity", tick.volume)
    _put(out, "AverageTradedPrice", tick.average_price)
    _put(out, "LastTradedTime", _wire_time(tick.last_traded_time, seg))
    _put(out, "LastUpdateTime", _wire_time(tick.last_update_time, seg))
    _put(out, "PercentChange", tick.percent_change)
    _put(out, "Open", tick.open)
    _put(out, "High", tick.high)
    _put(out, "Low", tick.low)
    _put(out, "Close", tick.close)
    out["TotalValueTraded"] = (
        None if tick.total_value_traded is None else _num(tick.total_value_traded)
    )
    return out


def _full_dict(tick: Tick, flat: bool) -> dict[str, Any]:
    code = tick.message_code
    seg = tick.exchange_segment
    if code in (1501, 1502) and not flat:
        out = _header(tick)
        _put(out, "ExchangeTimeStamp", _wire_time(tick.exchange_time, seg))
        if code == 1502:
            out["Bids"] = [_info(level) for level in tick.bids]
            out["Asks"] = [_info(level) for level in tick.asks]
        touch = _touchline_fields(tick)
        touch.update(BuyBackTotalBuy=0, BuyBackTotalSell=0)
        out["Touchline"] = touch
        out["BookType"] = tick.book_type
        out["XMarketType"] = tick.market_type
        _put(out, "SequenceNumber", tick.sequence_number)
        return {k: v for k, v in out.items() if v is not None or k == "TotalValueTraded"}
    if code in (1501, 1502):  # flat shape
        out = _header(tick, full_header=False)
        out.update(_touchline_fields(tick))
        if code == 1502:
            out["Bids"] = [_info(level) for level in tick.bids]
            out["Asks"] = [_info(level) for level in tick.asks]
        _put(out, "ExchangeTimeStamp", _wire_time(tick.exchange_time, seg))
        _put(out, "XMarketType", tick.market_type)
        _put(out, "BookType", tick.book_type)
        _put(out, "SequenceNumber", tick.sequence_number)
        return out
    out = _header(tick)
    if code == 1512:
        _put(out, "ExchangeTimeStamp", _wire_time(tick.exchange_time, seg))
        _put(out, "BookType", tick.book_type)
        _put(out, "XMarketType", tick.market_type)
        _put(out, "LastTradedPrice", tick.ltp)
        _put(out, "LastTradedQunatity", tick.ltq)
        _put(out, "LastUpdateTime", _wire_time(tick.last_update_time, seg))
        _put(out, "PercentChange", tick.percent_change)
        _put(out, "Close", tick.close)
        _put(out, "SequenceNumber", tick.sequence_number)
    elif code == 1505:
        _put(out, "BarTime", None if tick.bar_time is None else bar_time_to_wire(tick.bar_time))
        _put(out, "BarVolume", tick.bar_volume)
        _put(out, "High", tick.high)
        _put(out, "Low", tick.low)
        _put(out, "Open", tick.open)
        _put(out, "Close", tick.close)
        _put(out, "OpenInterest", tick.open_interest)
        _put(out, "SumOfQtyInToPrice", tick.sum_qty_price)
    elif code == 1510:
        out["ExchangeTimeStamp"] = _wire_time(tick.exchange_time, seg) or 0
        _put(out, "XTSMarketType", tick.market_type)
        _put(out, "OpenInterest", tick.open_interest)
    elif code == 1504:
        _put(out, "ExchangeTimeStamp", _wire_time(tick.exchange_time, seg))
        _put(out, "IndexValue", tick.ltp)
        _put(out, "OpeningIndex", tick.open)
        _put(out, "ClosingIndex", tick.close)
        _put(out, "HighIndexValue", tick.high)
        _put(out, "LowIndexValue", tick.low)
        _put(out, "PercentChange", tick.percent_change)
        _put(out, "LastUpdateTime", _wire_time(tick.last_update_time, seg))
        _put(out, "SequenceNumber", tick.sequence_number)
    else:
        raise ValueError(f"cannot encode a tick with message code {code}")
    return out


def _status_dict(status: MarketStatus) -> dict[str, Any]:
    seg = status.exchange_segment
    out: dict[str, Any] = {
        "MessageCode": 1507,
        "MessageVersion": 4,
        "ApplicationType": 0,
        "TokenID": 0,
        "ExchangeSegment": seg,
        "ExchangeInstrumentID": 0,
    }
    _put(out, "ExchangeTimeStamp", _wire_time(status.exchange_time, seg))
    out["exchangeSegment"] = seg
    _put(out, "tradingSession", status.trading_session)
    _put(out, "maketType", status.market_type)
    _put(out, "message", status.message)
    _put(out, "SequenceNumber", status.sequence_number)
    return out


def encode_full(record: Tick | MarketStatus, *, flat: bool = False) -> str:
    """The ``<code>-json-full`` payload text for ``record``.

    1501 uses the nested ``Touchline`` shape unless ``flat`` is true (1502 too, though real
    servers only send it nested). Raises ``ValueError`` for a code it cannot express.
    """
    obj = _status_dict(record) if isinstance(record, MarketStatus) else _full_dict(record, flat)
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def encode_listquote(record: Tick | MarketStatus) -> str:
    """One ``listQuotes`` entry of a subscribe/quotes response: the full JSON text, nested
    shape (the REST response carries it as a string inside the JSON envelope)."""
    return encode_full(record)


def _group(index: int, level: DepthLevel) -> str:
    return f"{index}|{level.size}|{_text(level.price)}|{level.orders}"


def _groups(levels: tuple[DepthLevel, ...], previous: tuple[DepthLevel, ...] | None) -> str:
    return "|".join(
        _group(i, level)
        for i, level in enumerate(levels)
        if previous is None or i >= len(previous) or previous[i] != level
    )


def _value_text(kind: str, value: Any, segment: int) -> str:
    if kind == "p":
        if value - value != 0.0:
            raise ValueError("non-finite number")
        return _text(float(value))
    if kind == "q":
        return str(int(value))
    if kind == "t":
        return str(time_to_wire(value, segment))
    return str(bar_time_to_wire(value))


def encode_partial(tick: Tick, previous: Tick | None = None) -> str:
    """The ``<code>-json-partial`` payload text for ``tick``.

    Without ``previous`` every set field is written (the first packet after subscribing).
    With ``previous`` (the last tick sent for the same instrument and code) only the fields
    that changed are written; ``t:`` is always present. Raises ``ValueError`` for a code that
    has no partial form (1507) or an inconsistent ``previous``.
    """
    code = tick.message_code
    layout = _PARTIAL_LAYOUT.get(code)
    if layout is None:
        raise ValueError(f"message code {code} has no partial form")
    if previous is not None and (
        previous.message_code != code or previous.instrument != tick.instrument
    ):
        raise ValueError("previous tick is for another instrument or message code")
    seg = tick.exchange_segment
    parts = [f"t:{seg}_{tick.instrument_id}"]
    before, after = layout

    def emit(keys: tuple[tuple[str, str, str], ...]) -> None:
        for key, field, kind in keys:
            value = getattr(tick, field)
            if value is None:
                continue
            if previous is not None and getattr(previous, field) == value:
                continue
            parts.append(f"{key}:{_value_text(kind, value, seg)}")

    emit(before)
    if code == 1501:
        for key, field in (("ai", "ask"), ("bi", "bid")):
            level = getattr(tick, field)
            if level is not None and (previous is None or getattr(previous, field) != level):
                parts.append(f"{key}:{_group(0, level)}")
    elif code == 1502:
        for key, field in (("ai", "asks"), ("bi", "bids")):
            groups = _groups(
                getattr(tick, field), None if previous is None else getattr(previous, field)
            )
            if groups:
                parts.append(f"{key}:{groups}")
    emit(after)
    return ",".join(parts)
