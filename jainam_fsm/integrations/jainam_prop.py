"""``JainamPropWebSocketAdapter``: the OpenAlgo-style adapter over our :class:`StreamingAdapter`.

The platform proxy calls ``initialize/connect/subscribe/unsubscribe/disconnect``; normalized
ticks go out on a ZeroMQ PUB socket that connects to the proxy (``tcp://127.0.0.1:5555`` by
default) under topics ``EXCHANGE_SYMBOL_MODE``. Every resilience concern (backoff, token reuse
and refresh, replay of subscriptions after a reconnect, stall detection) is the streaming
adapter's; this class translates.

Subscriptions are counted: each ``subscribe`` is one want of a consumer (the optional
``consumer=`` keyword, by default the proxy as a whole), each ``unsubscribe`` drops one. The
XTS subscription goes away only when nobody wants it, and unsubscribing never disconnects the
feed. Wants recorded while disconnected (or before ``connect``) are applied on connect, and
survive ``disconnect``: a later ``connect`` streams them again.

This module is the contract's lifecycle and subscribe calls; the pieces it composes are
:mod:`.subscriptions` (the counted wants and routes), :mod:`.fanout` (ticks to payloads),
:mod:`.zmq_side` (the PUB socket, ours or the host's) and :mod:`.credentials` (settings,
symbols and the feed token). What stays here is one class, the contract a proxy drives
(``initialize``/``connect``/``disconnect``, the subscribe calls and their envelopes, what the
proxy and pool read back), about 320 lines of code, past 400 with its docstrings: splitting it
further would split one contract across modules.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Hashable, Mapping
from typing import Any

from jainam_fsm.core.machine import State
from jainam_fsm.core.ports import TelemetrySink
from jainam_fsm.errors import ConfigError, JainamError
from jainam_fsm.integrations.base import (
    BaseBrokerAdapter,
    ErrorCode,
    Rejected,
    check_depth,
    check_request,
    error_response,
    resolve_request,
    success_response,
)
from jainam_fsm.integrations.credentials import FeedSetup
from jainam_fsm.integrations.fanout import TickFanout
from jainam_fsm.integrations.openalgo import HostTokenSource, OpenAlgoHooks, openalgo_base
from jainam_fsm.integrations.openalgo import is_auth_error as _is_auth_error
from jainam_fsm.integrations.publisher import ZmqPublisher
from jainam_fsm.integrations.subscriptions import SubKey, SubscriptionBook
from jainam_fsm.integrations.symbols import SymbolResolver
from jainam_fsm.integrations.zmq_side import ZmqSide
from jainam_fsm.streaming.adapter import StreamingAdapter
from jainam_fsm.telemetry import REDACTOR

__all__ = [
    "BROKER_NAME",
    "DEFAULT_CONSUMER",
    "OPENALGO_CLASS_NAME",
    "JainamPropWebSocketAdapter",
    "openalgo_adapter_class",
]

log = logging.getLogger("jainam_fsm.integrations")

#: The name to register the adapter under (``register_adapter("jainam_prop", ...)``).
BROKER_NAME = "jainam_prop"
#: The class name OpenAlgo's factory derives from :data:`BROKER_NAME` (``name.capitalize()``).
OPENALGO_CLASS_NAME = f"{BROKER_NAME.capitalize()}WebSocketAdapter"
#: The consumer a plain ``subscribe(symbol, exchange, mode)`` call counts for.
DEFAULT_CONSUMER = "proxy"


class JainamPropWebSocketAdapter(ZmqSide, BaseBrokerAdapter):
    """Jainam Prop (XTS) market data for an OpenAlgo-style WebSocket proxy.

    :param resolver: maps ``(symbol, exchange)`` to XTS instruments. Default: the instrument
        master file(s) named by ``JAINAM_INSTRUMENT_MASTER`` (or
        ``auth_data["instrument_master"]``).
    :param zmq_address: the proxy's SUB endpoint the PUB socket connects to. Default:
        ``JAINAM_ZMQ_ADDRESS``, else ``tcp://$ZMQ_HOST:$ZMQ_PORT``, else ``tcp://127.0.0.1:5555``.
    :param environ: where ``JAINAM_*`` settings are read (default ``os.environ``).
    :param telemetry: the streaming adapter's event sink (default: stdlib logging).
    :param stream_options: extra :class:`AdapterConfig` fields (e.g. ``stall_timeout``).
    :param hooks: the host's token and symbol helpers (:class:`OpenAlgoHooks`). Default:
        OpenAlgo's ``database.auth_db``/``database.token_db`` when importable, else none (our
        token store and the master file serve instead).
    :param standby: hot standby (a PostgreSQL URL or ``StandbyConfig``): the stream, and so
        the ZeroMQ publishing, runs only in the process that leads (``docs/operations.md``).

    Every public method is thread-safe and returns envelopes instead of raising.

    Mixin-safe: it cooperates with OpenAlgo's ``BaseBrokerWebSocketAdapter`` placed after it
    in the bases (``class X(JainamPropWebSocketAdapter, BaseBrokerWebSocketAdapter)``): that
    base's ``__init__`` runs and may assign ``socket``/``context``/``zmq_port``,
    ``connected`` and ``subscriptions``; the adapter then publishes through that socket (or
    whatever ``publish_market_data`` the connection pool put in its place) instead of opening
    its own.
    """

    def __init__(
        self,
        resolver: SymbolResolver | None = None,
        *,
        zmq_address: str | None = None,
        environ: Mapping[str, str] | None = None,
        telemetry: TelemetrySink | None = None,
        stream_options: Mapping[str, Any] | None = None,
        hooks: OpenAlgoHooks | None = None,
        standby: Any = None,
    ) -> None:
        self._standby = standby
        self._setup = FeedSetup(resolver, hooks, environ, stream_options)
        self._connected_flag = False
        self.socket: Any = None  # ZmqSide: host base classes may set these in __init__
        self.context: Any = None
        self.zmq_port: int | None = None
        self._zmq_address = zmq_address
        self._environ = environ
        self._telemetry = telemetry
        self._life = threading.Lock()  # serializes initialize/connect/disconnect
        self._lock = threading.RLock()  # guards subscriptions, routes and the publisher
        self._book = SubscriptionBook()
        self._stream: StreamingAdapter | None = None
        self._publisher: ZmqPublisher | None = None
        self.broker_name: str | None = None
        self.counts: Counter[str] = Counter()
        self._fanout = TickFanout(self._book, self, self._lock, self.counts)
        #: messages published per XTS message code of the tick behind them
        self.published_by_code: Counter[int] = self._fanout.published_by_code
        # A host base class (OpenAlgo's) sets up its ZeroMQ side here; ours has no __init__.
        super().__init__()

    # ------------------------------------------------------------------ contract

    def initialize(
        self,
        broker_name: str,
        user_id: str,
        auth_data: Mapping[str, Any] | None = None,
        force: bool = False,
    ) -> dict[str, Any] | None:
        """Configure the adapter for ``user_id`` (the token-store key).

        ``force=True`` (OpenAlgo's retry after an auth error) rereads every credential and token
        from scratch; the adapter always does, so it only also drops the host's cached tokens.
        Hosted (OpenAlgo's helpers importable, or ``hooks=`` given), the feed token is the host's
        stored one with the login's user id, the app key/secret are ``BROKER_API_KEY_MARKET``/
        ``BROKER_API_SECRET_MARKET`` (``JAINAM_APP_KEY``/``JAINAM_SECRET_KEY`` win when set) and
        symbols come from the host's token database.

        ``auth_data=None``: the XTS URL and app key/secret come from ``JAINAM_*`` variables
        (:meth:`AdapterConfig.from_env`) and the feed token from our token store
        (``JAINAM_DATABASE_URL``/``JAINAM_TOKEN_PEPPER``): a stored valid token is reused, and
        only a missing or rejected one triggers a login. ``auth_data`` may override any
        :class:`AdapterConfig` field (``base_url``, ``app_key``, ``secret_key``, ``prefix``...;
        ``api_key``/``api_secret`` are accepted too) and name ``store`` (a TokenStore),
        ``database_url``, ``pepper``, ``instrument_master`` (path) or hand over a
        ``feed_token`` (with ``feed_user_id``) the platform already holds, which is saved in the
        store and reused. A live stream is stopped first (subscriptions are kept).
        """
        for name, value in (("broker_name", broker_name), ("user_id", user_id)):
            if not isinstance(value, str) or not value.strip():
                return error_response(
                    ErrorCode.INVALID_ARGUMENT, f"{name} must be a non-empty string"
                )
        if auth_data is not None and not isinstance(auth_data, Mapping):
            return error_response(ErrorCode.INVALID_ARGUMENT, "auth_data must be a dict or None")
        data = dict(auth_data or {})
        if data.get("status") == "error" or data.get("success") is False:
            return error_response(
                ErrorCode.AUTH_ERROR, "authentication failed: auth_data reports a failed login"
            )
        self._setup.bind_hooks()
        if force:
            self.clear_auth_cache_for_user(user_id.strip())
        with self._life:
            self._stop_stream()
            try:
                settled = self._setup.prepare(user_id.strip(), data)
            except ConfigError as exc:
                return error_response(ErrorCode.CONFIG_ERROR, REDACTOR(str(exc)))
            except OSError as exc:
                return error_response(
                    ErrorCode.CONFIG_ERROR, f"instrument master: {type(exc).__name__}: {exc}"
                )
            self._setup.adopt(settled)
            self.broker_name = broker_name.strip()
        log.info("jainam_prop adapter initialized for user %s", self.user_id)
        return None

    def connect(self) -> dict[str, Any] | None:
        """Open the ZeroMQ publisher and start streaming; returns at once.

        Idempotent while connected; revives a stream that gave up reconnecting.
        """
        with self._life:
            config = self._setup.config
            if config is None:
                return self._not_initialized()
            stream = self._stream
            if stream is not None:
                if stream.state() is State.EXHAUSTED:
                    stream.connect()  # revive
                return None
            publisher, error = self._open_publisher()
            if error is not None:
                return error
            try:
                stream = StreamingAdapter(
                    config,
                    self._fanout.on_tick,
                    token_source=self._setup.token_source_factory(),
                    on_exhausted=self._on_exhausted,
                    telemetry=self._telemetry,
                    standby=self._standby,
                )
                with self._lock:
                    self._adopt_publisher(publisher)
                    self._stream = stream
                    self._book.replay(stream)
                stream.connect()
            except Exception as exc:
                log.error("jainam_prop connect failed: %s", REDACTOR(repr(exc)))
                if publisher is not None and self._publisher is not publisher:
                    publisher.close()  # failed before it was handed over: not leaked
                self._stop_stream()
                return error_response(
                    ErrorCode.CONNECTION_ERROR,
                    REDACTOR(f"failed to connect: {type(exc).__name__}: {exc}"),
                )
        log.info("jainam_prop adapter connecting (%d subscriptions)", len(self._book))
        return None

    def disconnect(self) -> dict[str, Any] | None:
        """Stop the stream (threads joined, socket closed), close the ZeroMQ socket (linger 0)
        and its context, and release the store. Recorded subscriptions are kept. Idempotent."""
        with self._life:
            self._stop_stream()
            self._setup.release_store(keep=True)
        # Through the attribute: the connection pool disables it while it disconnects us.
        self.cleanup_zmq()
        return None

    def subscribe(
        self,
        symbol: str,
        exchange: str,
        mode: int = 2,
        depth_level: int = 5,
        *,
        consumer: Hashable = DEFAULT_CONSUMER,
    ) -> dict[str, Any]:
        """Want ``symbol`` on ``exchange`` in ``mode`` for ``consumer`` (one more want)."""
        if self._setup.config is None:
            return self._not_initialized()
        checked = check_request(symbol, exchange, mode)
        if isinstance(checked, Rejected):
            return checked.envelope()
        sym, exch, m = checked
        depth = check_depth(depth_level, m)
        if isinstance(depth, Rejected):
            return depth.envelope()
        actual, fallback = depth
        resolved = resolve_request(self._setup.resolver, sym, exch)
        if isinstance(resolved, Rejected):
            return resolved.envelope()
        segment, instrument_id = resolved
        key = (sym, exch, m)
        with self._lock:
            sub = self._book.want(
                key, segment, instrument_id, (depth_level, actual, fallback), consumer
            )
            stream = self._stream
            if stream is not None:
                try:
                    for code in sub.codes:
                        stream.subscribe(
                            segment, instrument_id, code, consumer=(exch, sym, consumer)
                        )
                except JainamError as exc:
                    self._drop_want(key, consumer)
                    return error_response(ErrorCode.INTERNAL_ERROR, f"subscribe failed: {exc}")
            live = stream is not None
        self.counts["subscribe"] += 1
        note = "" if live else " (applied on connect)"
        if fallback:
            note += f"; depth {depth_level} not available, serving {actual}"
        return success_response(
            f"Subscribed to {sub.describe()}{note}",
            symbol=sym,
            exchange=exch,
            mode=int(m),
            requested_depth=depth_level,
            actual_depth=actual,
            is_fallback=fallback,
        )

    def unsubscribe(
        self, symbol: str, exchange: str, mode: int = 2, *, consumer: Hashable = DEFAULT_CONSUMER
    ) -> dict[str, Any]:
        """Drop one want of ``consumer``. The feed stays up; the XTS subscription goes only
        when nobody wants it, and from then on nothing is published under its topic."""
        if self._setup.config is None:
            return self._not_initialized()
        checked = check_request(symbol, exchange, mode)
        if isinstance(checked, Rejected):
            return checked.envelope()
        sym, exch, m = checked
        key = (sym, exch, m)
        with self._lock:
            sub = self._book.get(key)
            if sub is None or sub.consumers[consumer] <= 0:
                sub_consumer = "" if consumer == DEFAULT_CONSUMER else f" for {consumer!r}"
                return error_response(
                    ErrorCode.NOT_SUBSCRIBED,
                    f"{exch}:{sym} ({m.label}) is not subscribed{sub_consumer}",
                )
            remaining = self._drop_want(key, consumer)
            stream = self._stream
            if stream is not None:
                sub.withdraw(stream, consumer)
        self.counts["unsubscribe"] += 1
        still = f"; still wanted by {remaining} subscription(s)" if remaining else ""
        return success_response(
            f"Unsubscribed from {sub.describe()}{still}",
            symbol=sym,
            exchange=exch,
            mode=int(m),
            requested_depth=sub.requested_depth,
            actual_depth=sub.actual_depth,
            is_fallback=sub.is_fallback,
        )

    def unsubscribe_all(self) -> dict[str, Any]:
        """Drop every want of every consumer (OpenAlgo's pool calls it); the feed stays up."""
        if self._setup.config is None:
            return self._not_initialized()
        with self._lock:
            dropped = 0
            stream = self._stream
            for key, sub, consumer in self._book.wants():
                self._drop_want(key, consumer)
                dropped += 1
                if stream is not None:
                    sub.withdraw(stream, consumer)
        self.counts["unsubscribe"] += dropped
        return success_response(f"Unsubscribed from everything ({dropped} subscription(s))")

    def is_auth_error(self, message: object) -> bool:
        """True when ``message`` (text, exception or error envelope) is an authentication
        failure (OpenAlgo's proxy then clears caches and retries with ``force=True``)."""
        return _is_auth_error(message)

    def clear_auth_cache_for_user(self, user_id: str) -> None:
        """Drop the host's cached tokens of ``user_id`` (OpenAlgo: its auth caches); the next
        read goes to the database. Never raises."""
        clear = self._setup.hooks.clear_cache
        if clear is None:
            parent = getattr(super(), "clear_auth_cache_for_user", None)
            clear = parent
        if clear is not None:
            try:
                clear(user_id)
            except Exception as exc:
                log.warning("clearing the auth cache failed: %s", REDACTOR(repr(exc)))

    # ------------------------------------------------------------------ introspection

    @property
    def connected(self) -> bool:
        """True from ``connect`` to ``disconnect`` while the stream is alive (connected or
        reconnecting); False once it gave up. OpenAlgo's proxy replaces adapters that are not
        ``connected``. Assignable (OpenAlgo's base class sets it to False in ``__init__``): the
        assigned value counts only while no stream exists."""
        stream = self._stream
        if stream is None:
            return self._connected_flag
        return stream.state() not in (State.EXHAUSTED, State.SHUT_DOWN)

    @connected.setter
    def connected(self, value: bool) -> None:
        self._connected_flag = bool(value)

    @property
    def subscriptions(self) -> dict[str, dict[str, Any]]:
        """A snapshot: ``"SYMBOL_EXCHANGE_MODE"`` -> details (with the number of wants)."""
        with self._lock:
            return self._book.snapshot()

    @subscriptions.setter
    def subscriptions(self, value: Mapping[str, Any]) -> None:
        """Assignments (OpenAlgo's base ``__init__`` sets ``{}``) are ignored: the registry is
        the adapter's own; unsubscribe to forget wants."""

    @property
    def user_id(self) -> str | None:
        """The user ``initialize`` configured (the token-store key); None before."""
        return self._setup.user

    @user_id.setter
    def user_id(self, value: str | None) -> None:
        self._setup.user = value

    @property
    def token_source(self) -> HostTokenSource | None:
        """Hosted: the token source of the running stream (its ``logins``/``reused``)."""
        return self._setup.token_source

    @property
    def stream(self) -> StreamingAdapter | None:
        """The live :class:`StreamingAdapter` (None when disconnected)."""
        return self._stream

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """Block until connected with every subscription applied (False on timeout)."""
        stream = self._stream
        return stream is not None and bool(stream.wait_ready(timeout))

    def stats(self) -> dict[str, Any]:
        """Counters: published/dropped messages, subscribe calls, plus the stream's stats."""
        publisher, stream = self._publisher, self._stream
        out: dict[str, Any] = dict(self.counts)
        out["published"] = self.counts["published"]
        out["publish_errors"] = self.counts["publish_errors"]
        out["subscriptions"] = len(self._book)
        out["zmq_address"] = self._address() if publisher is None else publisher.address
        out["stream"] = None if stream is None else stream.stats()
        return out

    def __repr__(self) -> str:
        return (
            f"JainamPropWebSocketAdapter(user_id={self.user_id!r}, connected={self.connected}, "
            f"subscriptions={len(self._book)})"
        )

    # ------------------------------------------------------------------ internals

    def _not_initialized(self) -> dict[str, Any]:
        return error_response(ErrorCode.NOT_INITIALIZED, "call initialize() first")

    def _drop_want(self, key: SubKey, consumer: Hashable) -> int:
        """Remove one want (lock held); returns how many wants remain for ``key``."""
        remaining = self._book.drop(key, consumer)
        if remaining == 0:
            symbol, exchange, mode = key
            self._fanout.forget(exchange, symbol, mode)
        return remaining

    def _on_exhausted(self, reason: str) -> None:
        log.critical("jainam_prop stream gave up reconnecting: %s", reason)

    def _stop_stream(self) -> None:
        """Shut the stream down and close our own publisher (``_life`` held, ``_lock`` not)."""
        with self._lock:
            stream = self._stream
            self._stream = None
        if stream is not None:
            stream.shutdown()  # joins the delivery thread, which takes _lock: not held here
        self._close_own_publisher()


def openalgo_adapter_class() -> type[JainamPropWebSocketAdapter]:
    """The adapter as OpenAlgo's factory wants it: a subclass of this adapter and OpenAlgo's
    ``BaseBrokerWebSocketAdapter`` named :data:`OPENALGO_CLASS_NAME` when OpenAlgo's base class
    is importable, else :class:`JainamPropWebSocketAdapter` itself (same contract)."""
    base = openalgo_base()
    if base is None or issubclass(JainamPropWebSocketAdapter, base):
        return JainamPropWebSocketAdapter
    cls: type[JainamPropWebSocketAdapter] = type(
        OPENALGO_CLASS_NAME,
        (JainamPropWebSocketAdapter, base),
        {"__module__": __name__, "__doc__": JainamPropWebSocketAdapter.__doc__},
    )
    return cls
