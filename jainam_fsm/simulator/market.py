"""A seeded, deterministic price walk per instrument, turned into :class:`Tick` records.

The n-th state of an instrument depends only on ``(seed, segment, instrument id, n)``: two runs
with the same seed quote the same prices in the same order, whatever the timing. Only the
timestamps come from the wall clock.
"""

from __future__ import annotations

import functools
import random
from datetime import datetime

from jainam_fsm.xts.codes import MessageCode
from jainam_fsm.xts.ticks import DepthLevel, Tick
from jainam_fsm.xts.timeconv import IST

__all__ = ["IST", "STREAMED_CODES", "InstrumentWalk", "Market"]


#: Codes that carry a per-instrument stream. 1105 (property change) and 1507 (market status)
#: are accepted for subscription but have no periodic stream.
STREAMED_CODES: frozenset[int] = frozenset(
    {
        MessageCode.TOUCHLINE,
        MessageCode.DEPTH,
        MessageCode.INDEX,
        MessageCode.CANDLE,
        MessageCode.OPEN_INTEREST,
        MessageCode.LTP,
    }
)

_TICKS_PER_RUPEE = 20  # NSE tick size 0.05: prices are kept as integer ticks, never drift
_DEPTH_LEVELS = 5
_LOT_CHOICES = (1, 1, 2, 5, 10, 15, 25, 50, 75, 100)


@functools.lru_cache(maxsize=4)
def _wall_clock(second: int) -> datetime:
    # Every tick of a batch shares the second: build the datetime once, not per tick.
    return datetime.fromtimestamp(second, IST)


def _price(ticks: int) -> float:
    return ticks / _TICKS_PER_RUPEE


class InstrumentWalk:
    """The simulated order book of one instrument. ``step()`` advances it by one trade."""

    __slots__ = (
        "_rng",
        "ask_ticks",
        "bar_close",
        "bar_high",
        "bar_low",
        "bar_minute",
        "bar_open",
        "bar_sum_qty_price",
        "bar_volume",
        "bid_ticks",
        "close_ticks",
        "high_ticks",
        "instrument_id",
        "low_ticks",
        "ltp_ticks",
        "ltq",
        "now",
        "open_interest",
        "open_ticks",
        "segment",
        "sequence",
        "step_no",
        "total_buy",
        "total_sell",
        "turnover_ticks",
        "volume",
    )

    def __init__(self, seed: int, segment: int, instrument_id: int, now: float) -> None:
        self.segment = segment
        self.instrument_id = instrument_id
        # str seeds hash with SHA-512 inside random: stable across runs and processes.
        self._rng = random.Random(f"jainam-sim:{seed}:{segment}:{instrument_id}")  # noqa: S311
        rng = self._rng
        self.close_ticks = rng.randint(100 * _TICKS_PER_RUPEE, 3000 * _TICKS_PER_RUPEE)
        self.open_ticks = self.close_ticks + rng.randint(-40, 40)
        self.ltp_ticks = self.open_ticks
        self.high_ticks = self.open_ticks
        self.low_ticks = self.open_ticks
        self.ltq = 1
        self.volume = rng.randint(10_000, 2_000_000)
        self.turnover_ticks = self.volume * self.ltp_ticks
        self.total_buy = rng.randint(50_000, 500_000)
        self.total_sell = rng.randint(50_000, 500_000)
        self.open_interest = rng.randint(0, 5_000_000) if segment != 1 else 0
        self.bid_ticks = self.ltp_ticks - 1
        self.ask_ticks = self.ltp_ticks + 1
        self.sequence = rng.randint(10**15, 2 * 10**15)
        self.step_no = 0
        self.now = now
        self.bar_minute = int(now // 60)
        self.bar_open = self.bar_high = self.bar_low = self.bar_close = self.ltp_ticks
        self.bar_volume = 0
        self.bar_sum_qty_price = 0

    def step(self, now: float) -> None:
        """One trade: the price moves by -3..+3 ticks, volume and book follow."""
        rng = self._rng
        r = rng.random()
        move = int(r * 7) - 3
        ltp = max(1, self.ltp_ticks + move)
        qty = _LOT_CHOICES[int(rng.random() * len(_LOT_CHOICES))]
        self.step_no += 1
        self.sequence += 1
        self.now = now
        self.ltp_ticks = ltp
        self.ltq = qty
        self.volume += qty
        self.turnover_ticks += qty * ltp
        self.high_ticks = max(self.high_ticks, ltp)
        self.low_ticks = min(self.low_ticks, ltp)
        spread = 1 + (self.step_no % 3)
        self.bid_ticks = max(1, ltp - spread // 2 - 1)
        self.ask_ticks = ltp + (spread + 1) // 2
        if move > 0:
            self.total_buy += qty
        else:
            self.total_sell += qty
        if self.segment != 1:
            self.open_interest = max(0, self.open_interest + (move * qty))
        minute = int(now // 60)
        if minute != self.bar_minute:
            self.bar_minute = minute
            self.bar_open = self.bar_high = self.bar_low = ltp
            self.bar_volume = 0
            self.bar_sum_qty_price = 0
        self.bar_close = ltp
        self.bar_high = max(self.bar_high, ltp)
        self.bar_low = min(self.bar_low, ltp)
        self.bar_volume += qty
        self.bar_sum_qty_price += qty * ltp

    def _level(self, ticks: int, level: int, salt: int) -> DepthLevel:
        size = 10 + ((self.step_no * 7919 + level * 104_729 + salt) % 990)
        orders = 1 + ((self.step_no + level + salt) % 9)
        return DepthLevel(price=_price(max(1, ticks)), size=size, orders=orders)

    def tick(self, code: int) -> Tick:
        """The current state as the ``code`` message (1501, 1502, 1504, 1505, 1510, 1512)."""
        when = _wall_clock(int(self.now))
        ltp = _price(self.ltp_ticks)
        close = _price(self.close_ticks)
        pct = round((ltp - close) / close * 100, 2) if close else 0.0
        seg, iid = self.segment, self.instrument_id
        if code == MessageCode.LTP:
            return Tick(
                seg, iid, code, ltp=ltp, ltq=self.ltq, last_update_time=when,
                percent_change=pct, close=close, book_type=1, market_type=1,
            )  # fmt: skip
        if code == MessageCode.CANDLE:
            bar_time = datetime.fromtimestamp(self.bar_minute * 60, IST)
            return Tick(
                seg, iid, code, bar_time=bar_time, bar_volume=self.bar_volume,
                open=_price(self.bar_open), high=_price(self.bar_high),
                low=_price(self.bar_low), close=_price(self.bar_close),
                open_interest=self.open_interest, sum_qty_price=_price(self.bar_sum_qty_price),
            )  # fmt: skip
        if code == MessageCode.OPEN_INTEREST:
            return Tick(
                seg, iid, code, exchange_time=when, open_interest=self.open_interest,
                market_type=1,
            )  # fmt: skip
        if code == MessageCode.INDEX:
            return Tick(
                seg, iid, code, ltp=ltp, open=_price(self.open_ticks),
                high=_price(self.high_ticks), low=_price(self.low_ticks), close=close,
                percent_change=pct, last_update_time=when, exchange_time=when,
            )  # fmt: skip
        bid = self._level(self.bid_ticks, 0, 1)
        ask = self._level(self.ask_ticks, 0, 2)
        bids: tuple[DepthLevel, ...] = ()
        asks: tuple[DepthLevel, ...] = ()
        if code == MessageCode.DEPTH:
            bids = (bid, *(self._level(self.bid_ticks - i, i, 1) for i in range(1, _DEPTH_LEVELS)))
            asks = (ask, *(self._level(self.ask_ticks + i, i, 2) for i in range(1, _DEPTH_LEVELS)))
        return Tick(
            seg, iid, code, ltp=ltp, ltq=self.ltq, last_traded_time=when,
            last_update_time=when, exchange_time=when, open=_price(self.open_ticks),
            high=_price(self.high_ticks), low=_price(self.low_ticks), close=close,
            volume=self.volume,
            average_price=round(self.turnover_ticks / self.volume / _TICKS_PER_RUPEE, 2),
            total_buy_quantity=self.total_buy, total_sell_quantity=self.total_sell,
            total_value_traded=None, percent_change=pct, bid=bid, ask=ask, bids=bids, asks=asks,
            book_type=1, market_type=1, sequence_number=self.sequence,
        )  # fmt: skip


class Market:
    """Every instrument's walk, created on first use."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._walks: dict[tuple[int, int], InstrumentWalk] = {}

    def walk(self, instrument: tuple[int, int], now: float) -> InstrumentWalk:
        """The walk of ``instrument`` (created at step 0 if new)."""
        w = self._walks.get(instrument)
        if w is None:
            w = InstrumentWalk(self.seed, instrument[0], instrument[1], now)
            self._walks[instrument] = w
        return w

    def __len__(self) -> int:
        return len(self._walks)
