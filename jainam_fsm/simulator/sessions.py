"""Server-side market-data sessions: credentials, tokens and subscriptions. Pure state, no I/O.

XTS keeps one session per app key (SFDOC "Only One session is allowed per appKey-secretKey
combination"); a new login replaces it and kills its token. Subscriptions belong to the session,
not to a socket (WC), so they survive a socket reconnect with the same token.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from jainam_fsm.simulator.config import SimUser
from jainam_fsm.simulator.tokens import make_token

__all__ = [
    "Instrument",
    "Session",
    "SessionBook",
    "SubscribeResult",
    "UnsubscribeResult",
]

Instrument = tuple[int, int]


@dataclass(eq=False)
class Session:
    """One market-data session (one successful login). Its repr hides the token."""

    user: SimUser
    token: str = field(repr=False)
    issued_at: float
    expires_at: float
    serial: int
    revoked: bool = False
    ended: bool = False
    #: message code -> instruments, in subscription order (dict used as an ordered set)
    subscriptions: dict[int, dict[Instrument, None]] = field(default_factory=dict)
    #: Socket.IO sids of the sockets opened with this session's token
    sids: set[str] = field(default_factory=set)

    def is_valid(self, now: float) -> bool:
        """True while the token is accepted: not replaced, logged out, revoked or expired."""
        return not (self.ended or self.revoked) and now < self.expires_at

    def subscription_count(self) -> int:
        """Distinct ``(instrument, message code)`` pairs: what the limit counts."""
        return sum(len(v) for v in self.subscriptions.values())

    def is_subscribed(self, code: int, instrument: Instrument) -> bool:
        """True when ``instrument`` is subscribed for ``code``."""
        subs = self.subscriptions.get(code)
        return subs is not None and instrument in subs

    def subscribed_by_code(self) -> dict[str, list[list[int]]]:
        """``{"1501": [[1, 22], ...]}``: the JSON shape used by ``/_sim/stats``."""
        return {
            str(code): [list(i) for i in insts]
            for code, insts in sorted(self.subscriptions.items())
            if insts
        }


@dataclass(frozen=True, slots=True)
class SubscribeResult:
    """Outcome of one subscribe request."""

    added: tuple[Instrument, ...]
    already: tuple[Instrument, ...]
    remaining: int
    limit_exceeded: bool = False


@dataclass(frozen=True, slots=True)
class UnsubscribeResult:
    """Outcome of one unsubscribe request."""

    removed: tuple[Instrument, ...]
    not_subscribed: tuple[Instrument, ...]
    remaining: int


class SessionBook:
    """All sessions, keyed by app key and by token. Not thread-safe: one event loop owns it."""

    def __init__(
        self,
        users: Iterable[SimUser],
        *,
        token_ttl: float,
        subscription_limit: int,
        keep_subscriptions_on_login: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._users = {u.app_key: u for u in users}
        self.token_ttl = token_ttl
        self.subscription_limit = subscription_limit
        self.keep_subscriptions_on_login = keep_subscriptions_on_login
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._serial = 0
        self._by_app_key: dict[str, Session] = {}
        self._by_token: dict[str, Session] = {}

    # -- login / logout ---------------------------------------------------------------------

    def check_credentials(self, app_key: str, secret_key: str) -> SimUser | None:
        """The user these credentials belong to, or ``None``. Constant-time secret compare."""
        user = self._users.get(app_key)
        if user is None or not secrets.compare_digest(
            user.secret_key.encode(), secret_key.encode()
        ):
            return None
        return user

    def login(self, user: SimUser) -> tuple[Session, Session | None]:
        """Open a new session for ``user``; returns ``(new, replaced)``.

        The replaced session (if any) is ended: its token stops working at once. Its
        subscriptions move to the new session only if ``keep_subscriptions_on_login``.
        """
        now = self._clock()
        iat = int(now)
        self._serial += 1
        claims: dict[str, object] = {
            "userID": f"{user.user_id}_{user.app_key}",
            "publicKey": user.app_key,
            "iat": iat,
            "exp": iat + int(self.token_ttl),
        }
        # Two logins in the same second have identical claims; a per-login signing key keeps
        # their tokens distinct without adding claims the real server does not send.
        token = make_token(claims, self._key + self._serial.to_bytes(8, "big"))
        session = Session(
            user=user,
            token=token,
            issued_at=now,
            expires_at=iat + self.token_ttl,
            serial=self._serial,
        )
        old = self._by_app_key.get(user.app_key)
        if old is not None:
            self._end(old)
            if self.keep_subscriptions_on_login:
                session.subscriptions = {c: dict(i) for c, i in old.subscriptions.items()}
        self._by_app_key[user.app_key] = session
        self._by_token[token] = session
        return session, old

    def _end(self, session: Session) -> None:
        session.ended = True
        self._by_token.pop(session.token, None)
        if self._by_app_key.get(session.user.app_key) is session:
            del self._by_app_key[session.user.app_key]

    def logout(self, session: Session) -> None:
        """End ``session`` and drop its subscriptions."""
        self._end(session)
        session.subscriptions = {}

    def lookup(self, token: str | None) -> Session | None:
        """The session whose *valid* token this is, else ``None``."""
        if not token:
            return None
        session = self._by_token.get(token)
        if session is None or not session.is_valid(self._clock()):
            return None
        return session

    def sessions(self) -> Iterator[Session]:
        """Current (not replaced, not logged out) sessions, valid or not."""
        return iter(list(self._by_app_key.values()))

    def live_sessions(self) -> list[Session]:
        """Current sessions whose token is still valid."""
        now = self._clock()
        return [s for s in self._by_app_key.values() if s.is_valid(now)]

    # -- faults ------------------------------------------------------------------------------

    def revoke_all(self) -> list[Session]:
        """Invalidate every current token (the sessions keep their subscriptions)."""
        current = list(self._by_app_key.values())
        for s in current:
            s.revoked = True
        return current

    def expire_all(self) -> list[Session]:
        """Make every current token expire now."""
        now = self._clock()
        current = list(self._by_app_key.values())
        for s in current:
            s.expires_at = min(s.expires_at, now)
        return current

    def forget_all(self) -> list[Session]:
        """Drop every session and subscription, as a restarted server would."""
        current = list(self._by_app_key.values())
        for s in current:
            self._end(s)
            s.subscriptions = {}
        return current

    # -- subscriptions -----------------------------------------------------------------------

    def remaining(self, session: Session) -> int:
        """``Remaining_Subscription_Count`` of ``session``."""
        return max(0, self.subscription_limit - session.subscription_count())

    def subscribe(
        self, session: Session, code: int, instruments: Iterable[Instrument]
    ) -> SubscribeResult:
        """Subscribe the new instruments of the batch; all-or-nothing against the limit."""
        subs = session.subscriptions.get(code, {})
        added: list[Instrument] = []
        already: list[Instrument] = []
        for inst in instruments:
            if inst in subs:
                if inst not in already:
                    already.append(inst)
            elif inst not in added:
                added.append(inst)
        if len(added) > self.remaining(session):
            return SubscribeResult((), tuple(already), self.remaining(session), True)
        if added:
            target = session.subscriptions.setdefault(code, {})
            for inst in added:
                target[inst] = None
        return SubscribeResult(tuple(added), tuple(already), self.remaining(session))

    def unsubscribe(
        self, session: Session, code: int, instruments: Iterable[Instrument]
    ) -> UnsubscribeResult:
        """Remove the instruments; ones not subscribed are reported, not an error."""
        subs = session.subscriptions.get(code, {})
        removed: list[Instrument] = []
        missing: list[Instrument] = []
        for inst in instruments:
            if inst in subs:
                del subs[inst]
                removed.append(inst)
            elif inst not in removed and inst not in missing:
                missing.append(inst)
        if code in session.subscriptions and not subs:
            del session.subscriptions[code]
        return UnsubscribeResult(tuple(removed), tuple(missing), self.remaining(session))
