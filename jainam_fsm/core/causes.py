"""Why a connection failed, as a closed set of names, and which of them retrying cannot fix.

The I/O edges (:mod:`jainam_fsm.transport.causes`) turn a library's exception chain into a
:class:`Cause` and attach it to the error they raise (``TransportFailure(..., cause=...)``);
the core reads it back with :func:`cause_of` and decides what the lifecycle does about it
(:data:`PERMANENT`, and ``BackoffPolicy.permanent_attempts``). Nothing here does I/O.
"""

from __future__ import annotations

from enum import StrEnum


class Cause(StrEnum):
    """The cause of a failed login, REST call or socket connect (the telemetry ``cause``)."""

    TLS_VERIFY = "tls_verify"
    TLS = "tls"
    SCHEME_MISMATCH = "scheme_mismatch"
    DNS = "dns"
    REFUSED = "refused"
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    RESET = "reset"
    NOT_SOCKETIO = "not_socketio"
    NOT_XTS = "not_xts"
    HTTP_STATUS = "http_status"
    HANDSHAKE = "handshake"
    STORE = "store"
    OTHER = "other"


#: One line per cause: what it means and where to look (the CLI's exit message uses it).
DESCRIPTIONS: dict[Cause, str] = {
    Cause.TLS_VERIFY: "the server's TLS certificate did not verify (expired, self-signed, "
    "wrong host name or an unknown CA)",
    Cause.TLS: "the TLS handshake failed",
    Cause.SCHEME_MISMATCH: "http/https mix-up: the URL's scheme does not match what the port "
    "speaks (check JAINAM_BASE_URL)",
    Cause.DNS: "the host name does not resolve",
    Cause.REFUSED: "nothing accepts connections on that port (connection refused)",
    Cause.UNREACHABLE: "no route to the host or network",
    Cause.TIMEOUT: "no answer within the timeout (a black-holed address, a firewall that drops, "
    "or an overloaded server)",
    Cause.RESET: "the server closed the connection without an answer",
    Cause.NOT_SOCKETIO: "an HTTP server answered the socket path without a Socket.IO handshake "
    "(wrong URL or socket path)",
    Cause.NOT_XTS: "an HTTP server answered without the XTS JSON envelope (wrong URL or API "
    "prefix)",
    Cause.HTTP_STATUS: "an HTTP error status (5xx, 401/403, 408, 429) from the server or a proxy",
    Cause.HANDSHAKE: "the Socket.IO handshake did not complete (namespace refused, no open "
    "packet or no `joined` event)",
    Cause.STORE: "the token store is unavailable",
    Cause.OTHER: "an unclassified failure",
}

#: Causes that retrying cannot fix: the server is misconfigured for us, or we for it. They are
#: ERROR from the first attempt, and ``BackoffPolicy.permanent_attempts`` attempts in a row with
#: one of them end the stream ``exhausted`` (the machine's ``connection_lost`` edge with the
#: ``permanent_failure`` condition), instead of spending the whole backoff budget.
PERMANENT: frozenset[Cause] = frozenset(
    {Cause.TLS_VERIFY, Cause.SCHEME_MISMATCH, Cause.NOT_SOCKETIO, Cause.NOT_XTS}
)


def is_permanent(cause: Cause | str | None) -> bool:
    """Whether ``cause`` is one retrying cannot fix (see :data:`PERMANENT`)."""
    return cause in PERMANENT


def cause_fields(cause: Cause | str | None) -> dict[str, object]:
    """The telemetry fields a failure's cause adds (``cause``, ``permanent``); none without one."""
    if cause is None:
        return {}
    return {"cause": str(cause), "permanent": is_permanent(cause)}


def cause_of(exc: BaseException | None) -> Cause:
    """The cause an edge attached to ``exc`` or to an exception it was raised from.

    Walks ``__cause__`` and ``__context__`` (a ``TokenUnavailable`` raised from a login's
    ``TransportFailure`` carries the latter's cause); :attr:`Cause.OTHER` when none has one.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        cause = getattr(exc, "cause", None)
        if isinstance(cause, Cause):
            return cause
        exc = exc.__cause__ or exc.__context__
    return Cause.OTHER


def cause_in(reason: str) -> Cause | None:
    """The cause a lifecycle reason names (its first ``[cause]`` tag), if any.

    Reasons look like ``connect_failed [refused]: ...`` or ``permanent failure [tls_verify] on
    2 attempts in a row ...``; hooks that get only the reason (``on_exhausted``) read it here.
    """
    start = reason.find("[")
    while start != -1:
        end = reason.find("]", start)
        if end == -1:
            return None
        try:
            return Cause(reason[start + 1 : end])
        except ValueError:
            start = reason.find("[", end)
    return None
