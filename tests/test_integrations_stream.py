"""The adapter end to end: simulator -> StreamingAdapter -> JainamPropWebSocketAdapter -> a real
ZeroMQ SUB bound on loopback (the proxy's side). Ticks keep their shapes across a sever and a
token invalidation, unsubscribed topics stop for good while others flow, stored tokens are
reused across restarts, and nothing (threads, sockets, fds) outlives ``disconnect``."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from jainam_fsm.core.machine import State
from jainam_fsm.integrations import JainamPropWebSocketAdapter
from jainam_fsm.simulator import SimulatorThread
from jainam_fsm.store import TokenStore

MASTER = Path(__file__).resolve().parent / "data" / "xts_instrument_master_sample.txt"
PEPPER = "integration-stream-pepper-0123456789abcdef"

#: (symbol, exchange, mode) -> topic; all in the simulator's default universe.
SUBS = {
    ("RELIANCE", "NSE", 1): "NSE_RELIANCE_LTP",
    ("INFY", "NSE", 2): "NSE_INFY_QUOTE",
    ("NIFTY", "NSE_INDEX", 3): "NSE_INDEX_NIFTY_DEPTH",
}
TOPICS = set(SUBS.values())

LTP_KEYS = {"ltp", "ltt", "ltq"}
QUOTE_KEYS = {
    "ltp",
    "ltt",
    "volume",
    "open",
    "high",
    "low",
    "close",
    "last_quantity",
    "average_price",
    "total_buy_quantity",
    "total_sell_quantity",
}
DEPTH_KEYS = {
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
}
COMMON = {"symbol", "exchange", "mode", "timestamp"}


def now_ms() -> int:
    return int(time.time() * 1000)


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


class Proxy:
    """The proxy's side: a SUB socket bound on an ephemeral loopback port, all topics."""

    def __init__(self) -> None:
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.SUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.bind("tcp://127.0.0.1:*")
        self.socket.setsockopt(zmq.SUBSCRIBE, b"")
        self.address = self.socket.getsockopt(zmq.LAST_ENDPOINT).decode()
        self.received: list[tuple[str, dict[str, Any]]] = []

    def recv(self, timeout: float) -> tuple[str, dict[str, Any]] | None:
        if not self.socket.poll(int(timeout * 1000)):
            return None
        frames = self.socket.recv_multipart()
        assert len(frames) == 2, frames
        item = (frames[0].decode(), json.loads(frames[1]))
        self.received.append(item)
        return item

    def wait_topics(
        self, topics: set[str], timeout: float = 15.0, after_ms: int = 0
    ) -> dict[str, dict[str, Any]]:
        """First message of each topic published after ``after_ms`` (slow joiner: we poll
        with a deadline rather than expect the first message sent)."""
        seen: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        while set(seen) < topics:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no message for {sorted(topics - set(seen))} in {timeout} s")
            item = self.recv(min(left, 0.2))
            if item is not None and item[0] in topics and item[1]["timestamp"] > after_ms:
                seen.setdefault(item[0], item[1])
        return seen

    def close(self) -> None:
        self.socket.close(linger=0)
        self.context.term()


def check_shape(topic: str, payload: dict[str, Any]) -> None:
    """Topic ``EXCHANGE_SYMBOL_MODE`` and the platform's payload shape for that mode."""
    label = topic.rsplit("_", 1)[1]
    expected = {"LTP": (LTP_KEYS, 1), "QUOTE": (QUOTE_KEYS, 2), "DEPTH": (DEPTH_KEYS, 3)}[label]
    assert set(payload) == expected[0] | COMMON, (topic, payload)
    assert payload["mode"] == expected[1]
    assert topic == f"{payload['exchange']}_{payload['symbol']}_{label}"
    assert isinstance(payload["ltp"], float) and payload["ltp"] > 0
    assert isinstance(payload["ltt"], int) and isinstance(payload["timestamp"], int)
    assert abs(payload["timestamp"] - now_ms()) < 60_000
    if label == "QUOTE":
        for key in ("open", "high", "low", "close", "average_price"):
            assert isinstance(payload[key], float), key
        for key in ("volume", "last_quantity", "total_buy_quantity", "total_sell_quantity"):
            assert isinstance(payload[key], int), key
    if label == "DEPTH":
        for side in ("buy", "sell"):
            levels = payload["depth"][side]
            assert len(levels) == 5
            for level in levels:
                assert set(level) == {"price", "quantity", "orders"}
                assert level["price"] > 0 and level["quantity"] > 0 and level["orders"] > 0
        assert payload["depth"]["buy"][0]["price"] < payload["depth"]["sell"][0]["price"]


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    p = Proxy()
    yield p
    p.close()


def sim_env(sim: SimulatorThread, tmp_path: Path) -> dict[str, str]:
    user = sim.credentials
    return {
        "JAINAM_BASE_URL": sim.base_url,
        "JAINAM_APP_KEY": user.app_key,
        "JAINAM_SECRET_KEY": user.secret_key,
        "JAINAM_DATABASE_URL": f"sqlite:///{tmp_path / 'tokens.db'}",
        "JAINAM_TOKEN_PEPPER": PEPPER,
        "JAINAM_INSTRUMENT_MASTER": str(MASTER),
        "JAINAM_BACKOFF_INITIAL": "0.2",
    }


def make_adapter(proxy: Proxy, env: dict[str, str]) -> JainamPropWebSocketAdapter:
    adapter = JainamPropWebSocketAdapter(zmq_address=proxy.address, environ=env)
    assert adapter.initialize("jainam_prop", "alice") is None
    return adapter


def jainam_threads() -> list[str]:
    return [
        t.name
        for t in threading.enumerate()
        if t.name.startswith("jainam-") and t.name != "jainam-simulator"
    ]


def assert_no_secrets(text: str, sim: SimulatorThread, env: dict[str, str]) -> None:
    store = TokenStore(env["JAINAM_DATABASE_URL"], pepper=PEPPER)
    try:
        token = store.get_record("alice")
    finally:
        store.close()
    secrets = [sim.credentials.secret_key]
    if token is not None and token.feed_token is not None:
        secrets.append(token.feed_token.value)
    for secret in secrets:
        assert secret not in text


def test_ticks_flow_across_sever_and_token_invalidation(
    simulator_thread: SimulatorThread,
    proxy: Proxy,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim = simulator_thread
    env = sim_env(sim, tmp_path)
    caplog.set_level(logging.DEBUG, logger="jainam_fsm")
    adapter = make_adapter(proxy, env)
    for symbol, exchange, mode in SUBS:  # recorded while disconnected, applied on connect
        out = adapter.subscribe(symbol, exchange, mode, 5)
        assert out["status"] == "success" and "applied on connect" in out["message"]
    assert adapter.connect() is None
    try:
        assert adapter.wait_ready(15)
        for topic, payload in proxy.wait_topics(TOPICS).items():
            check_shape(topic, payload)
        assert sim.stats()["logins"] == 1
        stream = adapter.stream
        assert stream is not None

        connects = stream.stats()["socket_connects"]
        assert sim.sever() >= 1
        wait_for(lambda: stream.stats()["socket_connects"] > connects, 15, "reconnect")
        for topic, payload in proxy.wait_topics(TOPICS, after_ms=now_ms()).items():
            check_shape(topic, payload)
        assert sim.stats()["logins"] == 1  # the stored token was reused by the reconnect

        assert sim.invalidate_tokens(disconnect=True) >= 1
        wait_for(lambda: sim.stats()["logins"] == 2, 15, "a fresh login")
        for topic, payload in proxy.wait_topics(TOPICS, after_ms=now_ms()).items():
            check_shape(topic, payload)
        assert sim.stats()["logins"] == 2  # exactly one login for the invalidated token
        assert adapter.connected and adapter.stats()["publish_errors"] == 0
    finally:
        assert adapter.disconnect() is None
    assert not adapter.connected
    assert_no_secrets(caplog.text + capsys.readouterr().err, sim, env)


def test_unsubscribe_leaves_no_ghost_topic_and_keeps_the_feed(
    simulator_thread: SimulatorThread, proxy: Proxy, tmp_path: Path
) -> None:
    sim = simulator_thread
    adapter = make_adapter(proxy, sim_env(sim, tmp_path))
    assert adapter.subscribe("RELIANCE", "NSE", 1)["status"] == "success"
    assert adapter.subscribe("RELIANCE", "NSE", 1, consumer="strategy-b")["status"] == "success"
    assert adapter.subscribe("INFY", "NSE", 2)["status"] == "success"
    assert adapter.connect() is None
    try:
        assert adapter.wait_ready(15)
        proxy.wait_topics({"NSE_RELIANCE_LTP", "NSE_INFY_QUOTE"})
        stream = adapter.stream
        assert stream is not None
        disconnects = stream.stats()["socket_disconnects"]

        # One of two consumers leaves: the topic keeps flowing for the other.
        out = adapter.unsubscribe("RELIANCE", "NSE", 1)
        assert out["status"] == "success" and "still wanted by 1" in out["message"]
        proxy.wait_topics({"NSE_RELIANCE_LTP"}, after_ms=now_ms())
        assert (1, 2885) in sim.subscriptions().get(1512, set())

        # The last consumer leaves: the server forgets it and the topic stops for good.
        out = adapter.unsubscribe("RELIANCE", "NSE", 1, consumer="strategy-b")
        assert out["status"] == "success" and "still wanted" not in out["message"]
        gone_at = now_ms()
        wait_for(
            lambda: (1, 2885) not in sim.subscriptions().get(1512, set()),
            10,
            "the server-side unsubscribe",
        )
        # Settle: PUB -> SUB is ordered, so once a QUOTE published after the unsubscribe
        # arrived, every LTP sent before it has been drained.
        proxy.wait_topics({"NSE_INFY_QUOTE"}, after_ms=gone_at)
        counts = {"NSE_RELIANCE_LTP": 0, "NSE_INFY_QUOTE": 0}
        window_end = time.monotonic() + 1.0
        while time.monotonic() < window_end:
            item = proxy.recv(0.05)
            if item is not None:
                counts[item[0]] = counts.get(item[0], 0) + 1
        assert counts["NSE_RELIANCE_LTP"] == 0, counts
        assert counts["NSE_INFY_QUOTE"] >= 5, counts
        assert adapter.connected and stream.state() is State.CONNECTED
        assert stream.stats()["socket_disconnects"] == disconnects  # the feed never dropped
        assert adapter.unsubscribe("RELIANCE", "NSE", 1)["code"] == "NOT_SUBSCRIBED"
    finally:
        adapter.disconnect()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_restarts_reuse_the_stored_token_and_release_everything(
    simulator_thread: SimulatorThread, proxy: Proxy, tmp_path: Path
) -> None:
    sim = simulator_thread
    env = sim_env(sim, tmp_path)
    baseline = open_fds()
    adapter = make_adapter(proxy, env)
    assert adapter.subscribe("RELIANCE", "NSE", 1)["status"] == "success"
    assert adapter.connect() is None
    assert adapter.connect() is None  # idempotent
    assert adapter.wait_ready(15)
    proxy.wait_topics({"NSE_RELIANCE_LTP"})
    assert sim.stats()["logins"] == 1
    publisher, stream = adapter.publisher, adapter.stream
    assert publisher is not None and stream is not None

    assert adapter.disconnect() is None
    assert adapter.disconnect() is None
    assert adapter.stream is None and adapter.publisher is None and not adapter.connected
    assert publisher.closed and stream.state() is State.SHUT_DOWN
    assert jainam_threads() == []
    # Recorded while disconnected; the earlier want survives the disconnect.
    assert "applied on connect" in adapter.subscribe("TCS", "NSE", 2)["message"]
    assert adapter.connect() is None
    assert adapter.wait_ready(15)
    proxy.wait_topics({"NSE_RELIANCE_LTP", "NSE_TCS_QUOTE"}, after_ms=now_ms())
    assert adapter.disconnect() is None

    # A new adapter (a restarted proxy) reuses the token from the store: no login.
    again = make_adapter(proxy, env)
    assert again.subscribe("INFY", "NSE", 1)["status"] == "success"
    assert again.connect() is None
    assert again.wait_ready(15)
    proxy.wait_topics({"NSE_INFY_LTP"}, after_ms=now_ms())
    assert again.disconnect() is None
    assert sim.stats()["logins"] == 1

    assert jainam_threads() == []
    wait_for(lambda: open_fds() <= baseline, 10, f"fds back to {baseline}")


def test_feed_token_handed_over_in_auth_data(
    simulator_thread: SimulatorThread, proxy: Proxy, tmp_path: Path
) -> None:
    sim = simulator_thread
    user = sim.credentials
    body = urllib.parse.urlencode(
        {"appKey": user.app_key, "secretKey": user.secret_key, "source": "WEBAPI"}
    ).encode()
    with urllib.request.urlopen(sim.base_url + "/auth/login", body, timeout=10) as resp:
        result = json.loads(resp.read())["result"]
    assert sim.stats()["logins"] == 1
    store = TokenStore(f"sqlite:///{tmp_path / 'platform.db'}", pepper=PEPPER)
    adapter = JainamPropWebSocketAdapter(zmq_address=proxy.address, environ={})
    try:
        out = adapter.initialize(
            "jainam_prop",
            "bob",
            {
                "base_url": sim.base_url,
                "api_key": user.app_key,
                "api_secret": user.secret_key,
                "store": store,
                "instrument_master": str(MASTER),
                "feed_token": result["token"],
                "feed_user_id": result["userID"],
            },
        )
        assert out is None
        assert adapter.subscribe("NIFTY", "NSE_INDEX", 2)["status"] == "success"
        assert adapter.connect() is None
        assert adapter.wait_ready(15)
        check_shape(*next(iter(proxy.wait_topics({"NSE_INDEX_NIFTY_QUOTE"}).items())))
        assert sim.stats()["logins"] == 1  # the platform's token was used, not a new login
    finally:
        adapter.disconnect()
        store.close()


def test_two_symbols_of_one_instrument_are_routed_separately(
    simulator_thread: SimulatorThread, proxy: Proxy, tmp_path: Path
) -> None:
    """``RELIANCE`` and the broker's ``RELIANCE-EQ`` share one XTS subscription; dropping
    one symbol keeps the instrument subscribed but stops that symbol's topic at once."""
    sim = simulator_thread
    adapter = make_adapter(proxy, sim_env(sim, tmp_path))
    assert adapter.subscribe("RELIANCE", "NSE", 1)["status"] == "success"
    assert adapter.subscribe("RELIANCE-EQ", "NSE", 1)["status"] == "success"
    assert adapter.connect() is None
    try:
        assert adapter.wait_ready(15)
        seen = proxy.wait_topics({"NSE_RELIANCE_LTP", "NSE_RELIANCE-EQ_LTP"})
        assert seen["NSE_RELIANCE-EQ_LTP"]["symbol"] == "RELIANCE-EQ"
        assert adapter.unsubscribe("RELIANCE-EQ", "NSE", 1)["status"] == "success"
        gone_at = now_ms()
        proxy.wait_topics({"NSE_RELIANCE_LTP"}, after_ms=gone_at)  # settle (ordered PUB)
        counts = {"NSE_RELIANCE_LTP": 0, "NSE_RELIANCE-EQ_LTP": 0}
        window_end = time.monotonic() + 0.5
        while time.monotonic() < window_end:
            item = proxy.recv(0.05)
            if item is not None:
                counts[item[0]] += 1
        assert counts["NSE_RELIANCE-EQ_LTP"] == 0 and counts["NSE_RELIANCE_LTP"] >= 2, counts
        assert (1, 2885) in sim.subscriptions().get(1512, set())
    finally:
        adapter.disconnect()


def test_exhausted_stream_is_not_connected_and_connect_revives_it(
    simulator_thread: SimulatorThread, proxy: Proxy, tmp_path: Path
) -> None:
    """When reconnecting gives up, ``connected`` turns False (the proxy's cue to re-create or
    re-connect); ``connect()`` revives the same adapter and its subscriptions."""
    sim = simulator_thread
    env = sim_env(sim, tmp_path) | {
        "JAINAM_BACKOFF_INITIAL": "0.05",
        "JAINAM_BACKOFF_MAX_ATTEMPTS": "2",
    }
    adapter = make_adapter(proxy, env)
    assert adapter.subscribe("INFY", "NSE", 1)["status"] == "success"
    assert adapter.connect() is None
    try:
        assert adapter.wait_ready(15)
        proxy.wait_topics({"NSE_INFY_LTP"})
        sim.go_down()
        stream = adapter.stream
        assert stream is not None
        assert stream.wait_state(State.EXHAUSTED, 15)
        assert not adapter.connected
        sim.come_up()
        assert adapter.connect() is None
        assert adapter.stream is stream  # revived, not rebuilt
        assert adapter.wait_ready(15) and adapter.connected
        proxy.wait_topics({"NSE_INFY_LTP"}, after_ms=now_ms())
    finally:
        adapter.disconnect()
