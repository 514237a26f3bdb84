"""The instrument master, names, quotes and OHLC over real sockets: MarketDataClient against the
simulator in both API flavours, the master cached in real SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from jainam_fsm.errors import TokenRejected
from jainam_fsm.instruments import (
    InstrumentMaster,
    MarketDataClient,
    Mode,
    UnknownInstrument,
    code_for,
)
from jainam_fsm.simulator import SimulatorThread
from jainam_fsm.store import TokenStore
from jainam_fsm.streaming.config import AdapterConfig
from jainam_fsm.xts.timeconv import IST
from tests.conftest import TEST_CONFIG
from tests.test_store_support import PEPPER, db_url, pg_session_url

__all__ = ["db_url", "pg_session_url"]  # fixtures

SAMPLE = Path(__file__).parent / "data" / "xts_instrument_master_sample.txt"


@pytest.fixture(params=["json", "binary"])
def sim(request: pytest.FixtureRequest) -> Iterator[SimulatorThread]:
    """A simulator serving one API flavour, on its own thread."""
    with SimulatorThread(replace(TEST_CONFIG, api=request.param)) as s:
        yield s


def _config(sim: SimulatorThread) -> AdapterConfig:
    user = sim.credentials
    return AdapterConfig(base_url=sim.base_url, app_key=user.app_key, secret_key=user.secret_key)


def test_master_downloaded_cached_and_searched_offline(sim: SimulatorThread, db_url: str) -> None:
    store = TokenStore(db_url, pepper=PEPPER)
    try:
        with MarketDataClient(_config(sim), store=store) as client:
            counts = client.download()
            assert counts[1] >= 7 and counts[2] >= 2 and counts[11] >= 2
            assert client.logins == 1
        requests = sim.stats()["master_requests"]
        sim.go_down()  # from here on, no network: every lookup is the cache's
        with MarketDataClient(_config(sim), store=store) as client:
            reliance = client.resolve("NSE:RELIANCE")
            assert reliance.key == (1, 2885)
            assert client.resolve("nse:reliance-eq").key == (1, 2885)
            assert client.resolve("NSE:NIFTY").key == (1, 26000)
            assert client.resolve("NSE_INDEX:NIFTY 50").key == (1, 26000)
            assert client.resolve("BSE:SENSEX").key == (11, 1)
            assert client.resolve("NFO:NIFTY29DEC26FUT").key == (2, 35001)
            assert client.resolve((2, 46082)).symbol == "NIFTY29DEC2626000CE"
            found = [r["name"] for r in client.search("RELI")]
            assert found == ["NSE:RELIANCE", "BSE:RELIANCE"]  # same rank and symbol: by segment
            assert client.master().name_of(1, 1594) == "NSE:INFY"  # fresh: no refresh needed
            assert client.logins == 0
        assert sim.stats()["master_requests"] == requests
    finally:
        store.close()


def test_unknown_name_is_one_line_with_close_matches(sim: SimulatorThread, tmp_path: Path) -> None:
    store = TokenStore(f"sqlite:///{tmp_path / 't.db'}", pepper=PEPPER)
    with store, MarketDataClient(_config(sim), store=store) as client:
        client.download([1])
        with pytest.raises(UnknownInstrument) as err:
            client.resolve("NSE:RELIANC")
        message = str(err.value)
        assert "\n" not in message
        assert "close matches: NSE:RELIANCE" in message
        with pytest.raises(UnknownInstrument, match="unknown exchange 'XYZ'"):
            client.resolve("XYZ:RELIANCE")
        with pytest.raises(UnknownInstrument, match="not in the instrument master"):
            client.resolve("1:999999")


def test_stale_master_is_refreshed_and_fresh_one_is_not(
    sim: SimulatorThread, tmp_path: Path
) -> None:
    store = TokenStore(f"sqlite:///{tmp_path / 't.db'}", pepper=PEPPER)
    with store, MarketDataClient(_config(sim), store=store, max_age=3600) as client:
        client.cache.replace([1], [], server="x", now=0.0)  # fetched at 1970: stale
        assert client.cache.stale([1, 2]) == [1, 2]
        master = client.master([1, 2])
        assert master.name_of(1, 2885) == "NSE:RELIANCE"
        assert client.cache.stale([1, 2]) == []
        before = sim.stats()["master_requests"]
        client.master([1, 2])
        assert sim.stats()["master_requests"] == before


def test_quotes_and_ohlc_reuse_the_stored_token(sim: SimulatorThread, tmp_path: Path) -> None:
    store = TokenStore(f"sqlite:///{tmp_path / 't.db'}", pepper=PEPPER)
    with store:
        with MarketDataClient(_config(sim), store=store) as client:
            client.download([1, 2])
            assert client.logins == 1
        logins = sim.stats()["logins"]
        with MarketDataClient(_config(sim), store=store) as client:
            ticks = client.quotes(["NSE:RELIANCE", (1, 1594)], mode=Mode.QUOTE)
            assert [(t.instrument, t.symbol) for t in ticks] == [
                ((1, 2885), "NSE:RELIANCE"),
                ((1, 1594), "NSE:INFY"),
            ]
            assert all(t.ltp is not None and t.message_code == 1501 for t in ticks)
            ltp = client.quotes("NSE:TCS", mode="ltp")
            assert ltp[0].message_code == code_for(Mode.LTP, client.api)
            end = datetime(2026, 12, 1, 15, 30, tzinfo=IST)
            bars = client.ohlc("NSE:RELIANCE", end - timedelta(minutes=10), end, 60)
            assert len(bars) == 10
            assert [b.time for b in bars] == [end - timedelta(minutes=10 - i) for i in range(10)]
            assert all(
                b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high for b in bars
            )
            again = client.ohlc((1, 2885), end - timedelta(minutes=10), end, 60)
            assert again == bars  # the simulator's bars are deterministic
            assert client.logins == 0
        assert sim.stats()["logins"] == logins


def test_rejected_token_is_replaced_once(sim: SimulatorThread, tmp_path: Path) -> None:
    store = TokenStore(f"sqlite:///{tmp_path / 't.db'}", pepper=PEPPER)
    with store, MarketDataClient(_config(sim), store=store) as client:
        client.download([1])
        sim.invalidate_tokens()
        assert client.quotes("NSE:RELIANCE")[0].symbol == "NSE:RELIANCE"
        assert client.logins == 2


def test_online_search_and_index_list(sim: SimulatorThread, tmp_path: Path) -> None:
    store = TokenStore(f"sqlite:///{tmp_path / 't.db'}", pepper=PEPPER)
    with store, MarketDataClient(_config(sim), store=store) as client:
        found = client.search("RELIANCE", online=True)
        assert {(r["ExchangeSegment"], r["ExchangeInstrumentID"]) for r in found} == {
            (1, 2885),
            (11, 500325),
        }
        token = client._tokens.get_token()
        assert client._run(client._rest.index_list(token, 1)) == [
            "NIFTY 50_26000",
            "NIFTY BANK_26001",
        ]


def test_secrets_stay_out_of_errors_and_logs(
    sim: SimulatorThread, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store = TokenStore(f"sqlite:///{tmp_path / 't.db'}", pepper=PEPPER)
    with store, MarketDataClient(_config(sim), store=store) as client:
        client.download([1])
        token = client._tokens.get_token()
        sim.invalidate_tokens()
        with pytest.raises(TokenRejected) as err:
            client._run(client._rest.index_list(token, 1))
        assert token.value not in str(err.value)
        assert token.value not in caplog.text
        assert client.config.secret_key not in caplog.text
        assert token.value not in repr(client)


def test_master_text_parsing_counts_bad_lines(caplog: pytest.LogCaptureFixture) -> None:
    text = SAMPLE.read_text(encoding="utf-8") + "\nNSECM|notanumber|8|X|X|EQ\ngarbage\n"
    master = InstrumentMaster.from_text(text)
    assert master.name_of(1, 2885) == "NSE:RELIANCE"
    assert master.lookup("MCX:CRUDEOIL18DEC26FUT").key == (51, 444001)
    assert sum(master.skipped.values()) == 2
    assert "2 line(s) skipped" in caplog.text


def test_mode_codes_per_flavour() -> None:
    assert code_for(Mode.LTP, "json") == 1512
    assert code_for(Mode.LTP, "binary") == 1501
    assert code_for("full", "json") == 1502
    assert code_for("OI") == 1510
    assert code_for(1505) == 1505
    with pytest.raises(ValueError, match="choose one of LTP"):
        code_for("fast")
