"""Normalized, typed records produced by the XTS decoder.

One :class:`Tick` type covers every instrument message (1501 touchline, 1502 depth, 1504 index,
1505 candle, 1510 open interest, 1512 LTP); fields a message does not carry stay ``None``
(or ``()`` for the depth ladders). 1507 market-status messages become :class:`MarketStatus`.

Field sources (wire names, ``docs/xts-protocol.md`` §7):

| field | full JSON | partial key |
|---|---|---|
| ``ltp`` | ``LastTradedPrice`` (1504: ``IndexValue``) | ``ltp`` |
| ``ltq`` | ``LastTradedQunatity`` or ``LastTradedQuantity`` | ``ltq`` |
| ``last_traded_time`` | ``LastTradedTime`` | ``ltt`` |
| ``last_update_time`` | ``LastUpdateTime`` | ``lut`` |
| ``exchange_time`` | ``ExchangeTimeStamp`` | -- |
| ``open`` ... ``close`` | ``Open``, ``High``, ``Low``, ``Close`` | ``o h l c`` |
| ``volume`` | ``TotalTradedQuantity`` | ``v`` |
| ``average_price`` | ``AverageTradedPrice`` | ``ap`` |
| ``total_buy_quantity`` | ``TotalBuyQuantity`` | ``tb`` |
| ``total_sell_quantity`` | ``TotalSellQuantity`` | ``ts`` |
| ``total_value_traded`` | ``TotalValueTraded`` | ``vp`` |
| ``percent_change`` | ``PercentChange`` | ``pc`` |
| ``bid``, ``ask`` | ``BidInfo``, ``AskInfo`` (in ``Touchline``) | ``bi``, ``ai`` (1501) |
| ``bids``, ``asks`` | ``Bids``, ``Asks`` (1502) | ``bi``, ``ai`` (1502) |
| ``open_interest`` | ``OpenInterest`` (1510, 1505) | ``o`` (1510) |
| ``bar_time``, ``bar_volume`` | ``BarTime``, ``BarVolume`` (1505) | ``bt``, ``bv`` (1505) |
| ``sum_qty_price`` | ``SumOfQtyInToPrice`` (1505) | ``pv`` (1505) |
| ``book_type``, ``market_type`` | ``BookType``, ``X(TS)MarketType`` | ``bt mt`` (1501, 1512) |
| ``sequence_number`` | ``SequenceNumber`` | -- |

All datetimes are timezone-aware in India time (``Asia/Kolkata``); see :mod:`.timeconv`.

Performance decision: the records are frozen dataclasses **without** ``slots``. The decoder runs
on the tick hot path and builds records through :func:`_make_tick` / :func:`_make_level`, which
install a prepared ``__dict__`` in one step (about 0.4 us) instead of the ~29 frozen
``object.__setattr__`` calls of the generated ``__init__`` (about 4 us on the reference machine,
a third of the cost of the ``json.loads`` itself). Behaviour (immutability, equality, hashing,
``dataclasses.replace``) is unchanged.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from datetime import datetime
from typing import Any

__all__ = ["TICK_FIELDS", "DepthLevel", "MarketStatus", "Tick"]


@dataclass(frozen=True)
class DepthLevel:
    """One price level of the order book (``BidInfo``/``AskInfo``/``Bids[i]``/``Asks[i]``)."""

    price: float
    size: int
    orders: int

    def to_dict(self) -> dict[str, object]:
        """``{"price": ..., "size": ..., "orders": ...}``."""
        return {"price": self.price, "size": self.size, "orders": self.orders}


def _jsonable(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, DepthLevel):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


@dataclass(frozen=True)
class Tick:
    """A normalized market-data update for one instrument.

    Only the three ids are always present. Prices are ``float``, quantities ``int``, times aware
    ``datetime`` in India time. For 1502 depth, ``bids``/``asks`` hold up to five levels best
    first and ``bid``/``ask`` the touchline's best level.
    """

    exchange_segment: int
    instrument_id: int
    message_code: int
    ltp: float | None = None
    ltq: int | None = None
    last_traded_time: datetime | None = None
    last_update_time: datetime | None = None
    exchange_time: datetime | None = None
    open: float | None = None
    high: float | None = None
    low: float | None = None
    close: float | None = None
    volume: int | None = None
    average_price: float | None = None
    total_buy_quantity: int | None = None
    total_sell_quantity: int | None = None
    total_value_traded: float | None = None
    percent_change: float | None = None
    bid: DepthLevel | None = None
    ask: DepthLevel | None = None
    bids: tuple[DepthLevel, ...] = ()
    asks: tuple[DepthLevel, ...] = ()
    open_interest: int | None = None
    bar_time: datetime | None = None
    bar_volume: int | None = None
    sum_qty_price: float | None = None
    book_type: int | None = None
    market_type: int | None = None
    sequence_number: int | None = None

    @property
    def instrument(self) -> tuple[int, int]:
        """``(exchange_segment, instrument_id)``, the key used by the subscription registry."""
        return (self.exchange_segment, self.instrument_id)

    def to_dict(self) -> dict[str, object]:
        """A JSON-serialisable dict: times as ISO-8601 strings, depth levels as dicts.

        ``None`` fields and empty ``bids``/``asks`` are omitted.
        """
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or value == ():
                continue
            out[f.name] = _jsonable(value)
        return out


@dataclass(frozen=True)
class MarketStatus:
    """A 1507 market-status message (session open/close announcements)."""

    exchange_segment: int
    trading_session: int | None = None
    market_type: int | None = None
    message: str | None = None
    exchange_time: datetime | None = None
    sequence_number: int | None = None
    message_code: int = 1507

    def to_dict(self) -> dict[str, object]:
        """A JSON-serialisable dict, ``None`` fields omitted, times as ISO strings."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = _jsonable(value)
        return out


#: Every :class:`Tick` field with its default, in declaration order.
TICK_DEFAULTS: dict[str, Any] = {
    f.name: 0 if f.default is MISSING else f.default for f in fields(Tick)
}
TICK_FIELDS: tuple[str, ...] = tuple(TICK_DEFAULTS)

_new = object.__new__
_setattr = object.__setattr__


def _make_tick(values: dict[str, Any]) -> Tick:
    """Build a :class:`Tick` that takes ownership of ``values``, a dict holding exactly the keys
    of :data:`TICK_DEFAULTS` (start from ``TICK_DEFAULTS.copy()``). No validation: decoder only."""
    tick = _new(Tick)
    _setattr(tick, "__dict__", values)
    return tick


def _make_level(price: float, size: int, orders: int) -> DepthLevel:
    """Build a :class:`DepthLevel` without the frozen ``__init__`` overhead. Decoder only."""
    level = _new(DepthLevel)
    _setattr(level, "__dict__", {"price": price, "size": size, "orders": orders})
    return level
