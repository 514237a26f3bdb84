"""No secret in any log record, repr, str or stats of the real adapter, through a run with
reconnects and token refreshes, with every logger (ours, python-socketio, python-engineio,
aiohttp, the root) at DEBUG.
"""

# ruff: noqa: F811  (the harness fixture is imported, then requested by name)
from __future__ import annotations

import json
import logging
import re
import time

import pytest

from tests.test_adapter_support import (
    A,
    B,
    C,
    Harness,
    RecordingTelemetry,
    TickLog,
    current_token,
    harness,  # noqa: F401  (fixture)
    keys,
    wait_for,
)

#: Loggers of the libraries under the adapter, set to DEBUG explicitly (python-socketio and
#: python-engineio would put their own loggers at ERROR; the adapter hands them its own
#: ``jainam_fsm.transport.*`` loggers, at WARNING by default).
LIBRARY_LOGGERS = (
    "jainam_fsm.transport.socketio",
    "jainam_fsm.transport.engineio",
    "socketio",
    "socketio.client",
    "engineio",
    "engineio.client",
    "aiohttp",
    "aiohttp.client",
    "websockets",
    "jainam_fsm",
)

#: A ``?token=<value>`` query string with a real value (redacted ones read ``token=***``).
TOKEN_QUERY = re.compile(r"(?i)[?&]token=(?!\*\*\*)[^&\s'\"]{4,}")
#: An Authorization header with a real value.
AUTH_HEADER = re.compile(r"(?i)authorization['\"]?\s*[:=]\s*['\"]?(?!\*\*\*)[^\s'\",}]{4,}")


def record_texts(record: logging.LogRecord) -> list[str]:
    """Everything a handler could print from a record."""
    out = [record.getMessage(), str(record.msg), repr(record.args)]
    fields = getattr(record, "fields", None)
    if fields is not None:
        out.append(json.dumps(fields, default=str))
    if record.exc_info:
        out.append(logging.Formatter().formatException(record.exc_info))
    if record.exc_text:
        out.append(record.exc_text)
    if record.stack_info:
        out.append(record.stack_info)
    out.append(repr(record.__dict__))
    return out


@pytest.mark.parametrize("harness", [{}, {"api": "binary"}], indirect=True, ids=["json", "binary"])
def test_no_secret_anywhere_through_reconnects_and_refreshes(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in LIBRARY_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    tel, ticks = RecordingTelemetry(), TickLog()
    adapter = harness.adapter(ticks, telemetry=tel)
    adapter.subscribe(*A)
    adapter.subscribe(*B)
    adapter.connect()
    assert adapter.wait_ready(10)
    texts: list[str] = []

    def snapshot() -> None:
        """repr/str of everything a user may print, at this point of the run."""
        token = current_token(adapter)
        record = harness.store.get_record("u")
        texts.extend(
            [
                repr(adapter),
                str(adapter),
                repr(adapter.config),
                str(adapter.config),
                repr(token),
                str(token),
                repr(record),
                str(record),
                repr(harness.store),
                json.dumps(adapter.stats(), default=str),
                repr(adapter.stats()),
                repr(adapter.registry),
                repr(adapter._tokens),
            ]
        )

    snapshot()
    # 1. transport error -> reconnect with the same token
    harness.sim.sever()
    wait_for(lambda: adapter.stats()["socket_connects"] == 2, what="reconnect after sever")
    assert adapter.wait_ready(10)
    # 2. logout event -> refresh at the socket
    harness.sim.invalidate_tokens(disconnect=True)
    wait_for(lambda: adapter.stats()["socket_connects"] == 3, what="reconnect after logout")
    assert adapter.wait_ready(10)
    snapshot()
    # 3. REST rejects the token -> refresh
    harness.sim.invalidate_tokens()
    adapter.subscribe(*C)
    wait_for(lambda: adapter.stats()["socket_connects"] == 4, what="reconnect after REST 0007")
    assert adapter.wait_ready(10)
    # 4. the socket handshake rejects the token -> refresh
    harness.sim.expire_tokens()
    harness.sim.sever()
    wait_for(lambda: adapter.stats()["socket_connects"] == 5, what="reconnect after expiry")
    assert adapter.wait_ready(10)
    snapshot()
    since = time.monotonic()
    wait_for(lambda: ticks.count(C, since) >= 2, what="ticks after the refreshes")
    assert harness.server_set() == keys(A, B, C)
    assert harness.sim.stats()["logins"] == 4
    adapter.shutdown()
    snapshot()

    tokens = set(harness.tokens)
    assert len(tokens) == 4  # one per login, each distinct
    secret = harness.sim.credentials.secret_key
    records = caplog.records
    assert len(records) > 50  # the scan saw a real run, library chatter included
    library = [r for r in records if r.name.endswith(("engineio", "socketio"))]
    # The library loggers did talk, socket URL included (redacted).
    assert any("Attempting WebSocket connection" in r.getMessage() for r in library)
    texts.extend(t for r in records for t in record_texts(r))
    texts.append(caplog.text)
    texts.extend(json.dumps(fields, default=str) for _, _, fields in tel.events)
    for text in texts:
        for token in tokens:
            assert token not in text
        assert secret not in text
        assert not TOKEN_QUERY.search(text), TOKEN_QUERY.search(text)
        assert not AUTH_HEADER.search(text), AUTH_HEADER.search(text)


def test_config_prefix_and_tls_settings() -> None:
    from jainam_fsm.streaming import AdapterConfig, StreamingAdapter

    c = AdapterConfig(
        base_url="http://127.0.0.1:9/apibinarymarketdata", app_key="k", secret_key="s" * 8
    )
    assert c.prefix == "/apibinarymarketdata" and c.socket_path == "/apibinarymarketdata/socket.io"
    c = AdapterConfig(
        base_url="http://127.0.0.1:9/other",
        app_key="k",
        secret_key="s" * 8,
        prefix="/apimarketdata",
    )
    assert c.prefix == "/apimarketdata"  # an explicit prefix wins, even the default value
    c = AdapterConfig(base_url="https://h:5000", app_key="k", secret_key="s" * 8, verify_tls=False)
    assert c.prefix == "/apimarketdata"
    adapter = StreamingAdapter(c)
    assert adapter._rest.verify_tls is False  # REST honours JAINAM_VERIFY_TLS, not only the socket
    adapter.shutdown()


def test_delivery_settings_are_validated() -> None:
    import pytest

    from jainam_fsm.errors import ConfigError
    from jainam_fsm.streaming import AdapterConfig

    base = {"base_url": "http://127.0.0.1:9", "app_key": "k", "secret_key": "s" * 8}
    with pytest.raises(ConfigError, match="delivery"):
        AdapterConfig(**base, delivery="fast")
    with pytest.raises(ConfigError, match="delivery_linger"):
        AdapterConfig(**base, delivery_linger=-1)
    env = {"JAINAM_BASE_URL": base["base_url"], "JAINAM_APP_KEY": "k", "JAINAM_SECRET_KEY": "s" * 8}
    with pytest.raises(ConfigError, match="JAINAM_DELIVERY_LINGER"):
        AdapterConfig.from_env({**env, "JAINAM_DELIVERY_LINGER": "soon"})
    assert AdapterConfig.from_env({**env, "JAINAM_DELIVERY": "inline"}).delivery == "inline"


def test_env_errors_name_the_right_variable() -> None:
    import pytest

    from jainam_fsm.errors import ConfigError
    from jainam_fsm.streaming import AdapterConfig

    env = {
        "JAINAM_BASE_URL": "http://127.0.0.1:9",
        "JAINAM_APP_KEY": "k",
        "JAINAM_SECRET_KEY": "s" * 8,
        "JAINAM_DELIVERY": "thread",
        "JAINAM_DELIVERY_LINGER": "5",
    }
    with pytest.raises(ConfigError) as err:
        AdapterConfig.from_env(env)
    assert str(err.value).startswith("JAINAM_DELIVERY_LINGER (delivery_linger):")
    with pytest.raises(ConfigError):
        AdapterConfig(base_url="http://h:1", app_key="k", secret_key="s" * 8, delivery_linger=True)
