"""Bad configuration through both doors: ``AdapterConfig(...)`` and ``AdapterConfig.from_env()``.

Every bad input must give exactly one :class:`ConfigError` (never AttributeError, TypeError or
a traceback from deeper down), on one line, naming the field (and the variable when it came from
the environment), and never echoing the rejected value.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from jainam_fsm.core.backoff import BackoffPolicy
from jainam_fsm.errors import ConfigError
from jainam_fsm.streaming import AdapterConfig
from jainam_fsm.streaming.config import RULES
from jainam_fsm.telemetry import REDACTOR

GOOD: dict[str, Any] = {
    "base_url": "http://127.0.0.1:9",
    "app_key": "app-key-1",
    "secret_key": "secret-key-1",
}
GOOD_ENV = {
    "JAINAM_BASE_URL": GOOD["base_url"],
    "JAINAM_APP_KEY": GOOD["app_key"],
    "JAINAM_SECRET_KEY": GOOD["secret_key"],
}

#: (field, bad value) for the constructor.
BAD_ARGS: list[tuple[str, Any]] = [
    ("base_url", 123),
    ("base_url", None),
    ("base_url", b"http://127.0.0.1:9"),
    ("base_url", ""),
    ("base_url", "127.0.0.1:9"),
    ("base_url", "ftp://127.0.0.1:9"),
    ("base_url", "ws://127.0.0.1:9"),
    ("base_url", "http://"),
    ("base_url", "http://:8080"),
    ("base_url", "http://host:99999"),
    ("base_url", "http://127.0.0.1:0"),
    ("base_url", "http://127.0.0.1:65536"),
    ("base_url", "http://127.0.0.1:-1"),
    ("base_url", "http://127.0.0.1:port"),
    ("base_url", "http://127.0.0.1:"),
    ("base_url", "http://[::1"),
    ("base_url", "http://user:pw@127.0.0.1:9"),
    ("base_url", "http://127.0.0.1:9/?x=1"),
    ("base_url", "http://127.0.0.1:9/#frag"),
    ("base_url", "http://127.0.0.1:9/a b"),
    ("base_url", "http://127.0.0.1:9\n"),
    ("base_url", "http://example.com:9"),
    ("base_url", "http://10.0.0.1:9"),
    ("base_url", "https://" + "h" * 3000),
    ("app_key", ""),
    ("app_key", None),
    ("app_key", 42),
    ("app_key", "key with space"),
    ("app_key", "key\nnewline"),
    ("app_key", "k" * 1025),
    ("secret_key", ""),
    ("secret_key", None),
    ("secret_key", 12345678),
    ("secret_key", "secret\x00nul"),
    ("secret_key", ["s"]),
    ("prefix", 5),
    ("prefix", ""),
    ("prefix", "/api?x=1"),
    ("prefix", "/api#x"),
    ("prefix", "/a b"),
    ("socket_path", 5),
    ("socket_path", "/socket.io?EIO=4"),
    ("socket_path", ""),
    ("user", ""),
    ("user", None),
    ("user", 7),
    ("user", "u" * 256),
    ("user", "tab\tuser"),
    ("source", ""),
    ("source", 1),
    ("source", "s" * 65),
    ("broadcast_mode", "Both"),
    ("broadcast_mode", 1),
    ("broadcast_mode", None),
    ("stall_timeout", math.inf),
    ("stall_timeout", -math.inf),
    ("stall_timeout", math.nan),
    ("stall_timeout", 0),
    ("stall_timeout", -1),
    ("stall_timeout", 1e308),
    ("stall_timeout", True),
    ("stall_timeout", "60"),
    ("stall_timeout", None),
    ("stall_timeout", 10**400),
    ("connect_timeout", math.inf),
    ("connect_timeout", math.nan),
    ("connect_timeout", 0.0),
    ("connect_timeout", 601),
    ("connect_timeout", False),
    ("request_timeout", math.inf),
    ("request_timeout", 1e308),
    ("request_timeout", -0.5),
    ("request_timeout", "10"),
    ("join_timeout", math.nan),
    ("join_timeout", 0),
    ("join_timeout", 10_000),
    ("join_timeout", [5]),
    ("require_joined", 1),
    ("require_joined", "yes"),
    ("require_joined", None),
    ("batch", 0),
    ("batch", -5),
    ("batch", 1.5),
    ("batch", 50.0),
    ("batch", True),
    ("batch", 10**6),
    ("batch", "50"),
    ("queue_size", 0),
    ("queue_size", 10**9),
    ("queue_size", 3.0),
    ("queue_size", None),
    ("verify_tls", 0),
    ("verify_tls", "false"),
    ("allow_insecure_http", 1),
    ("allow_insecure_http", "true"),
    ("refresh_margin", math.nan),
    ("refresh_margin", math.inf),
    ("refresh_margin", -1),
    ("refresh_margin", 1e308),
    ("refresh_margin", True),
    ("snapshot_on_already", "no"),
    ("snapshot_on_already", 0),
    ("delivery", "fast"),
    ("delivery", "Thread"),
    ("delivery", None),
    ("delivery_linger", -0.001),
    ("delivery_linger", 2),
    ("delivery_linger", math.nan),
    ("delivery_linger", True),
    ("backoff", None),
    ("backoff", {"initial": 1}),
]

#: (variable, field, bad text) for the environment.
BAD_ENV: list[tuple[str, str, str]] = [
    ("JAINAM_BASE_URL", "base_url", "not a url"),
    ("JAINAM_BASE_URL", "base_url", "127.0.0.1:9"),
    ("JAINAM_BASE_URL", "base_url", "ftp://127.0.0.1:9"),
    ("JAINAM_BASE_URL", "base_url", "http://host:99999"),
    ("JAINAM_BASE_URL", "base_url", "http://127.0.0.1:0"),
    ("JAINAM_BASE_URL", "base_url", "http://[::1"),
    ("JAINAM_BASE_URL", "base_url", "http://user:pw@127.0.0.1:9"),
    ("JAINAM_BASE_URL", "base_url", "http://127.0.0.1:9/?token=abc"),
    ("JAINAM_BASE_URL", "base_url", "http://example.com"),
    ("JAINAM_BASE_URL", "base_url", "http://192.168.1.10:8080"),
    ("JAINAM_APP_KEY", "app_key", "two words"),
    ("JAINAM_APP_KEY", "app_key", "k" * 2000),
    ("JAINAM_SECRET_KEY", "secret_key", "has space inside"),
    ("JAINAM_PREFIX", "prefix", "/api?q=1"),
    ("JAINAM_SOCKET_PATH", "socket_path", "/s#x"),
    ("JAINAM_USER", "user", "u" * 300),
    ("JAINAM_USER", "user", "two words"),
    ("JAINAM_SOURCE", "source", "s" * 100),
    ("JAINAM_BROADCAST_MODE", "broadcast_mode", "Everything"),
    ("JAINAM_BROADCAST_MODE", "broadcast_mode", "1"),
    ("JAINAM_STALL_TIMEOUT", "stall_timeout", "inf"),
    ("JAINAM_STALL_TIMEOUT", "stall_timeout", "-inf"),
    ("JAINAM_STALL_TIMEOUT", "stall_timeout", "nan"),
    ("JAINAM_STALL_TIMEOUT", "stall_timeout", "1e308"),
    ("JAINAM_STALL_TIMEOUT", "stall_timeout", "0"),
    ("JAINAM_STALL_TIMEOUT", "stall_timeout", "-3"),
    ("JAINAM_STALL_TIMEOUT", "stall_timeout", "soon"),
    ("JAINAM_STALL_TIMEOUT", "stall_timeout", "60s"),
    ("JAINAM_CONNECT_TIMEOUT", "connect_timeout", "infinity"),
    ("JAINAM_CONNECT_TIMEOUT", "connect_timeout", "0"),
    ("JAINAM_CONNECT_TIMEOUT", "connect_timeout", "1e9"),
    ("JAINAM_REQUEST_TIMEOUT", "request_timeout", "inf"),
    ("JAINAM_REQUEST_TIMEOUT", "request_timeout", "1e308"),
    ("JAINAM_REQUEST_TIMEOUT", "request_timeout", "ten"),
    ("JAINAM_JOIN_TIMEOUT", "join_timeout", "NaN"),
    ("JAINAM_JOIN_TIMEOUT", "join_timeout", "-0.1"),
    ("JAINAM_REQUIRE_JOINED", "require_joined", "maybe"),
    ("JAINAM_REQUIRE_JOINED", "require_joined", "2"),
    ("JAINAM_SUBSCRIBE_BATCH", "batch", "0"),
    ("JAINAM_SUBSCRIBE_BATCH", "batch", "1.5"),
    ("JAINAM_SUBSCRIBE_BATCH", "batch", "many"),
    ("JAINAM_SUBSCRIBE_BATCH", "batch", "99999999"),
    ("JAINAM_QUEUE_SIZE", "queue_size", "-1"),
    ("JAINAM_QUEUE_SIZE", "queue_size", "1e3"),
    ("JAINAM_QUEUE_SIZE", "queue_size", "100000000000"),
    ("JAINAM_VERIFY_TLS", "verify_tls", "perhaps"),
    ("JAINAM_ALLOW_INSECURE_HTTP", "allow_insecure_http", "please"),
    ("JAINAM_TOKEN_REFRESH_MARGIN", "refresh_margin", "nan"),
    ("JAINAM_TOKEN_REFRESH_MARGIN", "refresh_margin", "-5"),
    ("JAINAM_TOKEN_REFRESH_MARGIN", "refresh_margin", "1e308"),
    ("JAINAM_SNAPSHOT_ON_ALREADY", "snapshot_on_already", "sometimes"),
    ("JAINAM_DELIVERY", "delivery", "fast"),
    ("JAINAM_DELIVERY_LINGER", "delivery_linger", "soon"),
    ("JAINAM_DELIVERY_LINGER", "delivery_linger", "5"),
    ("JAINAM_DELIVERY_LINGER", "delivery_linger", "inf"),
]

#: (variable, bad text) for the backoff variables (named in BackoffPolicy's own messages).
BAD_BACKOFF_ENV: list[tuple[str, str]] = [
    ("JAINAM_BACKOFF_INITIAL", "0"),
    ("JAINAM_BACKOFF_INITIAL", "nan"),
    ("JAINAM_BACKOFF_INITIAL", "quick"),
    ("JAINAM_BACKOFF_FACTOR", "0.5"),
    ("JAINAM_BACKOFF_FACTOR", "inf"),
    ("JAINAM_BACKOFF_MAX", "0.001"),
    ("JAINAM_BACKOFF_MAX_ATTEMPTS", "0"),
    ("JAINAM_BACKOFF_MAX_ATTEMPTS", "2.5"),
    ("JAINAM_BACKOFF_JITTER", "2"),
    ("JAINAM_BACKOFF_JITTER", "-1"),
]


def _value_text(value: Any) -> list[str]:
    """Forms of ``value`` that must not appear in a message (short ones are too ambiguous)."""
    forms = {repr(value), str(value)}
    return [f for f in forms if len(f) >= 4 and f not in ("None", "True", "False")]


def _assert_one_line(exc: ConfigError, *names: str, value: Any) -> None:
    text = str(exc)
    assert "\n" not in text and text.strip() == text and text, text
    for name in names:
        assert name in text, (name, text)
    for form in _value_text(value):
        assert form not in text, (form, text)


def test_case_counts() -> None:
    assert len(BAD_ARGS) + len(BAD_ENV) + len(BAD_BACKOFF_ENV) >= 135


@pytest.mark.parametrize(("field", "value"), BAD_ARGS, ids=lambda v: repr(v)[:40])
def test_bad_argument_is_one_line_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(ConfigError) as ei:
        AdapterConfig(**{**GOOD, field: value})
    _assert_one_line(ei.value, field, value=value)
    assert str(ei.value).startswith(f"{field}:")
    assert ei.value.__cause__ is None
    assert ei.value.__context__ is None or ei.value.__suppress_context__


@pytest.mark.parametrize(("field", "value"), BAD_ARGS, ids=lambda v: repr(v)[:40])
def test_bad_override_of_from_env_is_one_line(field: str, value: Any) -> None:
    if value is None:
        pytest.skip("None means 'not given' for from_env overrides")
    with pytest.raises(ConfigError) as ei:
        AdapterConfig.from_env(GOOD_ENV, **{field: value})
    _assert_one_line(ei.value, field, value=value)


@pytest.mark.parametrize(("var", "field", "text"), BAD_ENV, ids=lambda v: str(v)[:40])
def test_bad_variable_is_one_line_naming_variable_and_field(
    var: str, field: str, text: str
) -> None:
    with pytest.raises(ConfigError) as ei:
        AdapterConfig.from_env({**GOOD_ENV, var: text})
    _assert_one_line(ei.value, var, field, value=text)


@pytest.mark.parametrize(("var", "text"), BAD_BACKOFF_ENV, ids=lambda v: str(v)[:40])
def test_bad_backoff_variable_is_one_line(var: str, text: str) -> None:
    with pytest.raises(ConfigError) as ei:
        AdapterConfig.from_env({**GOOD_ENV, var: text})
    _assert_one_line(ei.value, var, value=text)


@pytest.mark.parametrize("var", ["JAINAM_BASE_URL", "JAINAM_APP_KEY", "JAINAM_SECRET_KEY"])
def test_missing_required_variable(var: str) -> None:
    env = {k: v for k, v in GOOD_ENV.items() if k != var}
    with pytest.raises(ConfigError, match=f"^{var} is not set"):
        AdapterConfig.from_env(env)


def test_a_secret_in_the_wrong_place_is_never_echoed() -> None:
    """A secret pasted into any field or variable never shows up in the error."""
    secret = "PASTED-SECRET-0f3c9a77 with space"
    for name, rule in RULES.items():
        if name in ("app_key", "secret_key"):
            continue  # text fields that accept it would not fail; spaces make them fail below
        with pytest.raises(ConfigError) as ei:
            AdapterConfig(**{**GOOD, name: secret})
        assert "PASTED-SECRET" not in str(ei.value)
        if rule.env:
            with pytest.raises(ConfigError) as ei:
                AdapterConfig.from_env({**GOOD_ENV, rule.env: secret})
            assert "PASTED-SECRET" not in str(ei.value), str(ei.value)


def test_every_field_has_a_rule() -> None:
    """The validation path covers every field: a new field must add its rule to RULES."""
    names = {f.name for f in dataclasses.fields(AdapterConfig)}
    assert names == set(RULES), names ^ set(RULES)


def test_insecure_http_needs_an_explicit_opt_in() -> None:
    with pytest.raises(ConfigError, match="allow_insecure_http") as ei:
        AdapterConfig(**{**GOOD, "base_url": "http://feed.example.com:3000"})
    assert "feed.example.com" not in str(ei.value)
    ok = AdapterConfig(
        **{**GOOD, "base_url": "http://feed.example.com:3000", "allow_insecure_http": True}
    )
    assert ok.base_url == "http://feed.example.com:3000"
    env = {**GOOD_ENV, "JAINAM_BASE_URL": "http://feed.example.com:3000"}
    with pytest.raises(ConfigError, match="JAINAM_ALLOW_INSECURE_HTTP"):
        AdapterConfig.from_env(env)
    assert AdapterConfig.from_env({**env, "JAINAM_ALLOW_INSECURE_HTTP": "1"}).allow_insecure_http
    for url in ("http://127.0.0.1:9", "http://127.5.0.1", "http://[::1]:9", "http://localhost"):
        assert AdapterConfig(**{**GOOD, "base_url": url}).base_url == url
    assert AdapterConfig(**{**GOOD, "base_url": "https://feed.example.com"}).prefix


def test_good_values_are_normalised() -> None:
    c = AdapterConfig(
        **GOOD,
        broadcast_mode="partial",
        prefix="md",
        stall_timeout=5,
        backoff=BackoffPolicy(initial=0.1),
    )
    assert c.broadcast_mode.value == "Partial"
    assert c.prefix == "/md" and c.socket_path == "/md/socket.io"
    assert isinstance(c.stall_timeout, float) and c.stall_timeout == 5.0
    c2 = AdapterConfig.from_env(
        {**GOOD_ENV, "JAINAM_STALL_TIMEOUT": " 7.5 ", "JAINAM_SUBSCRIBE_BATCH": "20"}
    )
    assert (c2.stall_timeout, c2.batch) == (7.5, 20)
    assert c2.with_(batch=30).batch == 30
    with pytest.raises(ConfigError, match=r"^batch:"):
        c2.with_(batch=0)


def test_secret_key_is_registered_with_the_redactor() -> None:
    secret = "registered-secret-5b1e0c"
    AdapterConfig(**{**GOOD, "secret_key": secret})
    assert secret not in REDACTOR(f"login with {secret} failed")
