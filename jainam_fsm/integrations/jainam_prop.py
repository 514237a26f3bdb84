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
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from jainam_fsm.core.machine import State
from jainam_fsm.core.ports import TelemetrySink, TokenSource
from jainam_fsm.errors import ConfigError, JainamError
from jainam_fsm.integrations.base import (
    EXCHANGE_SEGMENTS,
    BaseBrokerAdapter,
    ErrorCode,
    Mode,
    Rejected,
    check_depth,
    error_response,
    normalize_exchange,
    normalize_mode,
    normalize_symbol,
    success_response,
)
from jainam_fsm.integrations.openalgo import (
    MARKET_KEY_ENV,
    MARKET_SECRET_ENV,
    HostTokenSource,
    OpenAlgoHooks,
    TokenDbResolver,
    openalgo_base,
)
from jainam_fsm.integrations.openalgo import is_auth_error as _is_auth_error
from jainam_fsm.integrations.payloads import normalize_tick, topic_for, with_open_interest
from jainam_fsm.integrations.publisher import ZmqPublisher, zmq_address_from_env
from jainam_fsm.integrations.symbols import MasterFileResolver, SymbolResolver
from jainam_fsm.streaming.adapter import StreamingAdapter
from jainam_fsm.streaming.config import AdapterConfig
from jainam_fsm.telemetry import REDACTOR
from jainam_fsm.xts.ticks import Tick

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

_CONFIG_FIELDS = {f.name for f in fields(AdapterConfig)} - {"backoff"}
#: Other names platforms use for the same settings.
_ALIASES = {"api_key": "app_key", "api_secret": "secret_key", "root_url": "base_url"}

_SubKey = tuple[str, str, Mode]  # (symbol, exchange, mode)
_Target = tuple[str, str, Mode]  # (exchange, symbol, mode) a tick is published for

#: XTS codes beyond the mode's own: an index also streams 1504 (its value and OHLC), and a
#: derivative's Quote/Depth want 1510 (open interest) too.
INDEX_CODE, OI_CODE = 1504, 1510
#: Codes whose ticks are published (others are counted as ignored).
_PUBLISHED = frozenset({1501, 1502, 1512, INDEX_CODE, OI_CODE})
_INDEX_EXCHANGES = frozenset({"NSE_INDEX", "BSE_INDEX"})
_OI_EXCHANGES = frozenset({"NFO", "BFO", "MCX", "CDS"})


def xts_codes(exchange: str, mode: Mode) -> tuple[int, ...]:
    """Every XTS message code one (exchange, mode) want subscribes."""
    if exchange in _INDEX_EXCHANGES:
        return (mode.xts_code, INDEX_CODE)
    if exchange in _OI_EXCHANGES and mode is not Mode.LTP:
        return (mode.xts_code, OI_CODE)
    return (mode.xts_code,)


@dataclass
class _Subscription:
    symbol: str
    exchange: str
    mode: Mode
    segment: int
    instrument_id: int
    requested_depth: int
    actual_depth: int
    is_fallback: bool
    consumers: Counter[Hashable] = field(default_factory=Counter)

    def describe(self) -> str:
        return f"{self.exchange}:{self.symbol} ({self.mode.label})"

    @property
    def codes(self) -> tuple[int, ...]:
        return xts_codes(self.exchange, self.mode)


class JainamPropWebSocketAdapter(BaseBrokerAdapter):
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
        self._hooks_arg = hooks
        self._hooks: OpenAlgoHooks = hooks or OpenAlgoHooks()
        self._connected_flag = False
        #: ZeroMQ attributes OpenAlgo's proxy and pool read (set by a host base class, or by
        #: ``connect`` when the adapter opens its own PUB socket).
        self.socket: Any = None
        self.context: Any = None
        self.zmq_port: int | None = None
        self._resolver = resolver
        self._zmq_address = zmq_address
        self._environ = environ
        self._telemetry = telemetry
        self._stream_options = dict(stream_options or {})
        self._life = threading.Lock()  # serializes initialize/connect/disconnect
        self._lock = threading.RLock()  # guards subscriptions, routes and the publisher
        self._subs: dict[_SubKey, _Subscription] = {}
        # (segment, instrument, xts code) -> {(exchange, symbol)}: who a tick is published for
        self._routes: dict[tuple[int, int, int], set[_Target]] = {}
        # (segment, instrument) -> open interest last seen (1510), and topic -> last payload
        self._oi: dict[tuple[int, int], int] = {}
        self._last: dict[str, dict[str, Any]] = {}
        self._config: AdapterConfig | None = None
        self._store: Any = None
        self._owns_store = False
        self._stream: StreamingAdapter | None = None
        self._publisher: ZmqPublisher | None = None
        self.broker_name: str | None = None
        self.user_id: str | None = None
        self.counts: Counter[str] = Counter()
        #: messages published per XTS message code of the tick behind them
        self.published_by_code: Counter[int] = Counter()
        self.token_source: HostTokenSource | None = None
        self._auth_data: dict[str, Any] | None = None
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
        if self._hooks_arg is None:
            self._hooks = OpenAlgoHooks.from_openalgo()
        if force:
            self.clear_auth_cache_for_user(user_id.strip())
        with self._life:
            self._stop_stream()
            hosted = bool(data.get("feed_token")) or self._hooks.has_tokens
            try:
                config = self._build_config(user_id.strip(), data)
                resolver = self._build_resolver(data)
                store, owns = (None, False) if hosted else self._build_store(data)
            except ConfigError as exc:
                return error_response(ErrorCode.CONFIG_ERROR, REDACTOR(str(exc)))
            except OSError as exc:
                return error_response(
                    ErrorCode.CONFIG_ERROR, f"instrument master: {type(exc).__name__}: {exc}"
                )
            self._release_store()
            self._config, self._store, self._owns_store = config, store, owns
            self._auth_data = data if hosted else None
            self._resolver = resolver
            self.broker_name, self.user_id = broker_name.strip(), user_id.strip()
        log.info("jainam_prop adapter initialized for user %s", self.user_id)
        return None

    def connect(self) -> dict[str, Any] | None:
        """Open the ZeroMQ publisher and start streaming; returns at once.

        Idempotent while connected; revives a stream that gave up reconnecting.
        """
        with self._life:
            config = self._config
            if config is None:
                return self._not_initialized()
            stream = self._stream
            if stream is not None:
                if stream.state() is State.EXHAUSTED:
                    stream.connect()  # revive
                return None
            try:
                publisher = None if self._host_publishes() else ZmqPublisher(self._address())
            except ImportError:
                return error_response(
                    ErrorCode.CONFIG_ERROR, "pyzmq is not installed: pip install jainam-fsm[zmq]"
                )
            except ConfigError as exc:
                return error_response(ErrorCode.CONFIG_ERROR, str(exc))
            except Exception as exc:
                return error_response(
                    ErrorCode.ZMQ_ERROR,
                    f"cannot connect the PUB socket: {type(exc).__name__}: {exc}",
                )
            try:
                stream = StreamingAdapter(
                    config,
                    self._on_tick,
                    token_source=self._token_source_factory(),
                    on_exhausted=self._on_exhausted,
                    telemetry=self._telemetry,
                    standby=self._standby,
                )
                with self._lock:
                    self._publisher = publisher
                    if publisher is not None:
                        self.socket, self.context = publisher.socket, publisher.context
                        self.zmq_port = publisher.port
                    self._stream = stream
                    for sub in self._subs.values():
                        for consumer, n in sub.consumers.items():
                            for _ in range(n):
                                for code in sub.codes:
                                    stream.subscribe(
                                        sub.segment,
                                        sub.instrument_id,
                                        code,
                                        consumer=(sub.exchange, sub.symbol, consumer),
                                    )
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
        log.info("jainam_prop adapter connecting (%d subscriptions)", len(self._subs))
        return None

    def disconnect(self) -> dict[str, Any] | None:
        """Stop the stream (threads joined, socket closed), close the ZeroMQ socket (linger 0)
        and its context, and release the store. Recorded subscriptions are kept. Idempotent."""
        with self._life:
            self._stop_stream()
            self._release_store(keep=True)
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
        if self._config is None:
            return self._not_initialized()
        checked = self._check(symbol, exchange, mode)
        if isinstance(checked, Rejected):
            return checked.envelope()
        sym, exch, m = checked
        depth = check_depth(depth_level, m)
        if isinstance(depth, Rejected):
            return depth.envelope()
        actual, fallback = depth
        resolved = self._resolve(sym, exch)
        if isinstance(resolved, Rejected):
            return resolved.envelope()
        segment, instrument_id = resolved
        key = (sym, exch, m)
        with self._lock:
            sub = self._subs.get(key)
            if sub is None:
                sub = self._subs[key] = _Subscription(
                    sym, exch, m, segment, instrument_id, depth_level, actual, fallback
                )
                for code in sub.codes:
                    self._routes.setdefault((segment, instrument_id, code), set()).add(
                        (exch, sym, m)
                    )
            else:
                sub.requested_depth, sub.actual_depth, sub.is_fallback = (
                    depth_level,
                    actual,
                    fallback,
                )
            sub.consumers[consumer] += 1
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
        if self._config is None:
            return self._not_initialized()
        checked = self._check(symbol, exchange, mode)
        if isinstance(checked, Rejected):
            return checked.envelope()
        sym, exch, m = checked
        key = (sym, exch, m)
        with self._lock:
            sub = self._subs.get(key)
            if sub is None or sub.consumers[consumer] <= 0:
                sub_consumer = "" if consumer == DEFAULT_CONSUMER else f" for {consumer!r}"
                return error_response(
                    ErrorCode.NOT_SUBSCRIBED,
                    f"{exch}:{sym} ({m.label}) is not subscribed{sub_consumer}",
                )
            remaining = self._drop_want(key, consumer)
            stream = self._stream
            if stream is not None:
                for code in sub.codes:
                    stream.unsubscribe(
                        sub.segment, sub.instrument_id, code, consumer=(exch, sym, consumer)
                    )
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
        if self._config is None:
            return self._not_initialized()
        with self._lock:
            dropped = 0
            stream = self._stream
            for key, sub in list(self._subs.items()):
                for consumer, n in list(sub.consumers.items()):
                    for _ in range(n):
                        self._drop_want(key, consumer)
                        dropped += 1
                        if stream is not None:
                            for code in sub.codes:
                                stream.unsubscribe(
                                    sub.segment,
                                    sub.instrument_id,
                                    code,
                                    consumer=(sub.exchange, sub.symbol, consumer),
                                )
        self.counts["unsubscribe"] += dropped
        return success_response(f"Unsubscribed from everything ({dropped} subscription(s))")

    def is_auth_error(self, message: object) -> bool:
        """True when ``message`` (text, exception or error envelope) is an authentication
        failure (OpenAlgo's proxy then clears caches and retries with ``force=True``)."""
        return _is_auth_error(message)

    def clear_auth_cache_for_user(self, user_id: str) -> None:
        """Drop the host's cached tokens of ``user_id`` (OpenAlgo: its auth caches); the next
        read goes to the database. Never raises."""
        clear = self._hooks.clear_cache
        if clear is None:
            parent = getattr(super(), "clear_auth_cache_for_user", None)
            clear = parent
        if clear is not None:
            try:
                clear(user_id)
            except Exception as exc:
                log.warning("clearing the auth cache failed: %s", REDACTOR(repr(exc)))

    def publish_market_data(self, topic: str, data: Mapping[str, Any]) -> bool | None:
        """Send ``[topic, json(data)]`` on the PUB socket: our own, or the one a host base class
        opened. The connection pool replaces this method on the instance to route through its
        shared publisher; the adapter always publishes through the attribute. False when the
        message could not be sent (counted)."""
        publisher = self._publisher
        if publisher is not None:
            return publisher.publish(topic, data)
        parent = getattr(super(), "publish_market_data", None)
        if parent is not None:
            parent(topic, data)
            return None
        return False

    def cleanup_zmq(self) -> None:
        """Close the PUB socket (linger 0) and its context if this adapter opened them, else let
        a host base class clean up its own. Idempotent."""
        if self._close_own_publisher():
            return
        parent = getattr(super(), "cleanup_zmq", None)
        if parent is not None and self.socket is not None:
            parent()
            self.socket = None

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
            return {
                f"{s.symbol}_{s.exchange}_{int(s.mode)}": {
                    "symbol": s.symbol,
                    "exchange": s.exchange,
                    "mode": int(s.mode),
                    "exchange_segment": s.segment,
                    "instrument_id": s.instrument_id,
                    "actual_depth": s.actual_depth,
                    "wants": sum(s.consumers.values()),
                }
                for s in self._subs.values()
            }

    @subscriptions.setter
    def subscriptions(self, value: Mapping[str, Any]) -> None:
        """Assignments (OpenAlgo's base ``__init__`` sets ``{}``) are ignored: the registry is
        the adapter's own; unsubscribe to forget wants."""

    @property
    def stream(self) -> StreamingAdapter | None:
        """The live :class:`StreamingAdapter` (None when disconnected)."""
        return self._stream

    @property
    def publisher(self) -> ZmqPublisher | None:
        """The live ZeroMQ publisher (None when disconnected)."""
        return self._publisher

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
        out["subscriptions"] = len(self._subs)
        out["zmq_address"] = self._address() if publisher is None else publisher.address
        out["stream"] = None if stream is None else stream.stats()
        return out

    def __repr__(self) -> str:
        return (
            f"JainamPropWebSocketAdapter(user_id={self.user_id!r}, connected={self.connected}, "
            f"subscriptions={len(self._subs)})"
        )

    # ------------------------------------------------------------------ internals

    def _not_initialized(self) -> dict[str, Any]:
        return error_response(ErrorCode.NOT_INITIALIZED, "call initialize() first")

    def _address(self) -> str:
        return self._zmq_address or zmq_address_from_env(self._environ)

    def _check(
        self, symbol: object, exchange: object, mode: object
    ) -> tuple[str, str, Mode] | Rejected:
        m = normalize_mode(mode)
        if isinstance(m, Rejected):
            return m
        exch = normalize_exchange(exchange)
        if isinstance(exch, Rejected):
            return exch
        sym = normalize_symbol(symbol)
        if isinstance(sym, Rejected):
            return sym
        return sym, exch, m

    def _resolve(self, symbol: str, exchange: str) -> tuple[int, int] | Rejected:
        resolver = self._resolver
        if resolver is None:
            return Rejected(
                ErrorCode.SYMBOL_NOT_FOUND,
                f"no symbol resolver: cannot resolve {exchange}:{symbol} "
                "(set JAINAM_INSTRUMENT_MASTER or pass a resolver)",
            )
        try:
            found = resolver.resolve(symbol, exchange)
        except Exception as exc:
            log.error("symbol resolver failed for %s:%s: %r", exchange, symbol, exc)
            return Rejected(ErrorCode.INTERNAL_ERROR, f"symbol resolver failed: {exc}")
        if found is None:
            return Rejected(ErrorCode.SYMBOL_NOT_FOUND, f"unknown symbol {symbol!r} on {exchange}")
        segment, instrument_id = int(found[0]), int(found[1])
        if segment != EXCHANGE_SEGMENTS[exchange]:
            return Rejected(
                ErrorCode.SYMBOL_NOT_FOUND,
                f"{exchange}:{symbol} resolved to segment {segment}, "
                f"but {exchange} streams on {EXCHANGE_SEGMENTS[exchange]}",
            )
        return segment, instrument_id

    def _drop_want(self, key: _SubKey, consumer: Hashable) -> int:
        """Remove one want (lock held); returns how many wants remain for ``key``."""
        sub = self._subs[key]
        sub.consumers[consumer] -= 1
        if sub.consumers[consumer] <= 0:
            del sub.consumers[consumer]
        remaining = sum(sub.consumers.values())
        if remaining == 0:
            del self._subs[key]
            self._last.pop(topic_for(sub.exchange, sub.symbol, sub.mode), None)
            for code in sub.codes:
                route = (sub.segment, sub.instrument_id, code)
                targets = self._routes.get(route)
                if targets is not None:
                    targets.discard((sub.exchange, sub.symbol, sub.mode))
                    if not targets:
                        del self._routes[route]
        return remaining

    def _on_tick(self, tick: Tick) -> None:
        """Delivery thread: publish the tick for every platform symbol subscribed to it."""
        code = tick.message_code
        key = (tick.exchange_segment, tick.instrument_id, code)
        # Held while publishing (PUB sends never block): once unsubscribe() returned, no
        # message for its topic can still be on its way out.
        with self._lock:
            targets = self._routes.get(key)
            if not targets:
                self.counts["ticks_unrouted" if code in _PUBLISHED else "ticks_ignored"] += 1
                return
            if code == OI_CODE:
                self._publish_oi(tick, targets)
                return
            oi = self._oi.get((tick.exchange_segment, tick.instrument_id))
            for exchange, symbol, mode in tuple(targets):
                if code == INDEX_CODE and mode is Mode.DEPTH:
                    continue  # an index has no book: its Depth want gets the 1502 messages
                payload = normalize_tick(tick, mode, symbol, exchange)
                if oi is not None and mode is not Mode.LTP:
                    payload["oi"] = oi
                topic = topic_for(exchange, symbol, mode)
                if mode is not Mode.LTP and exchange in _OI_EXCHANGES:
                    self._last[topic] = payload
                self._send(topic, payload, code)

    def _publish_oi(self, tick: Tick, targets: set[_Target]) -> None:
        """A 1510: remember the open interest and republish the latest Quote/Depth payload of
        each subscribed topic with it (nothing before the first price message)."""
        if tick.open_interest is None:
            return
        self._oi[(tick.exchange_segment, tick.instrument_id)] = tick.open_interest
        for exchange, symbol, mode in tuple(targets):
            topic = topic_for(exchange, symbol, mode)
            last = self._last.get(topic)
            if last is not None:
                self._send(topic, with_open_interest(last, tick.open_interest), OI_CODE)

    def _send(self, topic: str, payload: dict[str, Any], code: int) -> None:
        # Through the attribute: the connection pool replaces publish_market_data.
        if self.publish_market_data(topic, payload) is False:
            self.counts["publish_errors"] += 1
        else:
            self.counts["published"] += 1
            self.published_by_code[code] += 1

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

    def _close_own_publisher(self) -> bool:
        """Close the PUB socket this adapter opened, if any (a host's socket stays open)."""
        with self._lock:
            publisher, self._publisher = self._publisher, None
        if publisher is None:
            return False
        publisher.close()
        self.socket = self.context = None
        self.zmq_port = None
        return True

    def _host_publishes(self) -> bool:
        """True when someone else owns publishing: the connection pool replaced
        ``publish_market_data`` (or marked us as using its shared publisher), or a host base
        class opened ``socket`` for us."""
        return (
            "publish_market_data" in vars(self)
            or bool(getattr(self, "_uses_shared_zmq", False))
            or (self.socket is not None and self._publisher is None)
        )

    def _release_store(self, keep: bool = False) -> None:
        store = self._store
        if store is not None and self._owns_store:
            store.close()  # disposes connections; the store stays usable
        if not keep:
            self._store = None

    def _build_config(self, user: str, data: Mapping[str, Any]) -> AdapterConfig:
        overrides: dict[str, Any] = dict(self._stream_options)
        env = os.environ if self._environ is None else self._environ
        # OpenAlgo's market-data credentials, unless our own variables are set.
        for ours, theirs, target in (
            ("JAINAM_APP_KEY", MARKET_KEY_ENV, "app_key"),
            ("JAINAM_SECRET_KEY", MARKET_SECRET_ENV, "secret_key"),
        ):
            if not env.get(ours) and env.get(theirs):
                overrides[target] = env[theirs]
        for name, value in data.items():
            target = _ALIASES.get(name, name)
            if target in _CONFIG_FIELDS and value is not None:
                overrides[target] = value
        overrides.setdefault("user", user)
        return AdapterConfig.from_env(self._environ, **overrides)

    def _build_resolver(self, data: Mapping[str, Any]) -> SymbolResolver | None:
        path = data.get("instrument_master")
        if path:
            return MasterFileResolver.from_files(path)
        if self._resolver is not None:
            return self._resolver
        if self._hooks.get_token is not None:
            return TokenDbResolver(self._hooks.get_token, self._hooks.get_symbol)
        return MasterFileResolver.from_env(self._environ)

    def _build_store(self, data: Mapping[str, Any]) -> tuple[Any, bool]:
        given = data.get("store")
        if given is not None:
            return given, False
        from jainam_fsm.store import TokenStore

        kwargs: dict[str, Any] = {}
        if data.get("database_url"):
            kwargs["url"] = data["database_url"]
        if data.get("pepper"):
            kwargs["pepper"] = data["pepper"]
        return TokenStore.from_env(self._environ, **kwargs), True

    def _host_token(self) -> tuple[str | None, str | None]:
        """The feed token and login user id the host holds (``auth_data`` first)."""
        data, hooks, user = self._auth_data or {}, self._hooks, self.user_id or ""
        if data.get("feed_token"):
            uid = data.get("feed_user_id") or data.get("userID")
            if uid is None and hooks.get_user_id is not None:
                uid = hooks.get_user_id(user)
            return str(data["feed_token"]), None if uid is None else str(uid)
        token = hooks.get_feed_token(user) if hooks.get_feed_token is not None else None
        uid = hooks.get_user_id(user) if hooks.get_user_id is not None else None
        return token, None if uid is None else str(uid)

    def _store_host_token(self, token: str, user_id: str) -> None:
        if self._auth_data is not None and self._auth_data.get("feed_token"):
            self._auth_data["feed_token"], self._auth_data["feed_user_id"] = token, user_id
        store = self._hooks.store_feed_token
        if store is not None:
            store(self.user_id or "", token, user_id)

    def _token_source_factory(self) -> Any:
        store, config = self._store, self._config
        assert config is not None
        if self._auth_data is not None:  # hosted: the platform's token, refreshed through it

            def hosted(login: Any, telemetry: TelemetrySink) -> TokenSource:
                source = HostTokenSource(self._host_token, login, self._store_host_token)
                self.token_source = source
                return source

            return hosted

        def make(login: Any, telemetry: TelemetrySink) -> TokenSource:
            from jainam_fsm.store import StoredTokenSource, TokenBinding

            return StoredTokenSource(
                store,
                config.user,
                login,
                telemetry,
                refresh_margin=config.refresh_margin,
                binding=TokenBinding.for_config(config),
            )

        return make


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
