"""What a stored token belongs to: one server root and one app key (and the secret it came from).

A feed token is a bearer credential for one XTS server. Rows of the token store are keyed by
``(user, server, app_key)``, so a changed ``JAINAM_BASE_URL`` or app key finds no row and logs in
afresh: a stored token is never sent to another server. The secret key is not stored; an HMAC
of it keyed with the store key (:meth:`jainam_fsm.store.crypto.TokenCipher.fingerprint`) is,
so a changed secret is noticed and also means a fresh login.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from jainam_fsm.errors import ConfigError

#: Server and app key of rows written without a binding (rows from before the binding existed,
#: or written by a host that manages tokens itself). A bound lookup never matches them.
UNBOUND = ""

_DEFAULT_PORTS = {"http": 80, "https": 443}


class _HasCredentials(Protocol):
    base_url: str
    app_key: str
    secret_key: str


def server_root(url: str) -> str:
    """``scheme://host:port`` with the host in lower case and the port always explicit.

    ``https://Feed.Example`` and ``https://feed.example:443/apimarketdata`` are the same server.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ConfigError("token binding: the server URL is not valid") from None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host:
        raise ConfigError("token binding: the server URL must be http(s)://host[:port]")
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port or _DEFAULT_PORTS[scheme]}"


@dataclass(frozen=True)
class TokenBinding:
    """The server root and app key a token belongs to, plus the secret (never in ``repr``).

    ``secret_key=None``: rows written with this binding carry no secret fingerprint, and a
    stored fingerprint is not checked.
    """

    server: str
    app_key: str
    secret_key: str | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.app_key or not isinstance(self.app_key, str):
            raise ConfigError("token binding: app_key must be non-empty text")
        object.__setattr__(self, "server", server_root(self.server))

    @classmethod
    def for_config(cls, config: _HasCredentials | Any) -> TokenBinding:
        """The binding of an :class:`~jainam_fsm.streaming.AdapterConfig` (or anything with
        ``base_url``, ``app_key`` and ``secret_key``)."""
        return cls(config.base_url, config.app_key, config.secret_key)

    @property
    def lock_name(self) -> str:
        """Part of the store's lock key: logins for different bindings do not wait on each
        other."""
        return f"{self.server}|{self.app_key}"
