"""OpenAlgo as the host: its base class, credentials, stored feed token and token database.

Everything here is looked up lazily and is injectable, so the adapter runs inside an OpenAlgo
checkout (the defaults call OpenAlgo's own helpers) and stand-alone (the defaults are absent and
the adapter falls back to ``JAINAM_*`` settings, our token store and the master file). The facts
this module relies on are in ``docs/openalgo.md`` §1 and §5.

* :func:`openalgo_base` -- OpenAlgo's ``BaseBrokerWebSocketAdapter`` when importable.
* :class:`OpenAlgoHooks` -- callables reading and writing OpenAlgo's auth and token databases;
  :meth:`OpenAlgoHooks.from_openalgo` binds them to ``database.auth_db`` / ``database.token_db``.
* :class:`HostTokenSource` -- a :class:`~jainam_fsm.core.ports.TokenSource` that reuses the
  host's stored feed token (with the login's user id) and logs in only when that token is
  rejected, missing or expired, storing the fresh one back through the same hook.
* :class:`TokenDbResolver` -- a :class:`~jainam_fsm.integrations.symbols.SymbolResolver` over
  OpenAlgo's token database (``get_token`` / ``get_symbol``).
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jainam_fsm.core.ports import FeedToken
from jainam_fsm.errors import CredentialsRejected, TokenUnavailable
from jainam_fsm.integrations.base import EXCHANGE_SEGMENTS, SEGMENT_EXCHANGES
from jainam_fsm.telemetry import REDACTOR

__all__ = [
    "AUTH_ERROR_MARKERS",
    "MARKET_KEY_ENV",
    "MARKET_SECRET_ENV",
    "HostTokenSource",
    "OpenAlgoHooks",
    "TokenDbResolver",
    "is_auth_error",
    "openalgo_base",
]

log = logging.getLogger("jainam_fsm.integrations")

#: OpenAlgo's market-data credentials (its ``.env``), used for the XTS market-data login.
MARKET_KEY_ENV = "BROKER_API_KEY_MARKET"
MARKET_SECRET_ENV = "BROKER_API_SECRET_MARKET"

#: Lower-case fragments that make an error message an authentication error (OpenAlgo's base
#: class matches the same kind of list; ours adds the XTS session codes).
AUTH_ERROR_MARKERS: tuple[str, ...] = (
    "401",
    "403",
    "unauthorized",
    "forbidden",
    "invalid token",
    "token expired",
    "token invalid",
    "session expired",
    "authentication",
    "auth_error",
    "e-session-0007",
    "no authentication token",
)


def is_auth_error(message: object) -> bool:
    """True when ``message`` (text, an exception or an error envelope) looks like an
    authentication failure: the proxy then clears its caches and retries with fresh
    credentials."""
    if isinstance(message, Mapping):
        message = " ".join(str(message.get(k, "")) for k in ("code", "message", "error"))
    text = str(message or "").lower()
    return any(marker in text for marker in AUTH_ERROR_MARKERS)


def openalgo_base() -> type | None:
    """OpenAlgo's ``websocket_proxy.base_adapter.BaseBrokerWebSocketAdapter``, or None when
    this process is not running inside an OpenAlgo checkout."""
    try:
        module = importlib.import_module("websocket_proxy.base_adapter")
    except Exception:  # not OpenAlgo, or OpenAlgo failing to import: stand alone
        return None
    base = getattr(module, "BaseBrokerWebSocketAdapter", None)
    return base if isinstance(base, type) else None


def _optional(module: str, name: str) -> Callable[..., Any] | None:
    try:
        found = getattr(importlib.import_module(module), name, None)
    except Exception:
        return None
    return found if callable(found) else None


@dataclass
class OpenAlgoHooks:
    """Callables into the host. Any may be None (that feature is then not used).

    :param get_feed_token: ``user -> token | None``, the stored market-data token.
    :param get_user_id: ``user -> userID | None``, the market-data login's user id (XTS
        ``result.userID``: the socket's ``userID``, not the JWT's claim).
    :param store_feed_token: ``(user, token, user_id) -> None``, saves a refreshed token.
    :param clear_cache: ``user -> None``, drops the host's cached tokens of ``user``.
    :param get_token: ``(symbol, exchange) -> instrument token | None`` (token database).
    :param get_symbol: ``(token, exchange) -> symbol | None`` (token database).
    """

    get_feed_token: Callable[[str], str | None] | None = None
    get_user_id: Callable[[str], str | None] | None = None
    store_feed_token: Callable[[str, str, str], None] | None = None
    clear_cache: Callable[[str], None] | None = None
    get_token: Callable[[str, str], Any] | None = None
    get_symbol: Callable[[Any, str], str | None] | None = None

    @property
    def has_tokens(self) -> bool:
        """True when the host can hand over a stored feed token."""
        return self.get_feed_token is not None

    @property
    def has_symbols(self) -> bool:
        """True when the host's token database can resolve symbols."""
        return self.get_token is not None

    @classmethod
    def from_openalgo(cls) -> OpenAlgoHooks:
        """Bind to OpenAlgo's ``database.auth_db`` and ``database.token_db`` when importable
        (inside an OpenAlgo checkout); every hook is None otherwise. Only tried when OpenAlgo's
        base class imports too, so an unrelated package named ``database`` is never touched."""
        if openalgo_base() is None:
            return cls()
        feed = _optional("database.auth_db", "get_feed_token")
        user_id = _optional("database.auth_db", "get_user_id")
        upsert = _optional("database.auth_db", "upsert_auth")
        auth_token = _optional("database.auth_db", "get_auth_token")
        invalidate = _optional("database.auth_db", "invalidate_user_cache")
        store: Callable[[str, str, str], None] | None = None
        if upsert is not None and auth_token is not None:

            def store(user: str, token: str, uid: str) -> None:
                # The broker token stays as OpenAlgo's login saved it; only the feed token and
                # the market-data user id change.
                current = auth_token(user)
                upsert(user, current or "", "jainam_prop", feed_token=token, user_id=uid)

        return cls(
            get_feed_token=feed,
            get_user_id=user_id,
            store_feed_token=store,
            clear_cache=invalidate,
            get_token=_optional("database.token_db", "get_token"),
            get_symbol=_optional("database.token_db", "get_symbol"),
        )


class TokenDbResolver:
    """Symbols through the host's token database: ``get_token(symbol, exchange)`` gives the XTS
    instrument id (OpenAlgo stores the broker token per symbol and exchange); the segment is the
    exchange's (``NSE_INDEX`` streams on NSECM, and so on)."""

    def __init__(
        self,
        get_token: Callable[[str, str], Any],
        get_symbol: Callable[[Any, str], str | None] | None = None,
    ) -> None:
        self._get_token = get_token
        self._get_symbol = get_symbol

    def resolve(self, symbol: str, exchange: str) -> tuple[int, int] | None:
        """``(segment, instrument id)`` of ``symbol`` on ``exchange``, or None."""
        segment = EXCHANGE_SEGMENTS.get(exchange.upper())
        if segment is None:
            return None
        token = self._get_token(symbol, exchange.upper())
        if token is None or str(token).strip() == "":
            return None
        try:
            return segment, int(str(token).strip())
        except ValueError:
            log.warning("token database: %s:%s has a non-numeric token", exchange, symbol)
            return None

    def reverse(self, exchange_segment: int, instrument_id: int) -> tuple[str, str] | None:
        """``(symbol, exchange)`` of an instrument, or None."""
        exchange = SEGMENT_EXCHANGES.get(exchange_segment)
        if exchange is None or self._get_symbol is None:
            return None
        symbol = self._get_symbol(str(instrument_id), exchange)
        return None if not symbol else (symbol, exchange)

    def __repr__(self) -> str:
        return "TokenDbResolver()"


class HostTokenSource:
    """A :class:`~jainam_fsm.core.ports.TokenSource` over the host's stored feed token.

    ``read() -> (token, user_id)`` returns what the host holds. That token is used as long as it
    has a user id, has not expired (JWT ``exp``) and was not rejected; only then ``login()``
    (one XTS market-data login, returning a LoginResult or FeedToken) runs, and its token is
    handed to ``write(token, user_id)``. One login at a time (a lock), so concurrent rejections
    log in once.
    """

    def __init__(
        self,
        read: Callable[[], tuple[str | None, str | None]],
        login: Callable[[], Any],
        write: Callable[[str, str], None] | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._read = read
        self._login = login
        self._write = write
        self._clock = clock
        self._lock = threading.Lock()
        self._rejected: set[str] = set()
        self.logins = 0
        self.reused = 0

    def __repr__(self) -> str:
        return f"HostTokenSource(logins={self.logins}, reused={self.reused})"

    def _stored(self) -> FeedToken | None:
        from jainam_fsm.transport.rest import jwt_expiry

        try:
            value, user_id = self._read()
        except Exception as exc:
            log.error("reading the host's feed token failed: %s", REDACTOR(repr(exc)))
            return None
        if not value or not user_id or value in self._rejected:
            return None
        REDACTOR.add(value)
        expires = jwt_expiry(value)
        if expires is not None and expires <= self._clock():
            return None
        return FeedToken(value, str(user_id), expires)

    def get_token(self, *, stale: FeedToken | None = None) -> FeedToken:
        """The host's token unless it was rejected; else one login, saved back."""
        with self._lock:
            if stale is not None:
                self._rejected.add(stale.value)
            stored = self._stored()
            if stored is not None:
                self.reused += 1
                return stored
            try:
                result = self._login()
            except (CredentialsRejected, TokenUnavailable):
                raise
            except Exception as exc:
                text = REDACTOR(f"login failed: {type(exc).__name__}: {exc}")
                raise TokenUnavailable(text) from None
            token: FeedToken = getattr(result, "token", result)
            if not isinstance(token, FeedToken):
                raise TokenUnavailable("login returned no token")
            self.logins += 1
            if self._write is not None:
                try:
                    self._write(token.value, token.user_id)
                except Exception as exc:  # the stream goes on with the token it has
                    log.error("storing the refreshed feed token failed: %s", REDACTOR(repr(exc)))
            return token
