"""The small interfaces (ports) through which the core does its work.

Every port method is called only from the thread (or task) that owns the state machine, one
call at a time. Implementations may block on I/O there; the core holds no lock while they do.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

#: ``(exchange_segment, exchange_instrument_id)``
Instrument = tuple[int, int]


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


def emit_safely(sink: TelemetrySink, event: str, level: int, fields: dict[str, object]) -> None:
    """Emit through ``sink``; a sink that raises is logged, never propagated (telemetry must
    not break the machine, a token refresh or the watchdog)."""
    try:
        sink.emit(event, level, fields)
    except Exception:
        logging.getLogger("jainam_fsm.telemetry").exception("telemetry sink failed on %s", event)
