"""The core's :class:`~jainam_fsm.core.ports.TokenSource` on top of the :class:`TokenStore`.

Lifecycle: reuse a stored, valid token (zero logins); log in when the token is missing,
revoked, flagged stale, or within ``refresh_margin`` of its JWT ``exp``; when the server
rejected a token (``get_token(stale=t)``), flag it stale and log in once -- unless the store
already holds a different token, which another worker fetched: then reuse that.

Single flight: every login happens while holding the user's store lock (a PostgreSQL advisory
lock or a SQLite write transaction). Whoever gets the lock second re-reads the row, finds the
token the first one stored, and reuses it -- so N workers on one or many hosts log in once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from jainam_fsm.core.causes import cause_of
from jainam_fsm.core.ports import FeedToken, TelemetrySink, emit_safely
from jainam_fsm.errors import (
    CredentialsRejected,
    JainamError,
    TokenUnavailable,
    TransportFailure,
)
from jainam_fsm.store.access import SchemaError, StoreLockTimeout, StoreUnavailable
from jainam_fsm.store.binding import TokenBinding
from jainam_fsm.store.crypto import TokenDecryptError
from jainam_fsm.store.db import StoredToken, TokenStore
from jainam_fsm.transport.rest import jwt_issued_at

if TYPE_CHECKING:
    from jainam_fsm.transport.rest import LoginResult

log = logging.getLogger("jainam_fsm.store")

EV_REUSED = "token.reused"
EV_LOGIN = "token.login"
EV_REFRESHED = "token.refreshed"
EV_WAITED = "token.waited"
EV_STORE_ERROR = "token.store_error"
EV_LOGIN_FAILED = "token.login_failed"


class StoredTokenSource:
    """A :class:`~jainam_fsm.core.ports.TokenSource` sharing one token through a store.

    ``login`` is a blocking callable that performs one XTS login and returns a
    :class:`~jainam_fsm.transport.rest.LoginResult` (or a bare FeedToken). It may raise
    CredentialsRejected (passed through; do not retry), TransportFailure or TokenUnavailable
    (reported as TokenUnavailable). ``get_token`` raises only CredentialsRejected or
    TokenUnavailable.

    ``binding`` (:class:`~jainam_fsm.store.binding.TokenBinding`, e.g.
    ``TokenBinding.for_config(config)``) ties the stored token to one server root and app key
    and records a fingerprint of the secret: a token stored for another server or app key is
    never returned, and a changed secret means a fresh login. The adapter's default source is
    always bound; ``None`` uses the unbound row (for hosts that log in themselves).
    """

    def __init__(
        self,
        store: TokenStore,
        user: str,
        login: Callable[[], LoginResult | FeedToken],
        telemetry: TelemetrySink | None = None,
        *,
        refresh_margin: float = 300.0,
        lock_timeout: float | None = None,
        clock: Callable[[], float] = time.time,
        broker: str | None = None,
        binding: TokenBinding | None = None,
    ) -> None:
        if not user:
            raise ValueError("user must be a non-empty string")
        self.store = store
        self.user = user
        self._login = login
        self._telemetry = telemetry
        self.refresh_margin = float(refresh_margin)
        self.lock_timeout = store.lock_timeout if lock_timeout is None else float(lock_timeout)
        self._clock = clock
        self._broker = broker
        self.binding = binding

    def __repr__(self) -> str:
        return f"StoredTokenSource(user={self.user!r}, store={self.store!r})"

    # -- TokenSource ------------------------------------------------------------------------

    def get_token(self, *, stale: FeedToken | None = None) -> FeedToken:
        """Return a usable token; see the module docstring. Raises CredentialsRejected or
        TokenUnavailable only."""
        try:
            return self._get_token(stale)
        except (CredentialsRejected, TokenUnavailable):
            raise
        except TokenDecryptError as exc:
            self._store_error("read", exc, reason="decrypt_failed", level=logging.ERROR)
            raise TokenUnavailable(str(exc)) from None
        except Exception as exc:  # the contract: nothing else escapes into the core's loop
            self._store_error("get_token", exc, reason="unexpected", level=logging.ERROR)
            raise TokenUnavailable(f"token source failed: {type(exc).__name__}") from None

    # -- internals --------------------------------------------------------------------------

    def _margin(self, rec: StoredToken) -> float:
        """Refresh margin, at most half the token's stored lifetime (no refresh storm when the
        server hands out tokens shorter than ``refresh_margin``)."""
        tok = rec.feed_token
        if tok is None or tok.expires_at is None:
            return 0.0
        # Lifetime from the JWT's own iat when it has one; else from when it was stored.
        issued = jwt_issued_at(tok.value)
        lifetime = tok.expires_at - (rec.updated_at.timestamp() if issued is None else issued)
        return max(0.0, min(self.refresh_margin, lifetime / 2))

    def _fresh(self, rec: StoredToken | None, now: float) -> bool:
        return (
            rec is not None
            and rec.usable(now, self._margin(rec))
            and not self.store.secret_changed(rec, self.binding)
        )

    def _read(self) -> StoredToken | None:
        try:
            return self.store.get_record(self.user, binding=self.binding)
        except StoreUnavailable as exc:
            self._store_error("read", exc)
            raise

    def _get_token(self, stale: FeedToken | None) -> FeedToken:
        rec = self._read()
        now = self._clock()
        if self._fresh(rec, now):
            assert rec is not None and rec.feed_token is not None
            if stale is None:
                self._emit(
                    EV_REUSED,
                    logging.INFO,
                    fingerprint=rec.feed_token.fingerprint,
                    expires_in=self._expires_in(rec.feed_token, now),
                )
                return rec.feed_token
            if rec.feed_token.value != stale.value:
                # Compare before login: another worker already replaced the rejected token.
                self._emit(
                    EV_WAITED,
                    logging.INFO,
                    fingerprint=rec.feed_token.fingerprint,
                    replaced=stale.fingerprint,
                    waited_s=0.0,
                )
                return rec.feed_token
        return self._login_single_flight(stale, seen=rec)

    def _login_single_flight(self, stale: FeedToken | None, seen: StoredToken | None) -> FeedToken:
        started = time.monotonic()
        waited = 0.0
        new_token: FeedToken | None = None
        failure: CredentialsRejected | TokenUnavailable | None = None
        reason = "missing"
        old: FeedToken | None = None
        login_s = 0.0
        try:
            with self.store.locked(self.user, self.lock_timeout, binding=self.binding) as locked:
                waited = time.monotonic() - started
                rec = locked.read()
                now = self._clock()
                if self._fresh(rec, now):
                    assert rec is not None and rec.feed_token is not None
                    current = rec.feed_token
                    if stale is None or current.value != stale.value:
                        seen_value = seen.feed_token.value if seen and seen.feed_token else None
                        if current.value != seen_value:
                            self._emit(
                                EV_WAITED,
                                logging.INFO,
                                fingerprint=current.fingerprint,
                                replaced=None if stale is None else stale.fingerprint,
                                waited_s=round(waited, 3),
                            )
                        else:
                            self._emit(
                                EV_REUSED,
                                logging.INFO,
                                fingerprint=current.fingerprint,
                                expires_in=self._expires_in(current, now),
                            )
                        return current
                    locked.mark_stale()
                reason, old = self._why(rec, stale, now)
                t_login = time.monotonic()
                try:
                    new_token = self._call_login()
                except (CredentialsRejected, TokenUnavailable) as exc:
                    failure = exc  # leave the block normally: the stale flag still commits
                else:
                    new_token = locked.store_feed_token(new_token, broker=self._broker)
                login_s = time.monotonic() - t_login
        except StoreUnavailable as exc:
            op = "lock" if isinstance(exc, StoreLockTimeout) else "write"
            if new_token is None:
                self._store_error(op, exc)
                raise
            # Logged in but could not persist: use the token (a second login would only kill
            # this session); other workers will log in themselves once the store is back.
            self._store_error("write", exc, persisted=False)
        if failure is not None:
            self._emit(
                EV_LOGIN_FAILED,
                logging.ERROR if isinstance(failure, CredentialsRejected) else logging.WARNING,
                reason=(
                    "credentials_rejected"
                    if isinstance(failure, CredentialsRejected)
                    else "unavailable"
                ),
                error=type(failure).__name__,
                cause=str(cause_of(failure)),
                trigger=reason,
            )
            raise failure
        assert new_token is not None
        fields: dict[str, object] = {
            "fingerprint": new_token.fingerprint,
            "reason": reason,
            "expires_in": self._expires_in(new_token, self._clock()),
            "waited_s": round(waited, 3),
            "login_s": round(login_s, 3),
        }
        if old is not None:
            self._emit(EV_REFRESHED, logging.INFO, old_fingerprint=old.fingerprint, **fields)
        else:
            self._emit(EV_LOGIN, logging.INFO, **fields)
        return new_token

    def _why(
        self, rec: StoredToken | None, stale: FeedToken | None, now: float
    ) -> tuple[str, FeedToken | None]:
        """Why a login is needed, and the token it replaces (``None`` for a first login)."""
        if rec is None or rec.feed_token is None:
            return "missing", None
        if rec.revoked:
            return "revoked", None
        if self.store.secret_changed(rec, self.binding):
            return "secret_changed", rec.feed_token
        if rec.stale or (stale is not None and rec.feed_token.value == stale.value):
            return "stale", rec.feed_token
        exp = rec.feed_token.expires_at
        if exp is not None and exp <= now:
            return "expired", rec.feed_token
        return "expiring", rec.feed_token

    def _call_login(self) -> FeedToken:
        try:
            result = self._login()
        except (CredentialsRejected, TokenUnavailable):
            raise
        except TransportFailure as exc:
            raise TokenUnavailable(f"login failed: {exc}") from exc
        except Exception as exc:
            # A foreign exception's text may carry anything; keep only its type.
            raise TokenUnavailable(f"login failed: {type(exc).__name__}") from None
        token = result if isinstance(result, FeedToken) else getattr(result, "token", None)
        if not isinstance(token, FeedToken) or not token.value:
            raise TokenUnavailable("login returned no feed token")
        return token

    @staticmethod
    def _expires_in(token: FeedToken, now: float) -> float | None:
        return None if token.expires_at is None else round(token.expires_at - now, 1)

    def _store_error(
        self,
        op: str,
        exc: BaseException,
        *,
        reason: str | None = None,
        level: int = logging.WARNING,
        persisted: bool | None = None,
    ) -> None:
        if reason is None:
            reason = (
                "lock_timeout"
                if isinstance(exc, StoreLockTimeout)
                else "schema"
                if isinstance(exc, SchemaError)
                else "unreachable"
            )
        fields: dict[str, object] = {
            "op": op,
            "reason": reason,
            "error": type(exc).__name__,
            # Only our own errors' texts are known to be secret-free.
            "message": str(exc)[:300] if isinstance(exc, JainamError) else "",
        }
        if persisted is not None:
            fields["persisted"] = persisted
        self._emit(EV_STORE_ERROR, logging.ERROR if reason == "schema" else level, **fields)

    def _emit(self, event: str, level: int, **fields: object) -> None:
        bound = {} if self.binding is None else {"server": self.binding.server}
        fields = {"user": self.user, **bound, **fields}
        log.log(level if self._telemetry is None else logging.DEBUG, "%s %s", event, fields)
        if self._telemetry is not None:
            emit_safely(self._telemetry, event, level, fields)
