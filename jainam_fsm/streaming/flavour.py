"""The market-data API flavours (JSON, binary) and the broker presets.

XTS servers expose market data under one of two API prefixes (docs/xts-protocol.md, binary
chapter; docs/configuration.md "api" and "broker"):

* ``json``: REST and socket under ``/apimarketdata``, ticks as ``<code>-json-full|partial``
  JSON events, subscribe answers carry a ``listQuotes`` snapshot.
* ``binary``: REST and socket under ``/apibinarymarketdata``, socket query
  ``publishFormat=Binary``, ticks as ``xts-binary-packet`` events (1505 candles still arrive as
  JSON events on the same socket), subscribe answers carry only ``Remaining_Subscription_Count``
  (a snapshot comes from ``POST /instruments/quotes`` with ``publishFormat: JSON``). No public
  source gives the binary layout of 1512 (LTP), so an LTP want is served by subscribing 1501,
  whose ticks carry the LTP.
* ``auto``: log in under ``/apimarketdata``; an HTML 404 there (the answer of servers that only
  serve binary) switches to ``binary``. The finding is kept with the token, so later starts
  skip the probe.

:class:`Flavour` is the adapter's live choice (mutable: ``auto`` settles at the first login).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

JSON_PREFIX: Final = "/apimarketdata"
BINARY_PREFIX: Final = "/apibinarymarketdata"
#: Accepted values of ``AdapterConfig.api``.
APIS: Final = ("json", "binary", "auto")
#: The Socket.IO event carrying binary packets.
BINARY_EVENT: Final = "xts-binary-packet"
#: Message code asked of a binary server for an LTP (1512) want: 1501 carries the LTP.
LTP_CODE: Final = 1512
TOUCHLINE_CODE: Final = 1501


@dataclass(frozen=True)
class Preset:
    """Defaults for one broker. Explicit ``AdapterConfig`` settings win over them."""

    api: str
    description: str


#: ``AdapterConfig(broker=...)``. Hosts are deliberately not defaults (docs/configuration.md
#: names the known ones): the base URL stays a setting of its own.
PRESETS: Final[dict[str, Preset]] = {
    "jainam-prop": Preset("binary", "Jainam Prop (Symphony servers smpa/smpb/smpc): binary API"),
    "jainam-retail": Preset("auto", "Jainam retail (jtrade): probes JSON, falls back to binary"),
    "xts": Preset("json", "a standard XTS server: JSON API"),
}


def resolve_api(api: str | None, broker: str | None, prefix: str | None) -> str:
    """The configured API: explicit ``api``, else the broker preset's, else what an explicit
    prefix names (``/apibinarymarketdata`` means binary), else ``json``."""
    if api is not None:
        return api
    if broker is not None:
        return PRESETS[broker].api
    if prefix is not None and prefix.rstrip("/").endswith(BINARY_PREFIX):
        return "binary"
    return "json"


def default_prefix(api: str) -> str:
    """The REST prefix of an API when none is configured (``auto`` starts with the JSON one)."""
    return BINARY_PREFIX if api == "binary" else JSON_PREFIX


def switch_path(path: str, api: str) -> str:
    """``path`` for ``api``: the default prefix of the other API is swapped; any other
    (deliberately configured) path is kept."""
    if api == "binary" and path.startswith(JSON_PREFIX):
        return BINARY_PREFIX + path[len(JSON_PREFIX) :]
    if api == "json" and path.startswith(BINARY_PREFIX):
        return JSON_PREFIX + path[len(BINARY_PREFIX) :]
    return path


class Flavour:
    """The API in use by one adapter: ``api`` is ``json`` or ``binary``; with ``auto``
    configured, ``settled`` is False until the first login or stored token says which."""

    def __init__(self, api: str, prefix: str, socket_path: str) -> None:
        self.configured = api
        self.settled = api != "auto"
        self.api = "json" if api == "auto" else api
        self._prefix = prefix
        self._socket_path = socket_path

    @property
    def binary(self) -> bool:
        return self.api == "binary"

    @property
    def prefix(self) -> str:
        # Only ``auto`` moves between the APIs' default paths; a fixed API uses them as given.
        if self.configured != "auto":
            return self._prefix
        return switch_path(self._prefix, self.api)

    @property
    def socket_path(self) -> str:
        if self.configured != "auto":
            return self._socket_path
        return switch_path(self._socket_path, self.api)

    @property
    def publish_format(self) -> str:
        return "Binary" if self.binary else "JSON"

    def settle(self, api: str) -> None:
        """Fix the API (``json`` or ``binary``) of an ``auto`` configuration."""
        self.api = api
        self.settled = True

    def server_code(self, code: int) -> int:
        """The message code to subscribe on the server for a want of ``code``."""
        return TOUCHLINE_CODE if self.binary and code == LTP_CODE else code

    def __repr__(self) -> str:
        return f"Flavour(api={self.api!r}, configured={self.configured!r})"
