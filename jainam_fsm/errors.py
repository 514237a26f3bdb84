"""Exceptions shared by every layer.

The core reacts to these; the I/O edges (transport, token store) raise them. None of them
ever carries a token, a secret or an Authorization header in its message.
"""

from __future__ import annotations

from jainam_fsm.core.causes import Cause


class JainamError(Exception):
    """Base class of every error this library raises on purpose."""


class ConfigError(JainamError, ValueError):
    """A setting or environment variable has an invalid value; the message names it."""


class CredentialsRejected(JainamError):
    """The broker refused the app key / secret. Not transient: never retried automatically."""


class TokenRejected(JainamError):
    """The server refused the feed token (``e-session-0007`` "Invalid Token", or at the socket)."""


class TokenUnavailable(JainamError):
    """No token could be had right now (database down, login endpoint failing). Transient.

    ``cause`` names why, when known (:func:`jainam_fsm.core.causes.cause_of` also finds the
    cause of the login failure it was raised from).
    """

    def __init__(self, message: str = "", *, cause: Cause | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class TransportFailure(JainamError):
    """The connection or a request failed (network, TLS, 5xx, timeout, not an XTS server).

    ``cause`` classifies it (:class:`~jainam_fsm.core.causes.Cause`), when the edge that raised
    it could tell; the core decides from it whether retrying can help.
    """

    def __init__(self, message: str = "", *, cause: Cause | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class SubscriptionRejected(JainamError):
    """The server refused a subscription for a non-transient reason (e.g. the limit)."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


def brief(exc: BaseException) -> str:
    """Exception type and message, short (200 characters), for telemetry. Only for our own
    exceptions (:class:`JainamError`), which never carry a secret; a foreign one is named by
    its type alone."""
    text = str(exc)
    if len(text) > 200:
        text = text[:200] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def describe(exc: BaseException) -> str:
    """What telemetry may say about any exception: :func:`brief` for our own, the type alone
    for a foreign one (its text is not ours to vouch for: it may quote a secret)."""
    return brief(exc) if isinstance(exc, JainamError) else type(exc).__name__
