"""JWT-shaped feed tokens like the real server's: HS256 with userID, publicKey, iat, exp.

The simulator never trusts a token's content: a token is valid only while it is the current
token of a live session (server-side state, like XTS's one-session-per-app-key rule). The
signature just makes the string look and decode like the real thing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

__all__ = ["decode_claims", "make_token"]


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def make_token(claims: dict[str, object], key: bytes) -> str:
    """An HS256 JWT with ``claims`` as its payload, signed with ``key``."""
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    signature = hmac.new(key, signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(signature)}"


def decode_claims(token: str) -> dict[str, object]:
    """The payload of a JWT, unverified (what any client can read). Raises ``ValueError``."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a JWT: expected three dot-separated parts")
    padded = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("not a JWT: payload is not base64url JSON") from exc
    if not isinstance(claims, dict):
        raise ValueError("not a JWT: payload is not an object")
    return claims
