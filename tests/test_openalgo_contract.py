"""OpenAlgo's proxy call sequences replayed against the adapter, end to end.

The proxy's side is a ZeroMQ SUB bound the way OpenAlgo's proxy binds it (the only binder; the
adapter's PUB connects). OpenAlgo's auth database is an in-memory stand-in behind the adapter's
injectable hooks; its connection pool is restated (``MiniPool``: it replaces
``publish_market_data`` with a shared publisher and disables ``cleanup_zmq`` while it
disconnects, as OpenAlgo's ``ConnectionPool`` does, docs/openalgo.md §1). Every sequence runs on
the JSON and the binary API against the real simulator, across a sever and a token
invalidation."""

from __future__ import annotations

import json
import logging
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import zmq

from jainam_fsm.integrations import JainamPropWebSocketAdapter
from jainam_fsm.integrations.openalgo import OpenAlgoHooks
from jainam_fsm.simulator import SimulatorThread
from tests.conftest import TEST_CONFIG
from tests.test_integrations_stream import MASTER, Proxy, check_shape, now_ms, wait_for

TOPICS = {"NSE_RELIANCE_LTP", "NSE_INFY_QUOTE", "NSE_INDEX_NIFTY_DEPTH"}
SUBS = [("RELIANCE", "NSE", 1), ("INFY", "NSE", 2), ("NIFTY", "NSE_INDEX", 3)]


@pytest.fixture(params=[("json", 4), ("binary", 3)], ids=["json-eio4", "binary-eio3"])
def sim(request: pytest.FixtureRequest) -> Iterator[SimulatorThread]:
    api, eio = request.param
    with SimulatorThread(replace(TEST_CONFIG, api=api, eio=eio)) as s:
        yield s


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    p = Proxy()
    yield p
    p.close()


class AuthDb:
    """OpenAlgo's auth table for one user, in memory: feed token, login user id, caches."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[str | None, str | None]] = {}
        self.stored: list[tuple[str, str]] = []
        self.cleared: list[str] = []

    def hooks(self) -> OpenAlgoHooks:
        return OpenAlgoHooks(
            get_feed_token=lambda u: self.rows.get(u, (None, None))[0],
            get_user_id=lambda u: self.rows.get(u, (None, None))[1],
            store_feed_token=self.store,
            clear_cache=self.cleared.append,
        )

    def store(self, user: str, token: str, uid: str) -> None:
        self.rows[user] = (token, uid)
        self.stored.append((user, token))


def platform_login(sim: SimulatorThread) -> tuple[str, str]:
    """OpenAlgo's own market-data login (its broker login stores the result)."""
    user = sim.credentials
    body = urllib.parse.urlencode(
        {"appKey": user.app_key, "secretKey": user.secret_key, "source": "WEBAPI"}
    ).encode()
    with urllib.request.urlopen(sim.base_url + "/auth/login", body, timeout=10) as resp:
        result = json.loads(resp.read())["result"]
    return str(result["token"]), str(result["userID"])


def openalgo_env(sim: SimulatorThread, proxy: Proxy) -> dict[str, str]:
    """An OpenAlgo deployment's environment: its market credentials, its ZMQ bus."""
    host, port = proxy.address.removeprefix("tcp://").rsplit(":", 1)
    return {
        "BROKER_API_KEY_MARKET": sim.credentials.app_key,
        "BROKER_API_SECRET_MARKET": sim.credentials.secret_key,
        "JAINAM_BASE_URL": sim.base_url,
        # Jainam Prop's preset (binary API) where the simulator serves the binary API.
        "JAINAM_BROKER": "jainam-prop" if "binary" in sim.base_url else "xts",
        "JAINAM_INSTRUMENT_MASTER": str(MASTER),
        "JAINAM_BACKOFF_INITIAL": "0.2",
        "ZMQ_HOST": host,
        "ZMQ_PORT": port,
    }


def make(sim: SimulatorThread, proxy: Proxy, db: AuthDb) -> JainamPropWebSocketAdapter:
    return JainamPropWebSocketAdapter(environ=openalgo_env(sim, proxy), hooks=db.hooks())


def is_error(result: Any) -> bool:
    """How OpenAlgo's proxy and pool read a lifecycle result."""
    return isinstance(result, dict) and (
        result.get("status") == "error" or result.get("success") is False
    )


class MiniPool:
    """OpenAlgo's connection pool, restated: one shared PUB (connected to the bus), adapters
    whose ``publish_market_data`` is replaced, ``cleanup_zmq`` disabled while disconnecting."""

    def __init__(self, factory: Any, address: str) -> None:
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.PUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(address)
        self.sent = 0
        self.adapter = factory()

        def shared_publish(topic: str, data: dict[str, Any]) -> None:
            self.socket.send_multipart([topic.encode(), json.dumps(data).encode()])
            self.sent += 1

        self.adapter.publish_market_data = shared_publish
        self.adapter._uses_shared_zmq = True

    def disconnect(self) -> None:
        original = self.adapter.cleanup_zmq
        self.adapter.cleanup_zmq = lambda: None
        try:
            self.adapter.disconnect()
        finally:
            self.adapter.cleanup_zmq = original

    def close(self) -> None:
        self.socket.close(linger=0)
        self.context.term()


def stream_through_faults(sim: SimulatorThread, proxy: Proxy, adapter: Any) -> None:
    """Ticks of every topic, then again after a sever and after a token invalidation."""
    for symbol, exchange, mode in SUBS:
        assert adapter.subscribe(symbol, exchange, mode, 5)["status"] == "success"
    assert adapter.wait_ready(15)
    for topic, payload in proxy.wait_topics(TOPICS).items():
        check_shape(topic, payload)
    logins = sim.stats()["logins"]
    assert sim.sever() >= 1
    for topic, payload in proxy.wait_topics(TOPICS, after_ms=now_ms()).items():
        check_shape(topic, payload)
    assert sim.stats()["logins"] == logins  # the stored token was reused
    assert sim.invalidate_tokens(disconnect=True) >= 1
    wait_for(lambda: sim.stats()["logins"] == logins + 1, 15, "one fresh login")
    for topic, payload in proxy.wait_topics(TOPICS, after_ms=now_ms()).items():
        check_shape(topic, payload)
    assert sim.stats()["logins"] == logins + 1


def test_pooling_off_reuses_openalgos_token_and_stores_the_refreshed_one(
    sim: SimulatorThread,
    proxy: Proxy,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG, logger="jainam_fsm")
    db = AuthDb()
    token, uid = platform_login(sim)
    db.rows["alice"] = (token, uid)
    adapter = make(sim, proxy, db)
    assert adapter.connected is False  # settable attribute, False before connect
    result = adapter.initialize("jainam_prop", "alice")
    assert not is_error(result)
    assert not is_error(adapter.connect())
    try:
        assert adapter.socket is not None and adapter.zmq_port == int(
            proxy.address.rsplit(":", 1)[1]
        )
        stream_through_faults(sim, proxy, adapter)
        assert sim.stats()["logins"] == 2  # OpenAlgo's one, then one for the invalidated token
        assert [u for u, _ in db.stored] == ["alice"]  # the refreshed token went back
        assert db.rows["alice"][0] != token

        # unsubscribe_all: everything stops, the feed stays up.
        assert adapter.unsubscribe_all()["status"] == "success"
        assert adapter.subscriptions == {}
        wait_for(lambda: not any(sim.subscriptions().values()), 10, "server-side unsubscribe")
        assert adapter.connected
    finally:
        assert adapter.disconnect() is None
        adapter.cleanup_zmq()  # the proxy calls it after disconnect: idempotent
    assert adapter.socket is None and not adapter.connected
    text = caplog.text + capsys.readouterr().err + repr(adapter)
    for secret in (token, db.rows["alice"][0], sim.credentials.secret_key):
        assert secret not in text


def test_pooling_on_publishes_through_the_pools_publisher(
    sim: SimulatorThread, proxy: Proxy
) -> None:
    db = AuthDb()
    db.rows["alice"] = platform_login(sim)
    pool = MiniPool(lambda: make(sim, proxy, db), proxy.address)
    adapter = pool.adapter
    try:
        assert not is_error(adapter.initialize("jainam_prop", "alice"))
        assert not is_error(adapter.connect())
        assert adapter.socket is None  # no PUB of its own: the pool's is used
        stream_through_faults(sim, proxy, adapter)
        assert sim.stats()["logins"] == 2
        pool.disconnect()  # joins the delivery thread: the counts below are final
        assert not adapter.connected
        assert pool.sent > 0 and adapter.stats()["published"] == pool.sent
    finally:
        adapter.disconnect()
        pool.close()


def test_auth_error_paths_and_forced_reinitialisation(sim: SimulatorThread, proxy: Proxy) -> None:
    db = AuthDb()
    adapter = make(sim, proxy, db)
    # The proxy's error path: an auth error clears the caches and retries with force=True.
    failed = adapter.initialize("jainam_prop", "alice", {"status": "error"})
    assert is_error(failed) and adapter.is_auth_error(failed["message"])
    assert adapter.is_auth_error("HTTP 401 Unauthorized") and not adapter.is_auth_error("timeout")
    adapter.clear_auth_cache_for_user("alice")
    assert db.cleared == ["alice"]
    # No stored token at all: one login, stored back through the hook.
    assert not is_error(adapter.initialize("jainam_prop", "alice", force=True))
    assert db.cleared == ["alice", "alice"]
    assert not is_error(adapter.connect())
    try:
        assert adapter.subscribe("INFY", "NSE", 2)["status"] == "success"
        assert adapter.wait_ready(15)
        proxy.wait_topics({"NSE_INFY_QUOTE"})
        assert sim.stats()["logins"] == 1 and len(db.stored) == 1
        # Forced re-initialisation of a live adapter: wants kept, token reused, ticks resume.
        assert not is_error(adapter.initialize("jainam_prop", "alice", force=True))
        assert not is_error(adapter.connect())
        assert adapter.wait_ready(15)
        proxy.wait_topics({"NSE_INFY_QUOTE"}, after_ms=now_ms())
        assert sim.stats()["logins"] == 1  # no second login while OpenAlgo's token is valid
    finally:
        adapter.disconnect()


def test_handed_over_token_without_user_id_is_not_used_blindly(
    sim: SimulatorThread, proxy: Proxy
) -> None:
    """A feed token without the login's userID cannot open the socket (the JWT's user claim is
    not it): the adapter logs in once instead of ending exhausted."""
    db = AuthDb()
    token, _ = platform_login(sim)
    adapter = make(sim, proxy, db)
    assert adapter.initialize("jainam_prop", "alice", {"feed_token": token}) is None
    assert adapter.connect() is None
    try:
        assert adapter.subscribe("INFY", "NSE", 2)["status"] == "success"
        assert adapter.wait_ready(15)
        proxy.wait_topics({"NSE_INFY_QUOTE"})
        assert sim.stats()["logins"] == 2
    finally:
        adapter.disconnect()


def test_index_and_open_interest_are_published(sim: SimulatorThread, proxy: Proxy) -> None:
    """1504 (index value and OHLC) goes out under the index's LTP/QUOTE topics, 1510 as the
    ``oi`` of a derivative's QUOTE/DEPTH payloads. The binary API has no public 1504 layout
    (its 1504 packets are opaque), so there the index is served by 1501/1512 alone."""
    db = AuthDb()
    adapter = make(sim, proxy, db)
    assert adapter.initialize("jainam_prop", "alice") is None
    future, index = ("NIFTY29DEC26FUT", "NFO", 2), ("NIFTY", "NSE_INDEX", 1)
    for symbol, exchange, mode in (future, index):
        assert adapter.subscribe(symbol, exchange, mode)["status"] == "success"
    assert adapter.connect() is None
    try:
        assert adapter.wait_ready(15)
        assert {(2, 35001)} <= sim.subscriptions().get(1510, set())
        wait_for(lambda: adapter.published_by_code[1510] > 0, 15, "an open-interest update")
        topic = "NFO_NIFTY29DEC26FUT_QUOTE"
        quote = proxy.wait_topics({topic}, after_ms=now_ms())[topic]
        assert isinstance(quote["oi"], int) and quote["oi"] >= 0  # only once a 1510 came
        if "binary" not in sim.base_url:
            wait_for(lambda: adapter.published_by_code[1504] > 0, 15, "an index message")
        check_shape(*next(iter(proxy.wait_topics({"NSE_INDEX_NIFTY_LTP"}).items())))
    finally:
        adapter.disconnect()
