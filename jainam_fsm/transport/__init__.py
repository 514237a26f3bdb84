"""The I/O edge towards the XTS server: the REST client (:mod:`.rest`) and the socket transport."""

from jainam_fsm.transport.rest import (
    LoginResult,
    SubscribeResult,
    XtsRestClient,
    jwt_claims,
    jwt_expiry,
    jwt_issued_at,
)

__all__ = [
    "LoginResult",
    "SubscribeResult",
    "XtsRestClient",
    "jwt_claims",
    "jwt_expiry",
    "jwt_issued_at",
]
