"""The small interfaces (ports) through which the core does its work.

Every port method is called only from the thread (or task) that owns the state machine, one
call at a time. Implementations may block on I/O there; the core holds no lock while they do.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Protocol

#: ``(exchange_segment, exchange_instrument_id)``
Instrument = tuple[int, int]
#: ``(exchange_segment, exchange_instrument_id, message_code)``: one server subscription
SubKey = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class FeedToken:
    """A market-data session token. Its ``repr`` shows a short fingerprint, never the value."""

    value: str = field(repr=False)
    user_id: str
    expires_at: float | None = None  # unix seconds, from the JWT ``exp`` claim when known
    #: the market-data API that issued it ("json" or "binary"), when known: a stored token
    #: tells a later ``api="auto"`` start which API to use without probing
    api: str | None = None

    @property
    def fingerprint(self) -> str:
        """A short, irreversible tag that tells two tokens apart in logs."""
        return hashlib.sha256(self.value.encode()).hexdigest()[:10]

    def __repr__(self) -> str:
        return (
            f"FeedToken(user_id={self.user_id!r}, expires_at={self.expires_at!r}, "
            f"fingerprint={self.fingerprint!r})"
        )

    __str__ = __repr__


class TokenSource(Protocol):
    """Gives the core a feed token: the stored one when valid, otherwise a fresh login."""

    def get_token(self, *, stale: FeedToken | None = None) -> FeedToken:
        """Return a usable token.

        ``stale`` is a token the server just rejected: the source marks it stale and, unless
        another worker already replaced it, logs in exactly once.

        Raises :class:`~jainam_fsm.errors.CredentialsRejected` (do not retry) or
        :class:`~jainam_fsm.errors.TokenUnavailable` (transient).
        """
        ...


class RequestOutcome(Enum):
    """How the server answered one subscribe or unsubscribe request."""

    DONE = "done"
    #: ``e-session-0002`` "Instrument Already Subscribed": the instruments are subscribed.
    ALREADY = "already"


class Transport(Protocol):
    """The connection to the XTS server: the socket plus the subscription REST calls."""

    def open(self, token: FeedToken) -> None:
        """Connect the socket with ``token``. Returns once the server accepted it.

        Raises :class:`~jainam_fsm.errors.TokenRejected` or
        :class:`~jainam_fsm.errors.TransportFailure`.
        """
        ...

    def close(self) -> None:
        """Drop the socket, if any. Idempotent; never raises."""
        ...

    def subscribe(self, code: int, instruments: Sequence[Instrument]) -> RequestOutcome:
        """One subscribe request: one message code, a batch of instruments."""
        ...

    def unsubscribe(self, code: int, instruments: Sequence[Instrument]) -> RequestOutcome:
        """One unsubscribe request: one message code, a batch of instruments."""
        ...

    def list_subscriptions(self) -> frozenset[SubKey] | None:
        """Everything the session holds, as the server lists it (every message code).

        ``None`` when the server offers no list (or the list is switched off). Raises like
        :meth:`subscribe`.
        """
        ...

    def release(self, code: int, instruments: Sequence[Instrument], timeout: float) -> None:
        """Best-effort unsubscribe at shutdown, within ``timeout`` seconds.

        Runs even while other in-flight calls are being aborted for the shutdown. Raises
        like :meth:`unsubscribe`, or :class:`~jainam_fsm.errors.TransportFailure` on timeout.
        """
        ...


class LinkKind(StrEnum):
    """What happened to an open socket, as the transport reports it (the core maps each kind
    to its trigger: :data:`jainam_fsm.core.machine.LINK_TRIGGERS`)."""

    #: the socket went away: a transport error, a server disconnect, a socket ``error`` event
    LOST = "lost"
    #: the server ended or refused the session: an ``error`` naming the token, a ``logout``
    TOKEN_REJECTED = "token_rejected"


@dataclass(frozen=True, slots=True)
class LinkEvent:
    """One event of the open socket, reported to :meth:`Lifecycle.on_link
    <jainam_fsm.core.lifecycle.Lifecycle.on_link>` on the owner thread. ``detail`` is short
    and never holds a token or secret (the transport redacts it)."""

    kind: LinkKind
    detail: str


@dataclass(frozen=True, slots=True)
class FeedActivity:
    """What the tick path saw on the current socket: the stall watchdog's only input.

    Times are on the :class:`Clock`'s ``monotonic`` time base.
    """

    #: the later of: when the current socket started opening, the last wanted tick
    since: float
    #: ticks for a wanted instrument on the current socket (any: the feed is known to work)
    wanted: int = 0
    #: events that decoded to nothing since the last wanted tick, by event name
    undecodable: Mapping[str, int] = field(default_factory=dict)
    #: extra fields for a stall report (e.g. the market-data API in use); never secrets
    context: Mapping[str, object] = field(default_factory=dict)


class FeedMonitor(Protocol):
    """Tells the core what the tick path saw. Called on the owner thread; it must be cheap and
    must not block (it reads counters the I/O thread keeps; ticks never go through the core)."""

    def activity(self) -> FeedActivity: ...


@dataclass(frozen=True, slots=True)
class Refusal:
    """The server refused to subscribe ``keys`` (e.g. its subscription limit is reached)."""

    keys: frozenset[SubKey]
    #: the server's answer, short (type, HTTP status, XTS code, description)
    error: str


#: Called (on the machine's owner thread) when the server refuses subscriptions.
RefusalHook = Callable[[Refusal], None]


@dataclass(frozen=True, slots=True)
class Readiness:
    """The answer of ``wait_ready()``: true when connected and reconciled.

    ``partial`` tells a stream that is up but lacks refused subscriptions apart from a
    complete one; ``refused`` names them. Truthiness is ``ready`` (as the old ``bool``).
    """

    ready: bool
    refused: frozenset[SubKey] = frozenset()

    @property
    def partial(self) -> bool:
        """Ready, but the server refused some desired subscriptions."""
        return self.ready and bool(self.refused)

    @property
    def complete(self) -> bool:
        """Ready with every desired subscription in place."""
        return self.ready and not self.refused

    def __bool__(self) -> bool:
        return self.ready


class Cancellable(Protocol):
    """A scheduled callback that can be cancelled."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """Time and timers. Callbacks run on the machine's owner thread."""

    def monotonic(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable: ...


class TelemetrySink(Protocol):
    """Receives structured events. ``fields`` never hold a token or secret."""

    def emit(self, event: str, level: int, fields: dict[str, object]) -> None: ...


#: ``emit(event, level, **fields)``: a machine's telemetry, which never raises (the
#: :class:`~jainam_fsm.core.lifecycle.Lifecycle` hands its own to the pieces it runs).
Emit = Callable[..., None]
#: ``internal_error(where, exc)``: a foreign exception (a port bug), reported without its
#: message.
InternalError = Callable[[str, BaseException], None]


def emit_safely(sink: TelemetrySink, event: str, level: int, fields: dict[str, object]) -> None:
    """Emit through ``sink``; a sink that raises is logged, never propagated (telemetry must
    not break the machine, a token refresh or the watchdog)."""
    try:
        sink.emit(event, level, fields)
    except Exception:
        logging.getLogger("jainam_fsm.telemetry").exception("telemetry sink failed on %s", event)
