"""Names and modes on the real adapter against the simulator, both API flavours: subscribe by
name, lists and keys with a mode, set_mode, ticks carrying their symbol, the numeric API
unchanged, and unknown names refused with close matches."""

# ruff: noqa: F811  (the harness fixture is imported, then requested by name)
from __future__ import annotations

import time

import pytest

from jainam_fsm.instruments import InstrumentMaster, MarketDataClient, Mode, UnknownInstrument
from jainam_fsm.instruments.modes import code_for
from jainam_fsm.streaming import StreamingAdapter
from jainam_fsm.xts.ticks import Tick
from tests.test_adapter_support import (
    Harness,
    TickLog,
    harness,  # noqa: F401  (fixture)
    token_factory,
    wait_for,
)
from tests.test_store_support import PEPPER

FLAVOURS = [{"api": "json"}, {"api": "binary"}]


def _master(h: Harness) -> InstrumentMaster:
    with MarketDataClient(h.config(), store=h.store) as client:
        return client.master([1, 2])


def _adapter(h: Harness, ticks: TickLog, master: InstrumentMaster | None) -> StreamingAdapter:
    adapter = StreamingAdapter(
        h.config(), ticks, token_source=token_factory(h.store), instruments=master
    )
    h.adapters.append(adapter)
    return adapter


def _symbols(ticks: TickLog, inst: tuple[int, int], since: float = 0.0) -> set[str | None]:
    with ticks._lock:
        return {t.symbol for at, t in ticks.ticks if at >= since and t.instrument == inst}


@pytest.mark.parametrize("harness", FLAVOURS, indirect=True)
def test_names_modes_and_set_mode(harness: Harness) -> None:
    h = harness
    api = h.sim.config.api
    ticks = TickLog()
    adapter = _adapter(h, ticks, _master(h))
    ltp = code_for(Mode.LTP, api)
    assert adapter.subscribe("NSE:RELIANCE", mode=Mode.QUOTE) is True
    adapter.subscribe(["NSE:INFY", (1, 22)], mode="ltp")
    adapter.subscribe(1, 11536)  # the numeric API: code 1501
    adapter.connect()
    assert adapter.wait_ready(10)
    expected = {(1, 2885, 1501), (1, 1594, ltp), (1, 22, ltp), (1, 11536, 1501)}
    wait_for(lambda: h.server_set() == expected, what="server subscriptions")
    for inst in ((1, 2885), (1, 1594), (1, 22), (1, 11536)):
        wait_for(ticks.has(2, inst), what=f"ticks of {inst}")
    assert _symbols(ticks, (1, 2885)) == {"NSE:RELIANCE"}
    assert _symbols(ticks, (1, 22)) == {"NSE:ACC"}  # a key the master knows
    assert _symbols(ticks, (1, 11536)) == {"NSE:TCS"}

    adapter.set_mode(Mode.DEPTH, ["NSE:RELIANCE"])
    expected = (expected - {(1, 2885, 1501)}) | {(1, 2885, 1502)}
    wait_for(lambda: h.server_set() == expected, what="mode switched on the server")
    since = time.monotonic()

    def depth_ticks() -> list[Tick]:
        with ticks._lock:
            return [t for at, t in ticks.ticks if at >= since and t.instrument == (1, 2885)]

    wait_for(lambda: any(t.message_code == 1502 and t.bids for t in depth_ticks()), what="depth")
    assert {t.symbol for t in depth_ticks()} == {"NSE:RELIANCE"}

    assert adapter.unsubscribe("NSE:INFY", mode=Mode.LTP) is True
    wait_for(lambda: (1, 1594, ltp) not in h.server_set(), what="unsubscribed by name")


@pytest.mark.parametrize("harness", FLAVOURS[:1], indirect=True)
def test_unknown_name_is_refused_with_close_matches(harness: Harness) -> None:
    adapter = _adapter(harness, TickLog(), _master(harness))
    with pytest.raises(UnknownInstrument, match=r"close matches: NSE:RELIANCE$"):
        adapter.subscribe("NSE:RELIANC")
    with pytest.raises(ValueError, match="choose one of"):
        adapter.subscribe("NSE:RELIANCE", mode="fastest")
    with pytest.raises(ValueError, match="a code or a mode"):
        adapter.subscribe(1, 2885, 1501, mode=Mode.QUOTE)
    assert len(adapter.registry) == 0


@pytest.mark.parametrize("harness", FLAVOURS[:1], indirect=True)
def test_names_come_from_the_store_cache_by_default(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    _master(harness)  # downloads into the harness store's database
    monkeypatch.setenv("JAINAM_DATABASE_URL", str(harness.store.url))
    monkeypatch.setenv("JAINAM_TOKEN_PEPPER", PEPPER)
    ticks = TickLog()
    adapter = _adapter(harness, ticks, None)
    adapter.subscribe("NSE:NIFTY", mode=Mode.INDEX)
    assert harness.sim.stats()["master_requests"] == 1  # offline: no second download
    adapter.connect()
    assert adapter.wait_ready(10)
    wait_for(ticks.has(2, (1, 26000)), what="index ticks")
    assert _symbols(ticks, (1, 26000)) == {"NSE:NIFTY"}


@pytest.mark.parametrize("harness", FLAVOURS[1:], indirect=True)
async def test_async_adapter_takes_names_and_modes(harness: Harness) -> None:
    import asyncio

    from jainam_fsm.errors import ConfigError
    from jainam_fsm.streaming import AsyncStreamingAdapter

    with pytest.raises(ConfigError, match="outside a running event loop"):
        _master(harness)  # blocking client inside a loop: a clear error, not a hang
    master = await asyncio.to_thread(_master, harness)
    feed = AsyncStreamingAdapter(
        harness.config(), token_source=token_factory(harness.store), instruments=master
    )
    async with feed:
        feed.subscribe(["NSE:RELIANCE"], mode=Mode.LTP)  # binary API: a 1501 subscription
        assert await feed.wait_ready(10)
        async for tick in feed:
            assert (tick.instrument, tick.message_code, tick.symbol) == (
                (1, 2885),
                1501,
                "NSE:RELIANCE",
            )
            break
        feed.set_mode(Mode.DEPTH, "NSE:RELIANCE")
        wait_for(lambda: harness.server_set() == {(1, 2885, 1502)}, what="depth on the server")
