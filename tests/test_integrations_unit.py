"""Integrations without a network peer: modes, exchanges, depth, the instrument master,
payload shapes, the ZeroMQ publisher and every error envelope of the adapter."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import zmq

from jainam_fsm.errors import ConfigError
from jainam_fsm.integrations import (
    EXCHANGE_SEGMENTS,
    InMemoryResolver,
    JainamPropWebSocketAdapter,
    MasterFileResolver,
    Mode,
    SymbolResolver,
    ZmqPublisher,
    normalize_tick,
    topic_for,
)
from jainam_fsm.integrations.base import (
    Rejected,
    check_depth,
    normalize_exchange,
    normalize_mode,
)
from jainam_fsm.integrations.publisher import zmq_address_from_env
from jainam_fsm.integrations.symbols import MASTER_ENV
from jainam_fsm.xts.ticks import DepthLevel, Tick

DATA = Path(__file__).resolve().parent / "data"
MASTER = DATA / "xts_instrument_master_sample.txt"
PEPPER = "integration-tests-pepper-0123456789abcdef"
SECRET = "Integr4tionSecret$42"

SUCCESS_KEYS = {
    "status",
    "message",
    "symbol",
    "exchange",
    "mode",
    "requested_depth",
    "actual_depth",
    "is_fallback",
}


def is_error(envelope: Any, code: str) -> bool:
    return (
        isinstance(envelope, dict)
        and set(envelope) == {"status", "code", "message"}
        and envelope["status"] == "error"
        and envelope["code"] == code
        and isinstance(envelope["message"], str)
        and envelope["message"]
    )


# ---------------------------------------------------------------- modes, exchanges, depth


@pytest.mark.parametrize(
    ("given", "mode"),
    [
        (1, Mode.LTP),
        (2, Mode.QUOTE),
        (3, Mode.DEPTH),
        ("ltp", Mode.LTP),
        ("Quote", Mode.QUOTE),
        ("DEPTH", Mode.DEPTH),
        (" 2 ", Mode.QUOTE),
    ],
)
def test_modes_accepted(given: object, mode: Mode) -> None:
    assert normalize_mode(given) is mode


@pytest.mark.parametrize("given", [0, 4, -1, True, False, None, 2.0, "FULL", "", "4"])
def test_modes_rejected(given: object) -> None:
    out = normalize_mode(given)
    assert isinstance(out, Rejected) and out.code == "INVALID_MODE"


def test_mode_codes_and_labels() -> None:
    assert [(m.xts_code, m.label) for m in Mode] == [
        (1512, "LTP"),
        (1501, "QUOTE"),
        (1502, "DEPTH"),
    ]
    assert Mode.from_xts_code(1502) is Mode.DEPTH
    assert Mode.from_xts_code(1505) is None


def test_exchanges() -> None:
    assert dict(EXCHANGE_SEGMENTS) == {
        "NSE": 1,
        "NFO": 2,
        "CDS": 3,
        "BSE": 11,
        "BFO": 12,
        "MCX": 51,
        "NSE_INDEX": 1,
        "BSE_INDEX": 11,
    }
    assert normalize_exchange(" nse ") == "NSE"
    for bad in ("XYZ", "", None, "MCX_INDEX", "NSECM", 1):
        out = normalize_exchange(bad)
        assert isinstance(out, Rejected) and out.code == "INVALID_EXCHANGE"


def test_depth() -> None:
    assert check_depth(5, Mode.DEPTH) == (5, False)
    assert check_depth(20, Mode.DEPTH) == (5, True)
    assert check_depth(1, Mode.DEPTH) == (5, False)
    assert check_depth(5, Mode.LTP) == (5, False)
    for bad in (0, -5, True, 5.0, "5", None):
        out = check_depth(bad, Mode.DEPTH)
        assert isinstance(out, Rejected) and out.code == "INVALID_DEPTH"


# ---------------------------------------------------------------- symbol resolution


@pytest.fixture(scope="module")
def master() -> MasterFileResolver:
    return MasterFileResolver.from_files(MASTER)


@pytest.mark.parametrize(
    ("symbol", "exchange", "expected"),
    [
        ("RELIANCE", "NSE", (1, 2885)),
        ("reliance-eq", "nse", (1, 2885)),  # the broker's Description, any case
        ("ACC-BE", "NSE", (1, 22)),  # a non-EQ series keeps its series suffix
        ("NIFTY", "NSE_INDEX", (1, 26000)),
        ("NIFTY 50", "NSE_INDEX", (1, 26000)),
        ("BANKNIFTY", "NSE_INDEX", (1, 26001)),
        ("RELIANCE", "BSE", (11, 500325)),
        ("SENSEX", "BSE_INDEX", (11, 1)),
        ("NIFTY29DEC26FUT", "NFO", (2, 35001)),
        ("NIFTY26DECFUT", "NFO", (2, 35001)),
        ("NIFTY29DEC2626000CE", "NFO", (2, 46082)),
        ("NIFTY29DEC2625500PE", "NFO", (2, 46083)),
        ("USDINR29DEC26FUT", "CDS", (3, 9001)),
        ("USDINR29DEC2684.25CE", "CDS", (3, 9002)),
        ("SENSEX24DEC26FUT", "BFO", (12, 1105863)),
        ("CRUDEOIL18DEC26FUT", "MCX", (51, 444001)),
    ],
)
def test_master_resolves(
    master: MasterFileResolver, symbol: str, exchange: str, expected: tuple[int, int]
) -> None:
    assert master.resolve(symbol, exchange) == expected


def test_master_reverse_and_records(master: MasterFileResolver) -> None:
    assert isinstance(master, SymbolResolver)
    assert len(master) == 15 and not master.skipped
    assert master.reverse(1, 2885) == ("RELIANCE", "NSE")
    assert master.reverse(1, 26000) == ("NIFTY", "NSE_INDEX")
    assert master.reverse(2, 46082) == ("NIFTY29DEC2626000CE", "NFO")
    assert master.reverse(1, 999999) is None
    assert master.resolve("RELIANCE", "NFO") is None  # right symbol, wrong exchange
    assert master.resolve("NIFTY", "NSE") is None  # an index is not an NSE equity
    rec = master.record("NIFTY29DEC2625500PE", "NFO")
    assert rec is not None and rec.lot_size == 75 and rec.strike == "25500"
    assert rec.option_type == "PE" and str(rec.expiry) == "2026-12-29"


def test_master_counts_and_logs_bad_lines(caplog: pytest.LogCaptureFixture) -> None:
    text = "\n".join(
        [
            MASTER.read_text().splitlines()[1],  # RELIANCE, fine
            "NSECM|abc|8|BAD|BAD-EQ|EQ",  # bad id
            "XXXX|5|8|Y|Y-EQ|EQ",  # unknown segment
            "NSEFO|7|2|NIFTY|X|OPTIDX|a|b|1|1|1|0.05|75|1|-1|N|2026-12-29T14:30:00|26000|9|d|1|1|X",
            "NSEFO|8|1|NIFTY|X|FUTIDX|a|b|1|1|1|0.05|75|1|-1|N|not-a-date|d|1|1|X",
            "NSEFO|9|2|NIFTY|X|OPTIDX",  # too short for an option
            "NSECM|10|99|Q|Q|EQ",  # unknown instrument type
            "NSECM|11|8|RELIANCE|OTHER|EQ",  # second line claiming RELIANCE on NSE
            "short|line",
            "",
        ]
    )
    with caplog.at_level(logging.WARNING, logger="jainam_fsm.integrations"):
        r = MasterFileResolver.from_text(text, source="bad.txt")
    assert len(r) == 1
    assert dict(r.skipped) == {
        "bad ExchangeInstrumentID": 1,
        "unknown ExchangeSegment": 1,
        "unknown OptionType": 1,
        "bad ContractExpiration": 1,
        "too few fields for an option": 1,
        "unknown InstrumentType": 1,
        "duplicate symbol": 1,
        "too few fields": 1,
    }
    assert "bad.txt" in caplog.text and "8 lines skipped" in caplog.text


def test_index_list_and_env(tmp_path: Path) -> None:
    r = MasterFileResolver()
    assert r.load_index_list(1, ["NIFTY 50_26000", "NIFTY FIN SERVICE_26037", "junk", "X_y"]) == 2
    assert r.resolve("FINNIFTY", "NSE_INDEX") == (1, 26037)
    assert r.skipped["bad index entry"] == 2
    with pytest.raises(ValueError):
        r.load_index_list(2, ["X_1"])
    other = tmp_path / "more.txt"
    other.write_text(
        "MCXFO|5|1|GOLD|GOLD26DECFUT|FUTCOM|a|b|1|1|1|1|1|1|-1|GOLD|"
        "2026-12-05T23:30:00|GOLD 05DEC2026|1|1|GOLD26DECFUT\n"
    )
    env = {MASTER_ENV: os.pathsep.join([str(MASTER), str(other)])}
    loaded = MasterFileResolver.from_env(env)
    assert loaded is not None and loaded.resolve("GOLD05DEC26FUT", "MCX") == (51, 5)
    assert loaded.resolve("RELIANCE", "NSE") == (1, 2885)
    assert MasterFileResolver.from_env({}) is None


def test_in_memory_resolver() -> None:
    r = InMemoryResolver({("RELIANCE", "NSE"): (1, 2885)})
    r.add("nifty", "nse_index", 1, 26000)
    assert isinstance(r, SymbolResolver)
    assert r.resolve("Reliance", "nse") == (1, 2885)
    assert r.resolve("NIFTY", "NSE_INDEX") == (1, 26000)
    assert r.reverse(1, 26000) == ("NIFTY", "NSE_INDEX")
    assert r.resolve("TCS", "NSE") is None
    with pytest.raises(ValueError, match="segment"):
        r.add("X", "NFO", 1, 5)
    with pytest.raises(ValueError, match="exchange"):
        r.add("X", "LSE", 1, 5)


# ---------------------------------------------------------------- payload shapes

IST_TIME = datetime(2026, 11, 25, 10, 0, 1, tzinfo=UTC)
#: ``ltt`` as OpenAlgo's XTS adapters publish it: XTS's count, seconds from 1980-01-01 read on
#: an India wall clock for NSECM (15:30:01 IST that day), computed here independently.
WIRE_LTT = int((datetime(2026, 11, 25, 15, 30, 1) - datetime(1980, 1, 1)).total_seconds())


def full_tick(code: int, **kw: Any) -> Tick:
    levels = tuple(DepthLevel(100.0 - i, 10 + i, 1 + i) for i in range(3))
    base: dict[str, Any] = dict(
        exchange_segment=1,
        instrument_id=2885,
        message_code=code,
        ltp=100.5,
        ltq=7,
        last_traded_time=IST_TIME,
        open=99.0,
        high=101.0,
        low=98.5,
        close=99.5,
        volume=1234,
        average_price=100.1,
        total_buy_quantity=500,
        total_sell_quantity=600,
        bids=levels,
        asks=levels,
        open_interest=None,
    )
    base.update(kw)
    return Tick(**base)


def test_topic() -> None:
    assert topic_for("NSE", "RELIANCE", Mode.LTP) == "NSE_RELIANCE_LTP"
    assert topic_for("NSE_INDEX", "NIFTY", Mode.QUOTE) == "NSE_INDEX_NIFTY_QUOTE"
    assert topic_for("NFO", "NIFTY29DEC26FUT", Mode.DEPTH) == "NFO_NIFTY29DEC26FUT_DEPTH"


def test_ltp_shape() -> None:
    out = normalize_tick(full_tick(1512), Mode.LTP, "RELIANCE", "NSE", now_ms=5)
    assert out == {
        "ltp": 100.5,
        "ltt": WIRE_LTT,
        "ltq": 7,
        "symbol": "RELIANCE",
        "exchange": "NSE",
        "mode": 1,
        "timestamp": 5,
    }


def test_quote_shape_and_zeros() -> None:
    out = normalize_tick(full_tick(1501), Mode.QUOTE, "RELIANCE", "NSE", now_ms=5)
    assert out == {
        "ltp": 100.5,
        "ltt": WIRE_LTT,
        "volume": 1234,
        "open": 99.0,
        "high": 101.0,
        "low": 98.5,
        "close": 99.5,
        "last_quantity": 7,
        "average_price": 100.1,
        "total_buy_quantity": 500,
        "total_sell_quantity": 600,
        "symbol": "RELIANCE",
        "exchange": "NSE",
        "mode": 2,
        "timestamp": 5,
    }
    sparse = normalize_tick(Tick(1, 2885, 1501, ltp=1.0), Mode.QUOTE, "RELIANCE", "NSE")
    # Unknown numbers are 0, as OpenAlgo's own adapters send them (docs/embedding.md §5).
    assert sparse["open"] == 0 and sparse["volume"] == 0 and sparse["ltt"] == 0
    assert None not in sparse.values()
    assert abs(sparse["timestamp"] - datetime.now(UTC).timestamp() * 1000) < 60_000


def test_depth_shape_padded() -> None:
    out = normalize_tick(full_tick(1502), Mode.DEPTH, "RELIANCE", "NSE", now_ms=5)
    assert set(out) == {
        "ltp",
        "ltt",
        "volume",
        "open",
        "high",
        "low",
        "close",
        "oi",
        "upper_circuit",
        "lower_circuit",
        "depth",
        "symbol",
        "exchange",
        "mode",
        "timestamp",
    }
    assert out["mode"] == 3 and out["oi"] == 0
    assert out["upper_circuit"] == 0 and out["lower_circuit"] == 0
    buy = out["depth"]["buy"]
    assert len(buy) == 5 and len(out["depth"]["sell"]) == 5
    assert buy[0] == {"price": 100.0, "quantity": 10, "orders": 1}
    assert buy[4] == {"price": 0.0, "quantity": 0, "orders": 0}
    json.dumps(out)
    # A touchline-only book still gives its best level.
    touch = normalize_tick(Tick(1, 1, 1502, bid=DepthLevel(5.0, 1, 1)), Mode.DEPTH, "X", "NSE")
    assert touch["depth"]["buy"][0] == {"price": 5.0, "quantity": 1, "orders": 1}


# ---------------------------------------------------------------- publisher


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def sub_socket() -> Any:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind("tcp://127.0.0.1:*")
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    yield sock
    sock.close(linger=0)
    ctx.term()


def test_publisher_delivers_and_closes(sub_socket: Any) -> None:
    address = sub_socket.getsockopt(zmq.LAST_ENDPOINT).decode()
    pub = ZmqPublisher(address)
    got: list[list[bytes]] = []
    import time

    deadline = time.monotonic() + 10
    while not got and time.monotonic() < deadline:  # slow joiner: resend until one arrives
        assert pub.publish("NSE_X_LTP", {"ltp": 1.5})
        if sub_socket.poll(50):
            got.append(sub_socket.recv_multipart())
    assert got and got[0] == [b"NSE_X_LTP", b'{"ltp":1.5}']
    assert not pub.publish("NSE_X_LTP", {"bad": object()})  # not JSON: counted, not raised
    assert pub.errors == 1
    pub.close()
    pub.close()
    assert pub.closed and not pub.publish("NSE_X_LTP", {"ltp": 1})


def test_publisher_leaks_no_fds(sub_socket: Any) -> None:
    address = sub_socket.getsockopt(zmq.LAST_ENDPOINT).decode()
    ZmqPublisher(address).close()  # warm-up (lazy library state)
    before = open_fds()
    for _ in range(20):
        with ZmqPublisher(address) as pub:
            pub.publish("T", {})
    assert open_fds() <= before


def test_zmq_address_from_env() -> None:
    assert zmq_address_from_env({}) == "tcp://127.0.0.1:5555"
    assert zmq_address_from_env({"ZMQ_PORT": "6000"}) == "tcp://127.0.0.1:6000"
    assert zmq_address_from_env({"ZMQ_HOST": "10.0.0.1"}) == "tcp://10.0.0.1:5555"
    assert zmq_address_from_env({"JAINAM_ZMQ_ADDRESS": "ipc:///tmp/x", "ZMQ_PORT": "1"}) == (
        "ipc:///tmp/x"
    )
    for bad in ("http", "0", "99999", "pasted-secret-value"):
        with pytest.raises(ConfigError, match="ZMQ_PORT") as ei:
            zmq_address_from_env({"ZMQ_PORT": bad})
        assert len(bad) < 4 or bad not in str(ei.value)  # never echoed


# ---------------------------------------------------------------- adapter envelopes


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        "JAINAM_BASE_URL": "http://127.0.0.1:9/apimarketdata",
        "JAINAM_APP_KEY": "app-key-for-tests",
        "JAINAM_SECRET_KEY": SECRET,
        "JAINAM_DATABASE_URL": f"sqlite:///{tmp_path / 'tokens.db'}",
        "JAINAM_TOKEN_PEPPER": PEPPER,
    }
    env.update(extra)
    return env


@pytest.fixture
def offline(tmp_path: Path) -> JainamPropWebSocketAdapter:
    adapter = JainamPropWebSocketAdapter(
        InMemoryResolver({("RELIANCE", "NSE"): (1, 2885), ("NIFTY", "NSE_INDEX"): (1, 26000)}),
        environ=env_for(tmp_path),
    )
    assert adapter.initialize("jainam_prop", "alice") is None
    return adapter


def test_not_initialized(tmp_path: Path) -> None:
    adapter = JainamPropWebSocketAdapter(InMemoryResolver(), environ=env_for(tmp_path))
    assert is_error(adapter.subscribe("RELIANCE", "NSE"), "NOT_INITIALIZED")
    assert is_error(adapter.unsubscribe("RELIANCE", "NSE"), "NOT_INITIALIZED")
    assert is_error(adapter.connect(), "NOT_INITIALIZED")
    assert adapter.disconnect() is None
    assert not adapter.connected


def test_initialize_errors(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    adapter = JainamPropWebSocketAdapter(InMemoryResolver(), environ=env_for(tmp_path))
    assert is_error(adapter.initialize("", "alice"), "INVALID_ARGUMENT")
    assert is_error(adapter.initialize("jainam_prop", None), "INVALID_ARGUMENT")  # type: ignore[arg-type]
    assert is_error(adapter.initialize("jainam_prop", "a", "token"), "INVALID_ARGUMENT")  # type: ignore[arg-type]
    assert is_error(adapter.initialize("jainam_prop", "a", {"status": "error"}), "AUTH_ERROR")
    bare = JainamPropWebSocketAdapter(InMemoryResolver(), environ={})
    out = bare.initialize("jainam_prop", "alice")
    assert is_error(out, "CONFIG_ERROR") and "JAINAM_BASE_URL" in out["message"]  # type: ignore[index]
    short_pepper = env_for(tmp_path, JAINAM_TOKEN_PEPPER="too-short")
    out = JainamPropWebSocketAdapter(InMemoryResolver(), environ=short_pepper).initialize("b", "u")
    assert is_error(out, "CONFIG_ERROR") and "JAINAM_TOKEN_PEPPER" in out["message"]  # type: ignore[index]
    out = adapter.initialize("jainam_prop", "a", {"instrument_master": str(tmp_path / "none")})
    assert is_error(out, "CONFIG_ERROR")
    bad_url = adapter.initialize("jainam_prop", "a", {"base_url": "ftp://x"})
    assert is_error(bad_url, "CONFIG_ERROR")
    assert SECRET not in caplog.text and SECRET not in repr(adapter)


def test_subscribe_error_envelopes(offline: JainamPropWebSocketAdapter) -> None:
    a = offline
    assert is_error(a.subscribe("RELIANCE", "NSE", 4), "INVALID_MODE")
    assert is_error(a.subscribe("RELIANCE", "NSE", True), "INVALID_MODE")
    assert is_error(a.subscribe("RELIANCE", "NSE", "FULL"), "INVALID_MODE")  # type: ignore[arg-type]
    assert is_error(a.subscribe("RELIANCE", "LSE", 1), "INVALID_EXCHANGE")
    assert is_error(a.subscribe("RELIANCE", None, 1), "INVALID_EXCHANGE")  # type: ignore[arg-type]
    assert is_error(a.subscribe("", "NSE", 1), "INVALID_SYMBOL")
    assert is_error(a.subscribe(None, "NSE", 1), "INVALID_SYMBOL")  # type: ignore[arg-type]
    assert is_error(a.subscribe("TCS", "NSE", 1), "SYMBOL_NOT_FOUND")
    assert is_error(a.subscribe("RELIANCE", "BSE", 1), "SYMBOL_NOT_FOUND")
    assert is_error(a.subscribe("RELIANCE", "NSE", 3, 0), "INVALID_DEPTH")
    assert is_error(a.subscribe("RELIANCE", "NSE", 3, "5"), "INVALID_DEPTH")  # type: ignore[arg-type]
    assert is_error(a.subscribe("RELIANCE", "NSE", 1, -1), "INVALID_DEPTH")
    assert is_error(a.unsubscribe("RELIANCE", "NSE", 2), "NOT_SUBSCRIBED")
    assert is_error(a.unsubscribe("RELIANCE", "NSE", 9), "INVALID_MODE")
    assert is_error(a.unsubscribe("RELIANCE", "XX", 2), "INVALID_EXCHANGE")
    assert a.subscriptions == {}  # no failed call left a trace


def test_resolver_faults(tmp_path: Path) -> None:
    class Broken:
        def resolve(self, symbol: str, exchange: str) -> tuple[int, int] | None:
            raise RuntimeError("boom")

        def reverse(self, segment: int, instrument_id: int) -> tuple[str, str] | None:
            return None

    class Wrong(Broken):
        def resolve(self, symbol: str, exchange: str) -> tuple[int, int] | None:
            return (2, 5)  # an NFO segment for an NSE symbol

    for resolver, code in ((Broken(), "INTERNAL_ERROR"), (Wrong(), "SYMBOL_NOT_FOUND")):
        a = JainamPropWebSocketAdapter(resolver, environ=env_for(tmp_path))
        assert a.initialize("jainam_prop", "alice") is None
        assert is_error(a.subscribe("RELIANCE", "NSE"), code)
    none = JainamPropWebSocketAdapter(None, environ=env_for(tmp_path))
    assert none.initialize("jainam_prop", "alice") is None
    out = none.subscribe("RELIANCE", "NSE")
    assert is_error(out, "SYMBOL_NOT_FOUND") and "JAINAM_INSTRUMENT_MASTER" in out["message"]


def test_master_from_env_and_auth_data(tmp_path: Path) -> None:
    a = JainamPropWebSocketAdapter(environ=env_for(tmp_path, **{MASTER_ENV: str(MASTER)}))
    assert a.initialize("jainam_prop", "alice") is None
    assert a.subscribe("NIFTY29DEC26FUT", "NFO", 1)["status"] == "success"
    b = JainamPropWebSocketAdapter(environ=env_for(tmp_path))
    assert b.initialize("jainam_prop", "alice", {"instrument_master": str(MASTER)}) is None
    assert b.subscribe("SENSEX", "BSE_INDEX", 2)["status"] == "success"


def test_offline_subscriptions_are_recorded_and_counted(
    offline: JainamPropWebSocketAdapter,
) -> None:
    a = offline
    first = a.subscribe("reliance", "nse", 3, 20)
    assert set(first) == SUCCESS_KEYS
    assert first["status"] == "success" and "applied on connect" in first["message"]
    assert (first["symbol"], first["exchange"], first["mode"]) == ("reliance", "NSE", 3)
    assert (first["requested_depth"], first["actual_depth"], first["is_fallback"]) == (20, 5, True)
    a.subscribe("reliance", "nse", 3)
    a.subscribe("reliance", "NSE", "Depth", consumer="strategy-2")
    assert a.subscriptions["reliance_NSE_3"]["wants"] == 3
    assert a.unsubscribe("reliance", "NSE", 3, consumer="nobody")["code"] == "NOT_SUBSCRIBED"
    out = a.unsubscribe("reliance", "NSE", 3)
    assert out["status"] == "success" and "still wanted by 2" in out["message"]
    assert set(out) == SUCCESS_KEYS and out["actual_depth"] == 5
    assert a.unsubscribe("reliance", "NSE", 3, consumer="strategy-2")["status"] == "success"
    assert a.unsubscribe("reliance", "NSE", 3)["status"] == "success"
    assert a.unsubscribe("reliance", "NSE", 3)["code"] == "NOT_SUBSCRIBED"
    assert a.subscriptions == {}


def test_connect_with_bad_zmq_address(tmp_path: Path) -> None:
    a = JainamPropWebSocketAdapter(
        InMemoryResolver(), zmq_address="nonsense://x", environ=env_for(tmp_path)
    )
    assert a.initialize("jainam_prop", "alice") is None
    assert is_error(a.connect(), "ZMQ_ERROR")
    assert not a.connected and a.stream is None
    bad_port = JainamPropWebSocketAdapter(
        InMemoryResolver(), environ=env_for(tmp_path, ZMQ_PORT="http")
    )
    assert bad_port.initialize("jainam_prop", "alice") is None
    assert is_error(bad_port.connect(), "CONFIG_ERROR")


def test_connect_without_pyzmq_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(__import__("sys").modules, "zmq", None)  # `import zmq` now fails
    a = JainamPropWebSocketAdapter(InMemoryResolver(), environ=env_for(tmp_path))
    assert a.initialize("jainam_prop", "alice") is None
    out = a.connect()
    assert is_error(out, "CONFIG_ERROR") and "jainam-fsm[zmq]" in out["message"]  # type: ignore[index]
    assert a.stream is None
