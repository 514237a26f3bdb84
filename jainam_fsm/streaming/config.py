"""Settings of the streaming adapter, from arguments or ``JAINAM_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from jainam_fsm.core.backoff import BackoffPolicy
from jainam_fsm.errors import ConfigError
from jainam_fsm.streaming.flavour import APIS, PRESETS, default_prefix, resolve_api
from jainam_fsm.streaming.rules import (
    Choice,
    EngineIO,
    EnumOf,
    Flag,
    InstanceOf,
    Integer,
    Invalid,
    Number,
    Path,
    Rule,
    ServerUrl,
    Text,
    is_loopback,
    split_url,
)
from jainam_fsm.telemetry import REDACTOR
from jainam_fsm.xts.codes import BroadcastMode

DEFAULT_PREFIX = "/apimarketdata"


@dataclass(frozen=True)
class AdapterConfig:
    """Everything the :class:`~jainam_fsm.streaming.adapter.StreamingAdapter` needs.

    ``base_url`` is the server root (``https://host:port``); a path in it (as the simulator
    prints, ``http://127.0.0.1:PORT/apimarketdata``) is taken as the REST ``prefix``.
    The secret never appears in ``repr``. Every field is checked by its rule in
    :data:`RULES` (also when built by :meth:`from_env` or :meth:`with_`); a bad value raises
    :class:`~jainam_fsm.errors.ConfigError` naming the field, never echoing the value.
    """

    base_url: str
    app_key: str
    secret_key: str = field(repr=False)
    prefix: str | None = None
    socket_path: str | None = None
    #: "json" | "binary" | "auto" (see docs/configuration.md); None: the broker preset's, else
    #: "binary" when the prefix is /apibinarymarketdata, else "json".
    api: str | None = None
    #: A preset ("jainam-prop", "jainam-retail", "xts"); explicit settings win over it.
    broker: str | None = None
    user: str = "default"
    source: str = "WEBAPI"
    broadcast_mode: BroadcastMode = BroadcastMode.FULL
    stall_timeout: float = 60.0
    connect_timeout: float = 10.0
    request_timeout: float = 10.0
    join_timeout: float = 5.0
    require_joined: bool = True
    batch: int = 50
    queue_size: int = 10_000
    verify_tls: bool = True
    #: Allow plain ``http://`` to a host that is not loopback (the secret and the token then
    #: travel in clear). Off by default; loopback ``http://`` is always allowed.
    allow_insecure_http: bool = False
    refresh_margin: float = 300.0
    snapshot_on_already: bool = True
    #: "thread": a bounded drop-oldest queue and one delivery thread (safe default);
    #: "inline": the callback runs on the I/O thread (fastest; it must return quickly).
    delivery: str = "thread"
    #: thread delivery: after each batch, let the next burst gather this long (seconds)
    delivery_linger: float = 0.002
    #: Leave this process's subscriptions on the server at shutdown (default: unsubscribe
    #: them, best effort, so a restart on the same session starts with room).
    keep_server_subscriptions: bool = False
    #: List a session's subscriptions (``GET /instruments/subscription``) when it is new to
    #: this adapter, so a previous process's leftovers are unsubscribed.
    list_subscriptions: bool = True
    #: Engine.IO dialect: "auto" (follow the server's open packet), 3 (Socket.IO 2, what real
    #: XTS servers speak) or 4 (python-socketio 5's own). See docs/xts-protocol.md.
    eio: str | int = "auto"
    #: Hand the data events (``<code>-json-full|partial``, ``xts-binary-packet``) straight from
    #: the Engine.IO client to the decoder, past python-socketio's generic event path
    #: (streaming/dialect.py; docs/performance.md). Off: every event through python-socketio.
    socketio_fast_path: bool = True
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)

    def __post_init__(self) -> None:
        # One validation path: the constructor, with_() and from_env() all end here.
        for name, rule in RULES.items():
            value = getattr(self, name)
            try:
                checked = rule.check(value)
            except Invalid as exc:
                raise ConfigError(f"{name}: {exc}") from None
            if checked is not value:
                object.__setattr__(self, name, checked)
            if name in SECRET_FIELDS:
                REDACTOR.add(checked)
        self._derive()

    def _derive(self) -> None:
        """Split ``base_url`` into root and prefix; refuse a token sent in clear."""
        try:
            parts = split_url(self.base_url)
        except Invalid as exc:  # pragma: no cover - RULES checked it already
            raise ConfigError(f"base_url: {exc}") from None
        if self.prefix is None:
            # A path in base_url (as the simulator prints it) is the REST prefix.
            path = parts.path.strip("/")
            if path:
                object.__setattr__(self, "prefix", "/" + path)
        # The API: explicit, else the broker preset's, else what the prefix names.
        api = resolve_api(self.api, self.broker, self.prefix)
        object.__setattr__(self, "api", api)
        if self.prefix is None:
            object.__setattr__(self, "prefix", default_prefix(api))
        object.__setattr__(self, "base_url", f"{parts.scheme}://{parts.netloc}")
        if self.socket_path is None:
            object.__setattr__(self, "socket_path", self.prefix_str.rstrip("/") + "/socket.io")
        if (
            parts.scheme == "http"
            and not self.allow_insecure_http
            and not is_loopback(parts.hostname or "")
        ):
            raise ConfigError(
                "base_url: plain http:// to a host that is not loopback would send the secret "
                "key and the feed token in clear; use https://, or opt in with "
                "allow_insecure_http=True (JAINAM_ALLOW_INSECURE_HTTP=1)"
            )

    @property
    def prefix_str(self) -> str:
        assert self.prefix is not None
        return self.prefix

    @property
    def api_str(self) -> str:
        """The resolved API: "json", "binary" or "auto"."""
        assert self.api is not None
        return self.api

    @property
    def socket_path_str(self) -> str:
        assert self.socket_path is not None
        return self.socket_path

    def with_(self, **changes: Any) -> AdapterConfig:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> AdapterConfig:
        """Read every ``JAINAM_*`` variable (see docs/configuration.md); overrides win.

        An override of ``None`` counts as not given. Errors name the variable and the field.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, rule in RULES.items():
            if rule.env is None:
                continue
            raw = env.get(rule.env)
            if raw is None or raw.strip() == "":
                continue
            try:
                values[name] = rule.check(rule.parse(raw.strip()))
            except Invalid as exc:
                raise ConfigError(f"{rule.env} ({name}): {exc}") from None
        values["backoff"] = BackoffPolicy.from_env(env)
        values.update({k: v for k, v in overrides.items() if v is not None})
        for required in REQUIRED:
            if required not in values:
                raise ConfigError(f"{RULES[required].env} is not set (or pass {required}=...)")
        try:
            return cls(**values)
        except ConfigError as exc:
            # A rule that spans fields (http:// and allow_insecure_http): name the variable too.
            name, sep, rest = str(exc).partition(": ")
            known = RULES.get(name)
            if sep and known and known.env and name not in overrides and known.env in env:
                raise ConfigError(f"{known.env} ({name}): {rest}") from None
            raise


#: Fields that must be given (by argument or environment).
REQUIRED = ("base_url", "app_key", "secret_key")
#: Fields whose values are registered with the log redactor.
SECRET_FIELDS = frozenset({"secret_key"})

#: The rule of every field, in one table (``rules.py``). A new AdapterConfig field adds its line
#: here; tests/test_config_validation.py fails for a field without one.
RULES: dict[str, Rule] = {
    "base_url": ServerUrl("JAINAM_BASE_URL"),
    "app_key": Text("JAINAM_APP_KEY"),
    "secret_key": Text("JAINAM_SECRET_KEY"),
    "prefix": Path("JAINAM_PREFIX", optional=True),
    "socket_path": Path("JAINAM_SOCKET_PATH", optional=True),
    "api": Choice("JAINAM_API", choices=APIS, optional=True),
    "broker": Choice("JAINAM_BROKER", choices=tuple(PRESETS), optional=True),
    "user": Text("JAINAM_USER", max_len=255),
    "source": Text("JAINAM_SOURCE", max_len=64),
    "broadcast_mode": EnumOf("JAINAM_BROADCAST_MODE", enum=BroadcastMode),
    "stall_timeout": Number("JAINAM_STALL_TIMEOUT", high=86_400.0),
    "connect_timeout": Number("JAINAM_CONNECT_TIMEOUT", high=600.0),
    "request_timeout": Number("JAINAM_REQUEST_TIMEOUT", high=600.0),
    "join_timeout": Number("JAINAM_JOIN_TIMEOUT", high=600.0),
    "require_joined": Flag("JAINAM_REQUIRE_JOINED"),
    "batch": Integer("JAINAM_SUBSCRIBE_BATCH", low=1, high=10_000),
    "queue_size": Integer("JAINAM_QUEUE_SIZE", low=1, high=10_000_000),
    "verify_tls": Flag("JAINAM_VERIFY_TLS"),
    "allow_insecure_http": Flag("JAINAM_ALLOW_INSECURE_HTTP"),
    "refresh_margin": Number("JAINAM_TOKEN_REFRESH_MARGIN", high=86_400.0, low_open=False),
    "snapshot_on_already": Flag("JAINAM_SNAPSHOT_ON_ALREADY"),
    "delivery": Choice("JAINAM_DELIVERY", choices=("thread", "inline")),
    "delivery_linger": Number("JAINAM_DELIVERY_LINGER", high=1.0, low_open=False),
    "keep_server_subscriptions": Flag("JAINAM_KEEP_SERVER_SUBSCRIPTIONS"),
    "list_subscriptions": Flag("JAINAM_LIST_SUBSCRIPTIONS"),
    "eio": EngineIO("JAINAM_EIO"),
    "socketio_fast_path": Flag("JAINAM_SOCKETIO_FAST_PATH"),
    "backoff": InstanceOf(kind=BackoffPolicy),
}

#: ``field -> (variable, kind)`` for the fields read from the environment (kept for callers
#: that list the variables, such as ``--help`` texts).
ENV: dict[str, tuple[str, str]] = {
    name: (rule.env, type(rule).__name__.lower()) for name, rule in RULES.items() if rule.env
}
