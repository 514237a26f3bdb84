"""End to end: the adapter's default token store never sends server A's token anywhere else.

Real adapter, real simulator, real SQLite store (through ``JAINAM_DATABASE_URL``, the path users
get), and a plain TCP listener on 127.0.0.1 posing as another server: we read every byte it
receives and look for the token.
"""

from __future__ import annotations

import socket
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from jainam_fsm.simulator import SimulatorThread, SimUser
from jainam_fsm.simulator.config import throwaway_user
from jainam_fsm.store import TokenBinding, TokenStore
from jainam_fsm.streaming import AdapterConfig, StreamingAdapter
from tests.conftest import TEST_CONFIG
from tests.test_adapter_support import FAST_BACKOFF, wait_for

PEPPER = "binding-test-pepper-0123456789-abcdefgh"


class Listener:
    """A plain TCP listener on 127.0.0.1 that records every byte and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._data = bytearray()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-listener", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with self._lock:
                self.connections += 1
            conn.settimeout(0.3)
            try:
                while True:  # read until the client goes quiet, then hang up without a word
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    with self._lock:
                        self._data += chunk
            except OSError:
                pass
            finally:
                conn.close()

    @property
    def data(self) -> bytes:
        with self._lock:
            return bytes(self._data)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def env_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'tokens.db'}"
    monkeypatch.setenv("JAINAM_DATABASE_URL", url)
    monkeypatch.setenv("JAINAM_TOKEN_PEPPER", PEPPER)
    yield url


def _config(base_url: str, user: SimUser, **extra: Any) -> AdapterConfig:
    values: dict[str, Any] = {
        "base_url": base_url,
        "app_key": user.app_key,
        "secret_key": user.secret_key,
        "user": "desk",
        "connect_timeout": 3.0,
        "request_timeout": 2.0,
        "join_timeout": 3.0,
        "backoff": FAST_BACKOFF,
    }
    values.update(extra)
    return AdapterConfig(**values)


def _stream_once(config: AdapterConfig) -> None:
    """Connect with the adapter's default (bound) token source until ready, then shut down."""
    adapter = StreamingAdapter(config)
    try:
        adapter.subscribe(1, 22, 1501)
        adapter.connect()
        assert adapter.wait_ready(timeout=20), adapter.stats()
    finally:
        adapter.shutdown()


def _stored(url: str, config: AdapterConfig) -> str:
    with TokenStore(url, pepper=PEPPER) as store:
        token = store.get_feed_token("desk", binding=TokenBinding.for_config(config))
    assert token
    return token


def test_token_of_server_a_never_reaches_another_server(env_store: str) -> None:
    sim = SimulatorThread(TEST_CONFIG).start()
    listener = Listener()
    try:
        config_a = _config(sim.base_url, sim.credentials)
        _stream_once(config_a)
        token_a = _stored(env_store, config_a)
        assert sim.stats()["logins"] == 1

        # Same user, app key and secret; only the server differs (another port on loopback).
        other = _config(
            f"http://127.0.0.1:{listener.port}/apimarketdata", sim.credentials, request_timeout=0.5
        )
        adapter = StreamingAdapter(other)
        try:
            adapter.subscribe(1, 22, 1501)
            adapter.connect()
            # It talks to the listener, more than once (retries), with whatever it would send.
            wait_for(lambda: listener.connections >= 3, 20, "attempts at the listener")
        finally:
            adapter.shutdown()
        received = listener.data
        for form in {token_a, urllib.parse.quote(token_a, safe=""), urllib.parse.quote(token_a)}:
            assert form.encode() not in received, "server A's token was sent to another server"
        assert b"socket.io" not in received  # no socket was opened with any token
        assert b"POST /apimarketdata/auth/login" in received  # it logged in there instead
        # Server A's row is untouched, and server A's token still works there: zero new logins.
        assert _stored(env_store, config_a) == token_a
        _stream_once(config_a)
        assert sim.stats()["logins"] == 1
    finally:
        listener.close()
        sim.stop()


def test_another_app_key_or_secret_logs_in_instead_of_reusing(env_store: str) -> None:
    u1, u2 = throwaway_user("SIM001"), throwaway_user("SIM002")
    sim = SimulatorThread(replace(TEST_CONFIG, users=(u1, u2))).start()
    try:
        c1, c2 = _config(sim.base_url, u1), _config(sim.base_url, u2)
        _stream_once(c1)
        _stream_once(c1)
        assert sim.stats()["logins"] == 1  # same binding: the stored token is reused
        _stream_once(c2)
        assert sim.stats()["logins"] == 2  # another app key: a login of its own
        assert _stored(env_store, c1) != _stored(env_store, c2)
        _stream_once(c1)
        assert sim.stats()["logins"] == 2  # u1's row is still there and still valid

        # u1's app key with a different secret: the fingerprint differs, so a login is tried
        # (and refused by the server) instead of silently reusing the token of the old secret.
        wrong = replace(u1, secret_key="Wrong" + u1.secret_key)
        exhausted: list[str] = []
        adapter = StreamingAdapter(_config(sim.base_url, wrong), on_exhausted=exhausted.append)
        try:
            adapter.subscribe(1, 22, 1501)
            adapter.connect()
            wait_for(lambda: sim.stats()["login_failures"] >= 1, 20, "a refused login")
            wait_for(lambda: exhausted, 20, "the adapter to give up on rejected credentials")
        finally:
            adapter.shutdown()
        assert sim.stats()["logins"] == 2
        assert sim.stats()["socket_connects"] == 4  # the wrong secret never opened a socket
    finally:
        sim.stop()
