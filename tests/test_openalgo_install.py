"""``jainam-fsm openalgo install`` into an OpenAlgo checkout, and OpenAlgo's factory loading it.

The checkout is a real git repository built in a temporary folder with the files the factory
touches, shaped like OpenAlgo's (docs/openalgo.md §1; restated in our words, not copied): a
``BaseBrokerWebSocketAdapter`` whose ``__init__`` opens a PUB socket connected to the bus and
sets ``connected``/``subscriptions``, and a ``create_broker_adapter`` that falls back to module
``broker.NAME.streaming.NAME_adapter`` and class ``NAME.capitalize() + "WebSocketAdapter"``.
After the install, that factory finds and streams through the adapter with no file of the
checkout's core changed (``git status`` proves it)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from jainam_fsm.cli import main
from jainam_fsm.commands.openalgo import CLASS_NAME, MODULE_PATH
from jainam_fsm.simulator import SimulatorThread
from tests.conftest import TEST_CONFIG
from tests.test_integrations_stream import MASTER, Proxy, check_shape, wait_for

BASE_ADAPTER = '''\
import json
import os
from abc import ABC, abstractmethod

import zmq


class BaseBrokerWebSocketAdapter(ABC):
    """Restated: the adapter's PUB connects to the proxy's SUB (the only binder)."""

    def __init__(self):
        self.context = zmq.Context.instance()
        self.socket = self.context.socket(zmq.PUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        host = os.getenv("ZMQ_HOST", "127.0.0.1")
        self.zmq_port = int(os.getenv("ZMQ_PORT", "5555"))
        self.socket.connect(f"tcp://{host}:{self.zmq_port}")
        self.subscriptions = {}
        self.connected = False
        self._zmq_cleaned_up = False

    @abstractmethod
    def initialize(self, broker_name, user_id, auth_data=None): ...

    @abstractmethod
    def subscribe(self, symbol, exchange, mode=2, depth_level=5): ...

    @abstractmethod
    def unsubscribe(self, symbol, exchange, mode=2): ...

    @abstractmethod
    def connect(self): ...

    @abstractmethod
    def disconnect(self): ...

    def publish_market_data(self, topic, data):
        self.socket.send_multipart([topic.encode(), json.dumps(data).encode()])

    def cleanup_zmq(self):
        if not self._zmq_cleaned_up and self.socket is not None:
            self.socket.close(linger=0)
            self._zmq_cleaned_up = True
'''

BROKER_FACTORY = '''\
import importlib

BROKER_ADAPTERS = {}


def register_adapter(broker_name, adapter_class):
    BROKER_ADAPTERS[broker_name.lower()] = adapter_class


def create_broker_adapter(broker_name):
    """Restated: registered class, else broker.NAME.streaming.NAME_adapter / NameWebSocketAdapter."""
    broker_name = broker_name.lower()
    if broker_name in BROKER_ADAPTERS:
        return BROKER_ADAPTERS[broker_name]()
    module = importlib.import_module(f"broker.{broker_name}.streaming.{broker_name}_adapter")
    adapter_class = getattr(module, f"{broker_name.capitalize()}WebSocketAdapter")
    register_adapter(broker_name, adapter_class)
    return adapter_class()
'''


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True, timeout=60
    ).stdout


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "openalgo"
    files = {
        "websocket_proxy/__init__.py": "",
        "websocket_proxy/base_adapter.py": BASE_ADAPTER,
        "websocket_proxy/broker_factory.py": BROKER_FACTORY,
        "broker/jainamxts/streaming/__init__.py": "",
        "broker/jainamxts/plugin.json": '{"Plugin Name": "jainamxts"}\n',
    }
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "core")
    return root


def test_dry_run_prints_the_diff_and_writes_nothing(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["openalgo", "install", str(checkout), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"+++ b/{MODULE_PATH}" in out and f"+class {CLASS_NAME}(" in out
    assert git(checkout, "status", "--porcelain") == ""


def test_install_is_idempotent_and_refuses_local_changes(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["openalgo", "install", str(checkout)]) == 0
    status = git(checkout, "status", "--porcelain", "--untracked-files=all").splitlines()
    # Only new files under broker/jainam_prop/: nothing of OpenAlgo's core changed.
    assert status and all(line.startswith("?? broker/jainam_prop/") for line in status), status
    capsys.readouterr()
    assert main(["openalgo", "install", str(checkout)]) == 0
    assert all(line.startswith("unchanged") for line in capsys.readouterr().out.splitlines())

    module = checkout / MODULE_PATH
    module.write_text(module.read_text() + "# a local fix\n")
    before = module.read_text()
    assert main(["openalgo", "install", str(checkout)]) == 1
    assert "has local changes" in capsys.readouterr().err
    assert module.read_text() == before
    assert main(["openalgo", "install", str(checkout), "--dry-run"]) == 1


def test_not_a_checkout_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["openalgo", "install", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not an OpenAlgo checkout" in err


@pytest.fixture
def openalgo_on_path(checkout: Path) -> Iterator[Path]:
    assert main(["openalgo", "install", str(checkout)]) == 0
    sys.path.insert(0, str(checkout))
    try:
        yield checkout
    finally:
        sys.path.remove(str(checkout))
        for name in list(sys.modules):
            if name.split(".")[0] in ("websocket_proxy", "broker"):
                del sys.modules[name]


def test_adapter_class_subclasses_openalgos_base_when_importable(openalgo_on_path: Path) -> None:
    import importlib

    from jainam_fsm.integrations import JainamPropWebSocketAdapter, openalgo_adapter_class

    base = importlib.import_module("websocket_proxy.base_adapter").BaseBrokerWebSocketAdapter
    cls = openalgo_adapter_class()
    assert cls.__name__ == CLASS_NAME and issubclass(cls, base)
    assert issubclass(cls, JainamPropWebSocketAdapter)
    module = importlib.import_module("broker.jainam_prop.streaming.jainam_prop_adapter")
    installed = getattr(module, CLASS_NAME)
    assert installed.__mro__[1] is JainamPropWebSocketAdapter and issubclass(installed, base)


def test_without_openalgo_the_adapter_stands_alone() -> None:
    from jainam_fsm.integrations import JainamPropWebSocketAdapter, openalgo_adapter_class

    assert openalgo_adapter_class() is JainamPropWebSocketAdapter


def test_openalgos_factory_loads_and_streams_through_the_installed_adapter(
    openalgo_on_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    factory = importlib.import_module("websocket_proxy.broker_factory")
    base = importlib.import_module("websocket_proxy.base_adapter").BaseBrokerWebSocketAdapter
    proxy = Proxy()
    with SimulatorThread(TEST_CONFIG) as sim:
        port = proxy.address.rsplit(":", 1)[1]
        monkeypatch.setenv("ZMQ_PORT", port)
        monkeypatch.setenv("BROKER_API_KEY_MARKET", sim.credentials.app_key)
        monkeypatch.setenv("BROKER_API_SECRET_MARKET", sim.credentials.secret_key)
        # No OpenAlgo database in this checkout: the adapter's own token store serves.
        monkeypatch.setenv("JAINAM_DATABASE_URL", f"sqlite:///{openalgo_on_path / 'tokens.db'}")
        monkeypatch.setenv("JAINAM_TOKEN_PEPPER", "install-test-pepper-0123456789abcdef")
        adapter = factory.create_broker_adapter("jainam_prop")
        try:
            assert type(adapter).__name__ == CLASS_NAME and isinstance(adapter, base)
            assert adapter.connected is False and adapter.zmq_port == int(port)
            host_socket = adapter.socket
            auth = {
                "base_url": sim.base_url,
                "instrument_master": str(MASTER),
            }
            assert adapter.initialize("jainam_prop", "alice", auth) is None
            assert adapter.connect() is None
            assert adapter.socket is host_socket  # published through the base's socket
            assert adapter.subscribe("INFY", "NSE", 2)["status"] == "success"
            assert adapter.wait_ready(15)
            for topic, payload in proxy.wait_topics({"NSE_INFY_QUOTE"}).items():
                check_shape(topic, payload)
            # Counted just after the send returns: poll, the SUB may have it first.
            wait_for(lambda: adapter.stats()["published"] > 0, 10, "the publish count")
        finally:
            adapter.disconnect()
            proxy.close()
    assert adapter.socket is None and adapter._zmq_cleaned_up


AUTH_DB = """\
ROWS = {"alice": {"auth": "broker-token", "feed_token": "feed-1", "user_id": "UID1"}}
CALLS = []


def get_auth_token(name, bypass_cache=False):
    return ROWS.get(name, {}).get("auth")


def get_feed_token(name):
    return ROWS.get(name, {}).get("feed_token")


def get_user_id(name):
    return ROWS.get(name, {}).get("user_id")


def upsert_auth(name, auth_token, broker, feed_token=None, user_id=None, revoke=False):
    CALLS.append((name, auth_token, broker, feed_token, user_id))
    ROWS[name] = {"auth": auth_token, "feed_token": feed_token, "user_id": user_id}
    return 1


def invalidate_user_cache(user_id):
    CALLS.append(("invalidate", user_id))
"""

TOKEN_DB = """\
TOKENS = {("INFY", "NSE"): "1594", ("NIFTY", "NSE_INDEX"): "26000"}


def get_token(symbol, exchange):
    return TOKENS.get((symbol, exchange))


def get_symbol(token, exchange):
    return {v: k[0] for k, v in TOKENS.items() if k[1] == exchange}.get(token)
"""


def test_hooks_default_to_openalgos_helpers(openalgo_on_path: Path) -> None:
    """Inside a checkout with OpenAlgo's database modules (restated: same names and
    signatures), the adapter's hooks call them; a refreshed token goes back via upsert_auth
    with the broker token unchanged."""
    import importlib

    from jainam_fsm.integrations import OpenAlgoHooks, TokenDbResolver

    db = openalgo_on_path / "database"
    db.mkdir()
    (db / "__init__.py").write_text("")
    (db / "auth_db.py").write_text(AUTH_DB)
    (db / "token_db.py").write_text(TOKEN_DB)
    try:
        hooks = OpenAlgoHooks.from_openalgo()
        assert hooks.get_feed_token is not None and hooks.get_user_id is not None
        assert hooks.get_feed_token("alice") == "feed-1" and hooks.get_user_id("alice") == "UID1"
        assert hooks.store_feed_token is not None and hooks.clear_cache is not None
        hooks.store_feed_token("alice", "feed-2", "UID2")
        hooks.clear_cache("alice")
        auth = importlib.import_module("database.auth_db")
        assert auth.CALLS == [
            ("alice", "broker-token", "jainam_prop", "feed-2", "UID2"),
            ("invalidate", "alice"),
        ]
        assert hooks.get_token is not None
        resolver = TokenDbResolver(hooks.get_token, hooks.get_symbol)
        assert resolver.resolve("INFY", "NSE") == (1, 1594)
        assert resolver.resolve("NIFTY", "NSE_INDEX") == (1, 26000)
        assert resolver.resolve("TCS", "NSE") is None
        assert resolver.reverse(1, 1594) == ("INFY", "NSE")
    finally:
        for name in list(sys.modules):
            if name.split(".")[0] == "database":
                del sys.modules[name]


def test_hooks_stay_empty_outside_openalgo() -> None:
    from jainam_fsm.integrations import OpenAlgoHooks

    hooks = OpenAlgoHooks.from_openalgo()
    assert not hooks.has_tokens and not hooks.has_symbols
