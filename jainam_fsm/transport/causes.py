"""Exception chain -> :class:`~jainam_fsm.core.causes.Cause`: what failed, named. Pure.

aiohttp, ssl, the resolver and python-socketio each wrap the real failure in their own
exception (python-socketio's is always ``Connection error``); the original is on the chain
(``__cause__``/``__context__``). :func:`classify` walks it and returns a
:class:`Diagnosis`: the cause and a short detail built only from structured fields
(OpenSSL's reason, the HTTP status, ``strerror``), never from an exception's text, which may
quote a URL with the token in its query.

One case needs a look at the wire: ``http://`` to a TLS port ends as "server disconnected"
(or an HTTP 400 from nginx), indistinguishable here from a flaky server;
:mod:`jainam_fsm.transport.probe` tells them apart.
"""

from __future__ import annotations

import errno
import socket
import ssl
from dataclasses import dataclass

import aiohttp

from jainam_fsm.core.causes import Cause

__all__ = ["Diagnosis", "classify", "http_status_cause"]

#: OpenSSL reasons for a TLS client that got plain HTTP back (https:// to an http:// port).
_PLAINTEXT_REASONS = frozenset(
    {"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"}
)
#: HTTP statuses that say "not now" rather than "not here" (also 401/403: a proxy, or a token).
_TRANSIENT_STATUS = frozenset({401, 403, 408, 425, 429})
_UNREACHABLE = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN})
_RESET = frozenset({errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE})
#: python-socketio/-engineio messages for a handshake that started but did not finish.
_HANDSHAKE_TEXT = ("namespace", "no OPEN packet", "Unexpected connection error", "Unexpected recv")


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """A classified failure: the cause, a short secret-free detail, the HTTP status if any."""

    cause: Cause
    detail: str
    status: int | None = None

    def __str__(self) -> str:
        return f"{self.cause}: {self.detail}" if self.detail else str(self.cause)


def http_status_cause(status: int, *, socket_path: bool) -> Cause:
    """The cause of an HTTP answer that is not what we asked for (no handshake, no envelope)."""
    if status >= 500 or status in _TRANSIENT_STATUS:
        return Cause.HTTP_STATUS
    return Cause.NOT_SOCKETIO if socket_path else Cause.NOT_XTS


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def _one(exc: BaseException) -> Diagnosis | None:
    """The diagnosis one exception of the chain gives on its own, or None to look deeper."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Diagnosis(Cause.TLS_VERIFY, f"certificate verify failed: {exc.verify_message}")
    if isinstance(exc, ssl.SSLError) and not isinstance(exc, ssl.SSLEOFError):
        reason = str(exc.reason or "")
        if reason in _PLAINTEXT_REASONS:
            return Diagnosis(
                Cause.SCHEME_MISMATCH, f"TLS to a port that answers in plain text ({reason})"
            )
        return Diagnosis(Cause.TLS, f"TLS handshake failed ({reason or type(exc).__name__})")
    if isinstance(exc, aiohttp.WSServerHandshakeError):
        status = exc.status
        return Diagnosis(
            http_status_cause(status, socket_path=True),
            f"HTTP {status} instead of a websocket upgrade",
            status,
        )
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):  # when no ssl error is chained
        return Diagnosis(Cause.TLS_VERIFY, "certificate verify failed")
    if isinstance(exc, socket.gaierror | aiohttp.ClientConnectorDNSError):
        return Diagnosis(Cause.DNS, f"name resolution failed ({exc.strerror or exc.errno})")
    if isinstance(exc, ConnectionRefusedError):
        return Diagnosis(Cause.REFUSED, "connection refused")
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return Diagnosis(Cause.TIMEOUT, "timed out")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return Diagnosis(Cause.RESET, "server disconnected without an answer")
    if isinstance(exc, OSError) and exc.errno is not None:
        if exc.errno in _UNREACHABLE:
            return Diagnosis(Cause.UNREACHABLE, exc.strerror or errno.errorcode[exc.errno])
        if exc.errno in _RESET or isinstance(exc, ConnectionResetError):
            return Diagnosis(Cause.RESET, exc.strerror or "connection reset")
    if isinstance(exc, ssl.SSLEOFError):
        return Diagnosis(Cause.RESET, "TLS connection closed during the handshake")
    return None


def classify(exc: BaseException) -> Diagnosis:
    """Name the cause of ``exc`` from the most specific exception on its chain.

    Outer wrappers come first on the chain and say little (``Connection error``); the walk
    goes to the bottom and takes the deepest exception that names a cause, so aiohttp's
    ``ClientConnectorCertificateError`` yields to the ``SSLCertVerificationError`` inside it.
    """
    chain = _chain(exc)
    for item in reversed(chain):
        found = _one(item)
        if found is not None:
            return found
    texts = " ".join(str(e.args[0]) for e in chain if e.args and isinstance(e.args[0], str))
    if any(marker in texts for marker in _HANDSHAKE_TEXT):
        return Diagnosis(Cause.HANDSHAKE, "the Socket.IO handshake did not complete")
    return Diagnosis(Cause.OTHER, type(chain[-1]).__name__)
