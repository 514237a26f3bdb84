"""Ticks in the platform's shapes, and the ZeroMQ topic they are published under.

Shapes (OpenAlgo's, ``docs/openalgo.md`` §3); every payload also
carries ``symbol``, ``exchange``, ``mode`` (1/2/3) and ``timestamp`` (publication time, epoch
milliseconds)::

    LTP    {ltp, ltt, ltq}
    QUOTE  {ltp, ltt, volume, open, high, low, close, last_quantity, average_price,
            total_buy_quantity, total_sell_quantity}
    DEPTH  {ltp, ltt, volume, open, high, low, close, oi, upper_circuit, lower_circuit,
            depth: {buy: [{price, quantity, orders}] * 5, sell: [...] * 5}}

``ltt`` is the last traded time as OpenAlgo's in-tree XTS adapters publish it: XTS's own
``LastTradedTime`` count, whole seconds on the segment's wire epoch (1980-01-01 on NSECM/NSEFO/
NSECD, 1970-01-01 elsewhere, India wall clock; ``docs/xts-protocol.md`` §7), falling back to the
last update time when the message carries no trade time (1512, 1504). ``timestamp`` is the
publication time in epoch milliseconds, as theirs.

Numbers consumers do arithmetic on are ``0`` when the message did not carry them, as OpenAlgo's
own adapters send (its consumers add, compare and chart them; a ``null`` breaks them). So a
``0`` means "unknown", never a traded zero: prices and quantities of real trades are positive.
``upper_circuit``/``lower_circuit`` are always 0 (XTS 1502 carries none). ``oi`` is the last
open interest seen (1510, or the 1502 depth message's own), 0 until one arrives. The depth
ladders are padded to five levels with zero levels, as the platform expects a fixed-size book.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from jainam_fsm.integrations.base import DEPTH_LEVELS, Mode
from jainam_fsm.xts.ticks import DepthLevel, Tick
from jainam_fsm.xts.timeconv import time_to_wire

__all__ = ["normalize_tick", "topic_for", "with_open_interest"]


def topic_for(exchange: str, symbol: str, mode: Mode) -> str:
    """``EXCHANGE_SYMBOL_MODE``, e.g. ``NSE_RELIANCE_LTP`` or ``NSE_INDEX_NIFTY_QUOTE``."""
    return f"{exchange}_{symbol}_{mode.label}"


def _wire(value: datetime | None, segment: int) -> int:
    return 0 if value is None else time_to_wire(value, segment)


def _n(value: int | None) -> int:
    return 0 if value is None else value


def _p(value: float | None) -> float:
    return 0.0 if value is None else value


def with_open_interest(payload: dict[str, Any], oi: int) -> dict[str, Any]:
    """A copy of ``payload`` with ``oi`` set and a fresh ``timestamp`` (a 1510 update)."""
    out = dict(payload)
    out["oi"] = oi
    out["timestamp"] = int(time.time() * 1000)
    return out


def _levels(levels: tuple[DepthLevel, ...]) -> list[dict[str, float | int]]:
    out: list[dict[str, float | int]] = [
        {"price": lv.price, "quantity": lv.size, "orders": lv.orders}
        for lv in levels[:DEPTH_LEVELS]
    ]
    while len(out) < DEPTH_LEVELS:
        out.append({"price": 0.0, "quantity": 0, "orders": 0})
    return out


def normalize_tick(
    tick: Tick, mode: Mode, symbol: str, exchange: str, *, now_ms: int | None = None
) -> dict[str, Any]:
    """The platform payload of ``tick`` for ``mode`` (see the module docstring)."""
    ltt = _wire(
        tick.last_traded_time or tick.last_update_time or tick.exchange_time,
        tick.exchange_segment,
    )
    data: dict[str, Any]
    if mode is Mode.LTP:
        data = {"ltp": _p(tick.ltp), "ltt": ltt, "ltq": _n(tick.ltq)}
    elif mode is Mode.QUOTE:
        data = {
            "ltp": _p(tick.ltp),
            "ltt": ltt,
            "volume": _n(tick.volume),
            "open": _p(tick.open),
            "high": _p(tick.high),
            "low": _p(tick.low),
            "close": _p(tick.close),
            "last_quantity": _n(tick.ltq),
            "average_price": _p(tick.average_price),
            "total_buy_quantity": _n(tick.total_buy_quantity),
            "total_sell_quantity": _n(tick.total_sell_quantity),
        }
    else:
        bids = tick.bids or ((tick.bid,) if tick.bid is not None else ())
        asks = tick.asks or ((tick.ask,) if tick.ask is not None else ())
        data = {
            "ltp": _p(tick.ltp),
            "ltt": ltt,
            "volume": _n(tick.volume),
            "open": _p(tick.open),
            "high": _p(tick.high),
            "low": _p(tick.low),
            "close": _p(tick.close),
            "oi": _n(tick.open_interest),
            # XTS 1502 carries no circuit limits.
            "upper_circuit": 0.0,
            "lower_circuit": 0.0,
            "depth": {"buy": _levels(bids), "sell": _levels(asks)},
        }
    data["symbol"] = symbol
    data["exchange"] = exchange
    data["mode"] = int(mode)
    data["timestamp"] = int(time.time() * 1000) if now_ms is None else now_ms
    return data
