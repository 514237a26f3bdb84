"""The one failure that needs a look at the wire to be named: ``http://`` to a TLS port.

A TLS server that receives plain HTTP hangs up without a word (or, behind nginx, answers
400 "plain HTTP request sent to HTTPS port"): from the client's side that looks like a flaky
server. After such a failure, and only then, :func:`diagnose` tries one TLS handshake on the
same host and port (certificate not checked: the question is only whether it speaks TLS). If
it succeeds, the cause is :attr:`~jainam_fsm.core.causes.Cause.SCHEME_MISMATCH`. Nothing is
sent beyond the handshake: no request, no token.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from urllib.parse import urlsplit

from jainam_fsm.core.causes import Cause
from jainam_fsm.transport.causes import Diagnosis, classify

__all__ = ["diagnose", "refine", "speaks_tls"]

#: Causes that an http:// URL pointed at a TLS port produces.
_AMBIGUOUS = frozenset({Cause.RESET, Cause.NOT_SOCKETIO, Cause.NOT_XTS, Cause.OTHER})
#: Upper bound, in seconds, on the probe (it only runs after a failure).
PROBE_TIMEOUT = 2.0


async def speaks_tls(host: str, port: int, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether ``host:port`` completes a TLS handshake within ``timeout`` seconds."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=ctx, server_hostname=host), timeout
        )
    except (OSError, TimeoutError, ssl.SSLError, ValueError):
        return False
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), timeout)
    return True


async def diagnose(exc: BaseException, url: str, timeout: float = PROBE_TIMEOUT) -> Diagnosis:
    """:func:`~jainam_fsm.transport.causes.classify`, plus the TLS probe for an ``http://``
    URL whose failure could be a TLS port (see the module docstring)."""
    return await refine(classify(exc), url, timeout)


async def refine(found: Diagnosis, url: str, timeout: float = PROBE_TIMEOUT) -> Diagnosis:
    """``found``, or :attr:`~jainam_fsm.core.causes.Cause.SCHEME_MISMATCH` when ``url`` is
    ``http://``, the failure could come from a TLS port, and the port speaks TLS."""
    if found.cause not in _AMBIGUOUS:
        return found
    if found.cause is not Cause.RESET and found.status not in (None, 400):
        return found
    parts = urlsplit(url)
    if parts.scheme not in ("http", "ws") or not parts.hostname:
        return found
    try:
        port = parts.port or 80
    except ValueError:
        return found
    if await speaks_tls(parts.hostname, port, min(timeout, PROBE_TIMEOUT)):
        return Diagnosis(
            Cause.SCHEME_MISMATCH, "plain HTTP to a port that speaks TLS (use https://)"
        )
    return found
