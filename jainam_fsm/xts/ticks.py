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

Performance decision: the records are frozen dataclasses **with** ``slots`` (and a weak
reference slot, so ``weakref.ref(tick)`` keeps working). The decoders run on the tick hot path
and build records through :data:`_make_tick_args` / :func:`_make_tick` / :data:`_make_level`:
a private subclass whose ``__setattr__`` is the ordinary one, whose generated ``__init__`` stores
the fields positionally (specialised slot stores) and then re-labels the object as the public
class (``__class__`` assignment; the layouts are identical). The 29 fields cost about 0.3 us that
way against about 1.3 us for the previous path (a prepared ``__dict__``) and 2.5 us for the
frozen generated ``__init__``; a :class:`DepthLevel` 0.17 us (``docs/performance.md``,
binary decode). Behaviour is the frozen dataclass's:
immutability (``FrozenInstanceError``), equality, hashing, ``dataclasses.replace``, pickling,
copying and repr are the generated ones; ``vars(record)`` still works and returns a new dict of
the fields (a read-only view in effect: the record has no instance ``__dict__``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, FrozenInstanceError, dataclass, fields
from datetime import datetime
from typing import Any, cast

__all__ = ["TICK_FIELDS", "DepthLevel", "MarketStatus", "Tick"]


class _Record:
    """Base of the slotted records: keeps ``vars(record)`` working (a new dict of the fields)."""

    __slots__ = ()
    __dataclass_fields__: dict[str, Any]

    @property
    def __dict__(self) -> dict[str, Any]:  # type: ignore[override]
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True, weakref_slot=True)
class DepthLevel(_Record):
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


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Tick(_Record):
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
    #: ``EXCHANGE:SYMBOL`` (``NSE:RELIANCE``) when the adapter knows the instrument's name
    #: (subscribed by name, or found in the instrument master); ``None`` otherwise. Last, and
    #: defaulted in the fast builder, so decoders that pass the other fields stay unchanged.
    symbol: str | None = None

    @property
    def instrument(self) -> tuple[int, int]:
        """``(exchange_segment, instrument_id)``, the key used by the subscription registry."""
        return (self.exchange_segment, self.instrument_id)

    def to_dict(self) -> dict[str, object]:
        """A JSON-serialisable dict: times as ISO-8601 strings, depth levels as dicts.

        ``None`` fields and empty ``bids``/``asks`` are omitted.
        """
        out: dict[str, object] = {}
        for name in TICK_FIELDS:
            value = getattr(self, name)
            if value is None or value == ():
                continue
            out[name] = _jsonable(value)
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


def _complete(cls: type[Any]) -> None:
    """Give the slotted frozen dataclass ``cls`` what the frozen dataclass without slots had.

    * ``__setattr__``/``__delattr__`` raising ``FrozenInstanceError`` for any name: CPython
      3.11's ``slots=True`` versions refer to the class as it was before ``slots`` rebuilt it,
      so assigning an unknown attribute raised ``TypeError`` (from ``super()``).
    * ``__setstate__`` also accepting a dict: pickles made before the records had slots carry
      their ``__dict__`` as state, which the generated ``__setstate__`` would read as a
      sequence of values (and silently store the field names).
    """
    names = frozenset(f.name for f in fields(cls))
    setstate = cls.__setstate__
    # Fields added later (Tick.symbol) take their default when an older pickle lacks them.
    defaults = {f.name: f.default for f in fields(cls) if f.default is not MISSING}

    def frozen_setattr(self: Any, name: str, value: Any) -> None:
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    def frozen_delattr(self: Any, name: str) -> None:
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)

    def any_setstate(self: Any, state: Any) -> None:
        for name, value in defaults.items():
            object.__setattr__(self, name, value)
        if isinstance(state, dict):
            for name, value in state.items():
                object.__setattr__(self, name, value)
        else:
            setstate(self, state)

    for attr, method in (
        ("__setattr__", frozen_setattr),
        ("__delattr__", frozen_delattr),
        ("__setstate__", any_setstate),
    ):
        method.__name__ = attr
        method.__qualname__ = f"{cls.__qualname__}.{attr}"
        setattr(cls, attr, method)


_complete(DepthLevel)
_complete(Tick)

#: Every :class:`Tick` field with its default, in declaration order.
TICK_DEFAULTS: dict[str, Any] = {
    f.name: 0 if f.default is MISSING else f.default for f in fields(Tick)
}
TICK_FIELDS: tuple[str, ...] = tuple(TICK_DEFAULTS)


#: Fields the fast builders default (they must be the last fields): the symbol is stamped
#: after decoding, by the adapter (:func:`_stamp_symbol`).
_BUILDER_DEFAULTS: dict[str, object] = {"symbol": None}


def _builder(cls: type[Any]) -> type[Any]:
    """A private subclass of the slotted frozen dataclass ``cls`` that builds instances fast.

    Its ``__init__`` takes every field positionally, stores them with the ordinary slot stores
    (its ``__setattr__``/``__delattr__`` are ``object``'s, so the interpreter specialises them)
    and then assigns ``__class__ = cls``: the subclass adds no storage, so the layouts are the
    same and CPython allows it. The result is an ordinary ``cls`` instance. Generated from the
    dataclass fields (as ``dataclasses`` generates ``__init__``) so it cannot drift from them.
    """
    names = [f.name for f in fields(cls)]
    # Trailing fields listed in _BUILDER_DEFAULTS may be left out (decoders never set them).
    params = [f"{n}={_BUILDER_DEFAULTS[n]!r}" if n in _BUILDER_DEFAULTS else n for n in names]
    lines = [f"def __init__(self, {', '.join(params)}):"]
    lines += [f"    self.{name} = {name}" for name in names]
    lines.append("    self.__class__ = cls")
    namespace: dict[str, Any] = {"cls": cls}
    exec("\n".join(lines), namespace)  # noqa: S102 - generated from the field names only
    return type(
        f"_{cls.__name__}Builder",
        (cls,),
        {
            "__slots__": (),
            "__init__": namespace["__init__"],
            "__setattr__": object.__setattr__,
            "__delattr__": object.__delattr__,
            "__module__": cls.__module__,
        },
    )


#: ``_make_tick_args(*values)``: a :class:`Tick` from its field values in declaration order
#: (:data:`TICK_FIELDS`; the trailing ``symbol`` may be left out). No validation: decoders only.
_make_tick_args: Callable[..., Tick] = cast("Callable[..., Tick]", _builder(Tick))

#: ``_make_level(price, size, orders)``: a :class:`DepthLevel`. No validation: decoders only.
_make_level: Callable[[float, int, int], DepthLevel] = cast(
    "Callable[[float, int, int], DepthLevel]", _builder(DepthLevel)
)


#: ``_stamp_symbol(tick, "NSE:RELIANCE")``: set the symbol of a tick nobody has seen yet (the
#: slot's own store: no copy, about as cheap as an attribute store). Adapter only, before
#: delivery: a delivered tick is immutable.
_stamp_symbol: Callable[[Tick, str | None], None] = cast(
    "Callable[[Tick, str | None], None]", vars(Tick)["symbol"].__set__
)


def _make_tick(values: dict[str, Any]) -> Tick:
    """A :class:`Tick` from a dict holding exactly the keys of :data:`TICK_DEFAULTS` **in that
    order** (start from ``TICK_DEFAULTS.copy()`` or ``vars(tick)`` and only assign). No
    validation: decoders only."""
    return _make_tick_args(*values.values())
