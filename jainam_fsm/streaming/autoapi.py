"""``api="auto"``: which market-data API a server speaks, settled once per adapter.

* At a login (the token source calls :meth:`AutoApi.login`): the login under the JSON prefix is
  the probe; an HTML 404 there (servers that serve only the binary API) switches to the binary
  prefix and logs in again. The API is recorded on the token, and so in the token store.
* Before a socket opens with a reused token (:meth:`AutoApi.before_open`): the token's record
  settles it; a token without one (stored by an older version, or by a host) settles it with an
  empty login request that the server answers without logging in
  (:meth:`~jainam_fsm.transport.rest.XtsRestClient.serves_prefix`).

Each settlement is reported once as ``connection.api_detected`` (INFO). A fixed ``api`` skips
all of this. See docs/configuration.md, "API and broker presets".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from jainam_fsm.core.ports import FeedToken, TelemetrySink, emit_safely
from jainam_fsm.streaming.flavour import Flavour
from jainam_fsm.streaming.ioloop import IoThread
from jainam_fsm.transport.rest import EndpointNotFound, LoginResult, XtsRestClient

NOT_FOUND = "HTML 404 under the JSON API prefix"


class AutoApi:
    """Settles a :class:`Flavour` configured ``auto``; harmless for a fixed one."""

    def __init__(
        self,
        flavour: Flavour,
        *,
        rest: XtsRestClient,
        io: IoThread,
        telemetry: TelemetrySink,
        timeout: float,
    ) -> None:
        self.flavour = flavour
        self._rest = rest
        self._io = io
        self._telemetry = telemetry
        self._timeout = timeout

    def login(self, login_once: Callable[[], LoginResult]) -> LoginResult:
        """Log in (probing when not settled); the token comes back marked with its API."""
        flavour = self.flavour
        try:
            result = login_once()
        except EndpointNotFound:
            if flavour.settled or flavour.binary:
                raise
            self.settle("binary", NOT_FOUND)
            result = login_once()
        if not flavour.settled:
            self.settle(flavour.api, "the JSON API answered the login")
        return replace(result, token=replace(result.token, api=flavour.api))

    def before_open(self, token: FeedToken) -> None:
        """Supervisor thread, before each socket open (see the module docstring)."""
        if self.flavour.settled:
            return
        if token.api in ("json", "binary"):
            assert token.api is not None
            self.settle(token.api, "recorded with the stored token")
            return
        if self._io.run(self._rest.serves_prefix(), timeout=self._timeout):
            self.settle("json", "the JSON API prefix answers")
        else:
            self.settle("binary", NOT_FOUND)

    def settle(self, api: str, why: str) -> None:
        """Fix the API (``json`` or ``binary``) and move the REST client to its prefix."""
        self.flavour.settle(api)
        self._rest.prefix = self.flavour.prefix
        emit_safely(
            self._telemetry,
            "connection.api_detected",
            logging.INFO,
            {"api": api, "why": why, "prefix": self.flavour.prefix},
        )
