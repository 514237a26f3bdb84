"""Settings of the streaming adapter, from arguments or ``JAINAM_*`` environment variables."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from jainam_fsm.core.backoff import BackoffPolicy
from jainam_fsm.errors import ConfigError
from jainam_fsm.xts.codes import BroadcastMode

DEFAULT_PREFIX = "/apimarketdata"


@dataclass(frozen=True)
class AdapterConfig:
    """Everything the :class:`~jainam_fsm.streaming.adapter.StreamingAdapter` needs.

    ``base_url`` is the server root (``https://host:port``); a path in it (as the simulator
    prints, ``http://127.0.0.1:PORT/apimarketdata``) is taken as the REST ``prefix``.
    The secret never appears in ``repr``.
    """

    base_url: str
    app_key: str
    secret_key: str = field(repr=False)
    prefix: str | None = None
    socket_path: str | None = None
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
    refresh_margin: float = 300.0
    snapshot_on_already: bool = True
    #: "thread": a bounded drop-oldest queue and one delivery thread (safe default);
    #: "inline": the callback runs on the I/O thread (fastest; it must return quickly).
    delivery: str = "thread"
    #: thread delivery: after each batch, let the next burst gather this long (seconds)
    delivery_linger: float = 0.002
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"base_url must look like https://host:port, got {self.base_url!r}")
        if self.prefix is None:
            # A path in base_url (as the simulator prints it) is the REST prefix.
            path = parts.path.strip("/")
            object.__setattr__(self, "prefix", "/" + path if path else DEFAULT_PREFIX)
        object.__setattr__(self, "base_url", f"{parts.scheme}://{parts.netloc}")
        if not self.prefix_str.startswith("/"):
            object.__setattr__(self, "prefix", "/" + self.prefix_str)
        if self.socket_path is None:
            object.__setattr__(self, "socket_path", self.prefix_str.rstrip("/") + "/socket.io")
        if not self.app_key or not self.secret_key:
            raise ConfigError(
                "app_key and secret_key are required (JAINAM_APP_KEY, JAINAM_SECRET_KEY)"
            )
        for name in ("stall_timeout", "connect_timeout", "request_timeout", "join_timeout"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or math.isnan(value) or value <= 0:
                raise ConfigError(f"{name} must be a number > 0, got {value!r}")
        if self.refresh_margin < 0:
            raise ConfigError("refresh_margin must be >= 0")
        for name in ("batch", "queue_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")
        if (
            isinstance(self.delivery_linger, bool)
            or not isinstance(self.delivery_linger, int | float)
            or not 0 <= self.delivery_linger <= 1
        ):
            raise ConfigError(
                "delivery_linger must be a number of seconds in [0, 1], "
                f"got {self.delivery_linger!r}"
            )
        if self.delivery not in ("thread", "inline"):
            raise ConfigError(f"delivery must be 'thread' or 'inline', got {self.delivery!r}")
        try:
            object.__setattr__(self, "broadcast_mode", BroadcastMode(self.broadcast_mode))
        except ValueError:
            raise ConfigError(
                f"broadcast_mode must be Full or Partial, got {self.broadcast_mode!r}"
            ) from None

    @property
    def prefix_str(self) -> str:
        assert self.prefix is not None
        return self.prefix

    @property
    def socket_path_str(self) -> str:
        assert self.socket_path is not None
        return self.socket_path

    def with_(self, **changes: Any) -> AdapterConfig:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> AdapterConfig:
        """Read every ``JAINAM_*`` variable (see docs/configuration.md); overrides win."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, (var, kind) in ENV.items():
            raw = env.get(var)
            if raw is None or raw.strip() == "":
                continue
            values[name] = _parse(var, raw, kind)
        values["backoff"] = BackoffPolicy.from_env(env)
        values.update({k: v for k, v in overrides.items() if v is not None})
        for required, var in (
            ("base_url", "JAINAM_BASE_URL"),
            ("app_key", "JAINAM_APP_KEY"),
            ("secret_key", "JAINAM_SECRET_KEY"),
        ):
            if not values.get(required):
                raise ConfigError(f"{var} is not set (or pass {required}=...)")
        try:
            return cls(**values)
        except ConfigError as exc:
            for name, (var, _) in ENV.items():
                if str(exc).startswith(f"{name} ") and name in values and name not in overrides:
                    raise ConfigError(f"{var}: {exc}") from None
            raise


ENV: dict[str, tuple[str, str]] = {
    "base_url": ("JAINAM_BASE_URL", "str"),
    "app_key": ("JAINAM_APP_KEY", "str"),
    "secret_key": ("JAINAM_SECRET_KEY", "str"),
    "prefix": ("JAINAM_PREFIX", "str"),
    "socket_path": ("JAINAM_SOCKET_PATH", "str"),
    "user": ("JAINAM_USER", "str"),
    "source": ("JAINAM_SOURCE", "str"),
    "broadcast_mode": ("JAINAM_BROADCAST_MODE", "str"),
    "stall_timeout": ("JAINAM_STALL_TIMEOUT", "float"),
    "connect_timeout": ("JAINAM_CONNECT_TIMEOUT", "float"),
    "request_timeout": ("JAINAM_REQUEST_TIMEOUT", "float"),
    "join_timeout": ("JAINAM_JOIN_TIMEOUT", "float"),
    "require_joined": ("JAINAM_REQUIRE_JOINED", "bool"),
    "batch": ("JAINAM_SUBSCRIBE_BATCH", "int"),
    "queue_size": ("JAINAM_QUEUE_SIZE", "int"),
    "verify_tls": ("JAINAM_VERIFY_TLS", "bool"),
    "refresh_margin": ("JAINAM_TOKEN_REFRESH_MARGIN", "float"),
    "snapshot_on_already": ("JAINAM_SNAPSHOT_ON_ALREADY", "bool"),
    "delivery": ("JAINAM_DELIVERY", "str"),
    "delivery_linger": ("JAINAM_DELIVERY_LINGER", "float"),
}


def _parse(var: str, raw: str, kind: str) -> Any:
    text = raw.strip()
    if kind == "str":
        return text
    if kind == "bool":
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{var} must be true or false, got {raw!r}")
    try:
        value = int(text) if kind == "int" else float(text)
    except ValueError:
        raise ConfigError(
            f"{var} must be a {'whole ' if kind == 'int' else ''}number, got {raw!r}"
        ) from None
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        raise ConfigError(f"{var} must be a finite number, got {raw!r}")
    return value
