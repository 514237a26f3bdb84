"""The pure classifier on exception chains built the way the libraries build them (the real
failures, one per cause, are in tests/test_failure_causes.py)."""

from __future__ import annotations

import errno
import ssl

import aiohttp
import pytest
import socketio

from jainam_fsm.core.causes import DESCRIPTIONS, Cause
from jainam_fsm.transport.causes import classify, http_status_cause


def _wrapped(inner: BaseException) -> BaseException:
    """``inner`` under python-socketio's ``Connection error``, as the connect raises it."""
    try:
        try:
            raise inner
        except BaseException:
            raise socketio.exceptions.ConnectionError("Connection error") from None
    except socketio.exceptions.ConnectionError as outer:
        return outer


@pytest.mark.parametrize(
    ("inner", "cause"),
    [
        (OSError(errno.ENETUNREACH, "Network is unreachable"), Cause.UNREACHABLE),
        (OSError(errno.EHOSTUNREACH, "No route to host"), Cause.UNREACHABLE),
        (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), Cause.RESET),
        (ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), Cause.RESET),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), Cause.REFUSED),
        (TimeoutError(), Cause.TIMEOUT),
        (ValueError("something else"), Cause.OTHER),
    ],
)
def test_chain_is_walked_to_the_cause(inner: BaseException, cause: Cause) -> None:
    assert classify(_wrapped(inner)).cause is cause


@pytest.mark.parametrize(
    ("status", "socket_path", "cause"),
    [
        (200, True, Cause.NOT_SOCKETIO),
        (404, True, Cause.NOT_SOCKETIO),
        (400, True, Cause.NOT_SOCKETIO),
        (302, False, Cause.NOT_XTS),
        (404, False, Cause.NOT_XTS),
        (401, True, Cause.HTTP_STATUS),
        (403, False, Cause.HTTP_STATUS),
        (429, True, Cause.HTTP_STATUS),
        (502, True, Cause.HTTP_STATUS),
        (503, False, Cause.HTTP_STATUS),
    ],
)
def test_http_status_causes(status: int, socket_path: bool, cause: Cause) -> None:
    assert http_status_cause(status, socket_path=socket_path) is cause


def test_handshake_messages_and_secret_free_detail() -> None:
    refused = socketio.exceptions.ConnectionError("One or more namespaces failed to connect: /")
    assert classify(refused).cause is Cause.HANDSHAKE
    # The handshake error's text quotes the URL, token query included: never in the detail.
    token_url = "ws://h/apimarketdata/socket.io/?token=SECRET-TOKEN-VALUE&transport=websocket"
    err = aiohttp.WSServerHandshakeError(
        request_info=None,  # type: ignore[arg-type]
        history=(),
        status=404,
        message=f"Invalid response status, url={token_url}",
    )
    found = classify(_wrapped(err))
    assert found.cause is Cause.NOT_SOCKETIO and found.status == 404
    assert "SECRET-TOKEN-VALUE" not in str(found)


def test_every_cause_is_described() -> None:
    assert set(DESCRIPTIONS) == set(Cause)
