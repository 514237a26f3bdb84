"""The simulator's REST API under the prefix: login, logout, subscribe, unsubscribe, quotes,
client config. Answers as ``docs/xts-protocol.md`` describes the real server, with its sources.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from jainam_fsm.simulator.binary_rest import (
    BodyError,
    binary_subscribe_result,
    nginx_not_found,
    parse_body,
)
from jainam_fsm.simulator.config import SimulatorConfig
from jainam_fsm.simulator.faults import FaultSwitches
from jainam_fsm.simulator.market import STREAMED_CODES, Market
from jainam_fsm.simulator.payloads import render_snapshot
from jainam_fsm.simulator.reference import ReferenceData
from jainam_fsm.simulator.sessions import Instrument, Session, SessionBook
from jainam_fsm.simulator.stats import SimStats
from jainam_fsm.simulator.stream import Stream
from jainam_fsm.simulator.validation import (
    BadRequest,
    bad_request,
    envelope,
    invalid_token,
    json_response,
    parse_code,
    parse_instruments,
    quotes_list,
)
from jainam_fsm.xts.codes import ExchangeSegment

__all__ = ["RestApi"]

log = logging.getLogger("jainam_fsm.simulator")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RestApi:
    """The REST handlers of one simulator; :meth:`install` adds them to the app."""

    def __init__(
        self,
        config: SimulatorConfig,
        *,
        book: SessionBook,
        market: Market,
        faults: FaultSwitches,
        stats: SimStats,
        stream: Stream,
    ) -> None:
        self.config = config
        self._book = book
        self._market = market
        self._faults = faults
        self._stats = stats
        self._c = stats.c
        self._stream = stream
        self.in_flight = 0

    def install(self, app: web.Application) -> None:
        """Register the routes (the middleware is passed to the app's constructor)."""
        p = self.config.rest_prefix
        r = app.router
        r.add_post(f"{p}/auth/login", self._login)
        r.add_delete(f"{p}/auth/logout", self._logout)
        r.add_post(f"{p}/instruments/subscription", self._subscribe)
        r.add_put(f"{p}/instruments/subscription", self._unsubscribe)
        if self.config.subscription_list:
            r.add_get(f"{p}/instruments/subscription", self._subscription_list)
        r.add_post(f"{p}/instruments/quotes", self._quotes)
        r.add_get(f"{p}/config/clientConfig", self._client_config)
        r.add_post(f"{p}/config/clientConfig", self._client_config)
        ReferenceData(
            self.config,
            self._market,
            lambda request: self._session_of(request) is not None,
            lambda key: self._c.update({key: 1}),
        ).install(app, p)
        other = self.config.other_prefix
        if other is not None:
            # The other flavour's location: nginx's own 404 page, as production answers.
            r.add_route("*", other, self._not_found)
            r.add_route("*", other + "/{tail:.*}", self._not_found)

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        return nginx_not_found()

    async def _body(self, request: web.Request) -> dict[str, Any]:
        """A JSON object body; the binary flavour also takes a form (.NET client)."""
        try:
            return parse_body(
                await request.text(), request.content_type, allow_form=self.config.api == "binary"
            )
        except BodyError as exc:
            raise BadRequest([{"field": "body", "message": str(exc)}]) from None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Slow-REST fault, bad-request answers, the in-flight count (REST paths only)."""
        path = request.path
        prefix = self.config.rest_prefix
        if not path.startswith(prefix + "/") or path.startswith(prefix + "/socket.io"):
            return await handler(request)
        self.in_flight += 1
        try:
            if not await self._faults.delay_rest():
                raise web.HTTPServiceUnavailable(text="simulator stopping")
            return await handler(request)
        except BadRequest as exc:
            self._c["bad_requests"] += 1
            return bad_request(exc.errors)
        finally:
            self.in_flight -= 1

    def _session_of(self, request: web.Request) -> Session | None:
        # Raw token, no "Bearer " prefix (docs/xts-protocol.md §2): "Bearer x" is thus invalid.
        session = self._book.lookup(request.headers.get("Authorization"))
        if session is None:
            self._c["invalid_token_requests"] += 1
        return session

    async def _login(self, request: web.Request) -> web.StreamResponse:
        if self._faults.logins_refused():
            self._c["logins_refused"] += 1
            # What a proxy in front of a dead backend answers: HTML, not the JSON envelope.
            status = self.config.login_failure_status
            return web.Response(
                status=status,
                text=f"<html><body><h1>{status} Service Temporarily Unavailable</h1></body></html>",
                content_type="text/html",
            )
        raw = await request.text()
        form: dict[str, Any]
        if "json" in request.content_type or raw.lstrip().startswith("{"):
            try:
                loaded = json.loads(raw)
            except ValueError:
                raise BadRequest([{"field": "body", "message": "invalid JSON"}]) from None
            form = loaded if isinstance(loaded, dict) else {}
        else:
            form = dict(parse_qsl(raw, keep_blank_values=True))
        missing = [k for k in ("appKey", "secretKey") if not isinstance(form.get(k), str)]
        if missing:
            raise BadRequest([{"field": k, "message": f"{k} is required"} for k in missing])
        user = self._book.check_credentials(form["appKey"], form["secretKey"])
        if user is None or self._faults.credentials_rejected:
            self._c["login_failures"] += 1
            return json_response(
                400, envelope("error", "e-app-0005", "Invalid appKey or secretKey", {})
            )
        session, replaced = self._book.login(user)
        self._c["logins"] += 1
        if replaced is not None:
            self._c["sessions_replaced"] += 1
            await self._stream.end_session_sockets(replaced, "Session replaced by a new login")
        log.info("login user=%s session=%d", user.user_id, session.serial)
        return json_response(
            200,
            envelope(
                "success",
                "e-response-0010",
                "Provided Valid Credentials",
                {
                    "token": session.token,
                    "userID": user.user_id,
                    "appVersion": "simulator",
                    "application_expiry_date": "31-12-2099",
                },
            ),
        )

    async def _logout(self, request: web.Request) -> web.StreamResponse:
        session = self._session_of(request)
        if session is None:
            return invalid_token()
        self._book.logout(session)
        self._c["logouts"] += 1
        await self._stream.end_session_sockets(session, "Logged out")
        return json_response(
            200, envelope("success", "s-login-0005", "successfully logged out", {})
        )

    def _snapshot(self, code: int, instrument: Instrument) -> str | None:
        if code not in STREAMED_CODES:
            return None
        walk = self._market.walk(instrument, time.time())
        return render_snapshot(walk.tick(code))

    async def _subscribe(self, request: web.Request) -> web.StreamResponse:
        self._c["subscribe_requests"] += 1
        session = self._session_of(request)
        if session is None:
            return invalid_token()
        body = await self._body(request)
        code = parse_code(body)
        instruments = parse_instruments(body)
        self._stats.record_batch("subscribe", len(instruments))
        res = self._book.subscribe(session, code, instruments)
        if res.limit_exceeded or not res.added:
            key, text = (
                ("limit_exceeded", ("e-session-0004", "Subscription limit exceeded"))
                if res.limit_exceeded
                else ("already_subscribed", ("e-session-0002", "Instrument Already Subscribed !"))
            )
            self._c[key] += 1
            remaining = {"Remaining_Subscription_Count": res.remaining}
            return json_response(400, envelope("error", text[0], text[1], remaining))
        # The first partial packet after subscribing must be complete: forget what was sent.
        self._stream.forget_sent(session, code, res.added)
        binary = self.config.api == "binary"
        quotes: list[str] | None = None
        if not binary or self._stream.binary_knobs.subscribe_list_quotes:
            quotes = [q for q in (self._snapshot(code, i) for i in res.added) if q is not None]
        result: dict[str, Any] = (
            binary_subscribe_result(res.remaining, quotes)
            if binary
            else {
                "mdp": code,
                "quotesList": quotes_list(res.added),
                "listQuotes": quotes,
                "Remaining_Subscription_Count": res.remaining,
            }
        )
        return json_response(
            200,
            envelope("success", "s-session-0001", "Instrument subscribed successfully!", result),
        )

    async def _unsubscribe(self, request: web.Request) -> web.StreamResponse:
        self._c["unsubscribe_requests"] += 1
        session = self._session_of(request)
        if session is None:
            return invalid_token()
        body = await self._body(request)
        code = parse_code(body)
        instruments = parse_instruments(body)
        self._stats.record_batch("unsubscribe", len(instruments))
        res = self._book.unsubscribe(session, code, instruments)
        if res.not_subscribed:
            self._c["unsubscribe_not_subscribed"] += 1
        self._stream.forget_sent(session, code, res.removed)
        return json_response(
            200,
            envelope(
                "success",
                "s-response-0001",
                "Instrument subscription deleted!",
                {
                    "mdp": code,
                    "unsubList": quotes_list(res.removed),
                    "Remaining_Subscription_Count": res.remaining,
                },
            ),
        )

    async def _subscription_list(self, request: web.Request) -> web.StreamResponse:
        """``GET /instruments/subscription?xtsMessageCode=N``: the session's instruments for
        one code. The route is documented (binary SDK); the answer's shape is not, so this
        one is ours: the subscribe answer's ``mdp`` + ``quotesList`` (docs/xts-protocol.md)."""
        self._c["list_requests"] += 1
        session = self._session_of(request)
        if session is None:
            return invalid_token()
        code = parse_code(dict(request.query))
        listed = session.subscriptions.get(code, {})
        return json_response(
            200,
            envelope(
                "success",
                "s-session-0003",
                "Subscription list",
                {
                    "mdp": code,
                    "quotesList": quotes_list(listed),
                    "Remaining_Subscription_Count": self._book.remaining(session),
                },
            ),
        )

    async def _quotes(self, request: web.Request) -> web.StreamResponse:
        self._c["quote_requests"] += 1
        session = self._session_of(request)
        if session is None:
            return invalid_token()
        body = await self._body(request)
        fmt = body.get("publishFormat")
        if not isinstance(fmt, str) or fmt.upper() != "JSON":
            # Required (QT: 400 without it); the simulator only speaks JSON.
            raise BadRequest([{"field": "publishFormat", "message": "publishFormat must be JSON"}])
        code = parse_code(body)
        instruments = parse_instruments(body)
        quotes = [q for q in (self._snapshot(code, i) for i in instruments) if q is not None]
        return json_response(
            200,
            envelope(
                "success",
                "s-quotes-0001",
                "Get quotes successfully!",
                {"mdp": code, "quotesList": quotes_list(instruments), "listQuotes": quotes},
            ),
        )

    async def _client_config(self, request: web.Request) -> web.StreamResponse:
        if self._session_of(request) is None:
            return invalid_token()
        return json_response(
            200,
            envelope(
                "success",
                "s-response-0001",
                "Fetched configurations successfully",
                {
                    "exchangeSegments": {s.name: int(s) for s in ExchangeSegment},
                    "xtsMessageCode": {
                        "touchlineEvent": 1501,
                        "marketDepthEvent": 1502,
                        "indexDataEvent": 1504,
                        "candleDataEvent": 1505,
                        "openInterestEvent": 1510,
                        "instrumentPropertyChangeEvent": 1105,
                        "ltpEvent": 1512,
                    },
                    "publishFormat": ["Binary", "JSON"],
                    "broadCastMode": ["Full", "Partial"],
                    "instrumentType": {},
                },
            ),
        )
