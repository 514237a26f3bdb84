"""Ticks in the platform's shapes, and the ZeroMQ topic they are published under.

Shapes (OpenAlgo's, ``docs/openalgo.md`` §3); every payload also
carries ``symbol``, ``exchange``, ``mode`` (1/2/3) and ``timestamp`` (publication time, epoch
milliseconds)::

    LTP    {ltp, ltt, ltq}
    QUOTE  {ltp, ltt, volume, open, high, low, close, last_quantity, average_price,
            total_buy_quantity, total_sell_quantity}
    DEPTH  {ltp, ltt, volume, open, high, low, close, oi, upper_circuit, lower_circuit,
            depth: {buy: [{price, quantity, orders}] * 5, sell: [...] * 5}}

``ltt`` is the last traded time in epoch milliseconds (the message's last update time when it
carries no trade time, as XTS 1512 does). A field the message did not carry is ``null``, never
a made-up 0 (a zero OHLC draws a false bar). The depth ladders are padded to five levels with
zero levels, as the platform expects a fixed-size book.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from jainam_fsm.integrations.base import DEPTH_LEVELS, Mode
from jainam_fsm.xts.ticks import DepthLevel, Tick

__all__ = ["normalize_tick", "topic_for"]


def topic_for(exchange: str, symbol: str, mode: Mode) -> str:
    """``EXCHANGE_SYMBOL_MODE``, e.g. ``NSE_RELIANCE_LTP`` or ``NSE_INDEX_NIFTY_QUOTE``."""
    return f"{exchange}_{symbol}_{mode.label}"


def _ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


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
    ltt = _ms(tick.last_traded_time or tick.last_update_time or tick.exchange_time)
    data: dict[str, Any]
    if mode is Mode.LTP:
        data = {"ltp": tick.ltp, "ltt": ltt, "ltq": tick.ltq}
    elif mode is Mode.QUOTE:
        data = {
            "ltp": tick.ltp,
            "ltt": ltt,
            "volume": tick.volume,
            "open": tick.open,
            "high": tick.high,
            "low": tick.low,
            "close": tick.close,
            "last_quantity": tick.ltq,
            "average_price": tick.average_price,
            "total_buy_quantity": tick.total_buy_quantity,
            "total_sell_quantity": tick.total_sell_quantity,
        }
    else:
        bids = tick.bids or ((tick.bid,) if tick.bid is not None else ())
        asks = tick.asks or ((tick.ask,) if tick.ask is not None else ())
        data = {
            "ltp": tick.ltp,
            "ltt": ltt,
            "volume": tick.volume,
            "open": tick.open,
            "high": tick.high,
            "low": tick.low,
            "close": tick.close,
            "oi": tick.open_interest,
            # XTS 1502 carries no circuit limits; null rather than a fake number.
            "upper_circuit": None,
            "lower_circuit": None,
            "depth": {"buy": _levels(bids), "sell": _levels(asks)},
        }
    data["symbol"] = symbol
    data["exchange"] = exchange
    data["mode"] = int(mode)
    data["timestamp"] = int(time.time() * 1000) if now_ms is None else now_ms
    return data
