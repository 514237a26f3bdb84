"""The XTS market-data simulator: one aiohttp application serving the REST API and Socket.IO.

Faithful to ``docs/xts-protocol.md`` (what the real server does, with sources), plus fault
switches for tests. :class:`Simulator` is the asyncio API; :mod:`.thread` wraps it for sync code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii
from typing import Any
from urllib.parse import parse_qs, parse_qsl

import socketio
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse
from engineio.packet import MESSAGE as _EIO_MESSAGE
from engineio.packet import Packet as _EioPacket

from jainam_fsm.simulator.config import SimulatorConfig, SimUser
from jainam_fsm.simulator.market import STREAMED_CODES, Market
from jainam_fsm.simulator.payloads import render_full, render_partial, render_snapshot
from jainam_fsm.simulator.sessions import Instrument, Session, SessionBook
from jainam_fsm.xts.codes import BroadcastMode, ExchangeSegment, event_name, is_known_code
from jainam_fsm.xts.ticks import Tick

__all__ = ["MALFORMED_KINDS", "Simulator"]

log = logging.getLogger("jainam_fsm.simulator")

_quote: Callable[[str], str] = encode_basestring_ascii
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_SEGMENTS: frozenset[int] = frozenset(int(s) for s in ExchangeSegment)
_JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}

#: Malformed payloads sent by :meth:`Simulator.send_malformed`, cycled in this order.
#: Each is ``(label, payload)``; payloads that are not ``str`` break the "payload is a JSON
#: string" rule on purpose.
MALFORMED_KINDS: tuple[tuple[str, object], ...] = (
    ("truncated-json", '{"MessageCode":1501,"ExchangeSegment":1,"ExchangeInstrumentID":'),
    ("not-json", "this is not json"),
    ("json-array", "[1501, 1, 22]"),
    (
        "wrong-field-types",
        '{"MessageCode":"fifteen-oh-one","ExchangeSegment":"NSECM",'
        '"ExchangeInstrumentID":null,"LastTradedPrice":"abc","LastTradedQunatity":[1]}',
    ),
    ("nul-chars", '{"MessageCode":1501,\x00"ExchangeSegment":1\x00\x00}'),
    ("empty-string", ""),
    ("object-not-string", {"MessageCode": 1501, "ExchangeSegment": 1, "ExchangeInstrumentID": 22}),
    ("number-not-string", 1501),
    ("partial-garbage", "t:1_abc,ltp:,ltq:x,bi:1|2,,:"),
    ("huge-number", '{"MessageCode":1501,"ExchangeSegment":1,"ExchangeInstrumentID":1e999}'),
)


class _RedactingAccessLogger(AbstractAccessLogger):
    """Access log without query strings: the socket URL carries the token there."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        if self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug(
                "%s %s %s %.1f ms", request.method, request.path, response.status, time * 1000
            )


class _BadRequest(Exception):
    """A request failed validation; ``errors`` goes into ``result.errors``."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("bad request")
        self.errors = errors


@dataclass(eq=False)
class _Conn:
    """One connected socket."""

    sid: str
    eio_sid: str
    session: Session
    partial: bool
    #: last tick sent per (code, instrument), for partial mode
    previous: dict[tuple[int, Instrument], Tick] = field(default_factory=dict)


def _data_packet(event: str, payload: str) -> _EioPacket:
    """The Engine.IO packet of one Socket.IO event, encoded once and sendable to any socket.

    This is what ``AsyncServer.emit`` builds internally; sending it with ``eio.send_packet``
    skips the task and wait ``emit`` spends per recipient, which quadruples throughput.
    """
    # Socket.IO v5 EVENT on "/" without ack id: "2" + JSON array, exactly as
    # socketio.packet.Packet.encode() writes it (a test pins the equality). The string is
    # escaped by the json module's C helper directly: no encoder object, no list walk.
    return _EioPacket(_EIO_MESSAGE, f"2[{_quote(event)},{_quote(payload)}]")


def _envelope(kind: str, code: str, description: str, result: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "code": code, "description": description, "result": result}


def _json(status: int, body: dict[str, Any]) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(body, separators=(",", ":")), headers=_JSON_HEADERS
    )


def _invalid_token() -> web.Response:
    # 400, not 401 (docs/xts-protocol.md §3: PY _request, OA rmoney).
    return _json(400, _envelope("error", "e-session-0007", "Invalid Token", {}))


def _bad_request(errors: list[dict[str, str]]) -> web.Response:
    return _json(400, _envelope("error", "e-app-0001", "Bad Request", {"errors": errors}))


def _as_int(value: object, name: str) -> int:
    """An int from an int or a string of digits (the real server sends ids as strings too)."""
    if isinstance(value, bool):
        raise _BadRequest([{"field": name, "message": f"{name} must be a number"}])
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise _BadRequest([{"field": name, "message": f"{name} must be a number"}])


def _parse_instruments(body: dict[str, Any]) -> list[Instrument]:
    raw = body.get("instruments")
    if not isinstance(raw, list) or not raw:
        raise _BadRequest(
            [{"field": "instruments", "message": "instruments must be a non-empty list"}]
        )
    out: list[Instrument] = []
    for n, item in enumerate(raw):
        if not isinstance(item, dict):
            raise _BadRequest([{"field": f"instruments[{n}]", "message": "must be an object"}])
        seg = _as_int(item.get("exchangeSegment"), f"instruments[{n}].exchangeSegment")
        iid = _as_int(item.get("exchangeInstrumentID"), f"instruments[{n}].exchangeInstrumentID")
        if seg not in _SEGMENTS:
            raise _BadRequest(
                [{"field": f"instruments[{n}].exchangeSegment", "message": "unknown segment"}]
            )
        out.append((seg, iid))
    return out


def _parse_code(body: dict[str, Any]) -> int:
    code = _as_int(body.get("xtsMessageCode"), "xtsMessageCode")
    if not is_known_code(code):
        raise _BadRequest([{"field": "xtsMessageCode", "message": "unknown message code"}])
    return code


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.text() or "null")
    except ValueError:
        raise _BadRequest([{"field": "body", "message": "body is not valid JSON"}]) from None
    if not isinstance(body, dict):
        raise _BadRequest([{"field": "body", "message": "body must be a JSON object"}])
    return body


def _quotes_list(instruments: Iterable[Instrument]) -> list[dict[str, int]]:
    return [{"exchangeSegment": s, "exchangeInstrumentID": i} for s, i in instruments]


class Simulator:
    """The simulator, driven from asyncio: ``async with Simulator(cfg) as sim: ...``.

    Every fault is a method (``sever``, ``disconnect_all``, ``stall``, ``go_down``,
    ``reject_logins``, ``reject_credentials``, ``invalidate_tokens``, ``expire_tokens``,
    ``set_rest_delay``, ``send_malformed``, ``restart``); ``/_sim/*`` exposes the same over HTTP.
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        cfg = self.config
        self._book = SessionBook(
            cfg.users,
            token_ttl=cfg.token_ttl,
            subscription_limit=cfg.subscription_limit,
            keep_subscriptions_on_login=cfg.keep_subscriptions_on_login,
        )
        self._market = Market(cfg.seed)
        self._sio = socketio.AsyncServer(
            async_mode="aiohttp",
            cors_allowed_origins="*",
            ping_interval=cfg.ping_interval,
            ping_timeout=cfg.ping_timeout,
            always_connect=True,  # lets us emit `error` before dropping a bad token
            logger=False,
            engineio_logger=False,
        )
        self._sio.on("connect", self._on_connect)
        self._sio.on("disconnect", self._on_disconnect)
        self._app = web.Application(middlewares=[self._rest_middleware])
        self._sio.attach(self._app, socketio_path=self.socketio_path.lstrip("/"))
        self._add_rest_routes()
        from jainam_fsm.simulator.control import add_control_routes

        add_control_routes(self._app, self)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._port: int | None = None
        self._stopped = False
        self._conns: dict[str, _Conn] = {}
        self._emit_task: asyncio.Task[None] | None = None
        self._up_handle: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        # fault switches
        self._stalled_until: float | None = None
        self._logins_refused_until = 0.0
        self._credentials_rejected = False
        self._rest_delay = 0.0
        self._rest_in_flight = 0
        self._down = False
        # counters (plain ints: updated on the hot path)
        self._c: Counter[str] = Counter()
        self._events_emitted = 0
        self._disconnect_reasons: Counter[str] = Counter()
        self._max_batch = {"subscribe": 0, "unsubscribe": 0}
        self._batch_sizes: dict[str, list[int]] = {"subscribe": [], "unsubscribe": []}

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def socketio_path(self) -> str:
        """The Socket.IO path, ``<prefix>/socket.io``."""
        return f"{self.config.prefix}/socket.io"

    @property
    def port(self) -> int:
        """The TCP port (known once started)."""
        if self._port is None:
            raise RuntimeError("simulator not started")
        return self._port

    @property
    def root_url(self) -> str:
        """``http://host:port``: what a Socket.IO client connects to (with ``socketio_path``)."""
        return f"http://{self.config.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://host:port<prefix>``: the REST base URL."""
        return self.root_url + self.config.prefix

    @property
    def credentials(self) -> SimUser:
        """The first configured user's credentials."""
        return self.config.users[0]

    @property
    def app(self) -> web.Application:
        """The aiohttp application (for embedding)."""
        return self._app

    async def start(self) -> None:
        """Bind and serve; returns once listening."""
        if self._runner is not None or self._stopped:
            raise RuntimeError("a Simulator starts once; make a new one")
        self._runner = web.AppRunner(
            self._app,
            handle_signals=False,
            shutdown_timeout=2.0,
            access_log_class=_RedactingAccessLogger,
            access_log=logging.getLogger("jainam_fsm.simulator.access"),
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port, reuse_address=True)
        await site.start()
        self._site = site
        self._port = site.port
        self._emit_task = asyncio.create_task(self._emit_loop(), name="jainam-sim-emit")
        log.info("simulator listening on %s", self.base_url)

    async def stop(self) -> None:
        """Disconnect every socket, stop listening, cancel every task. Idempotent."""
        if self._runner is None:
            return
        if self._up_handle is not None:
            self._up_handle.cancel()
            self._up_handle = None
        if self._emit_task is not None:
            self._emit_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._emit_task
            self._emit_task = None
        for task in list(self._tasks):
            task.cancel()
        for sid in list(self._conns):
            with contextlib.suppress(Exception):
                await self._sio.disconnect(sid)
        await self._sio.shutdown()
        await self._abort_connections()
        await self._runner.cleanup()
        self._runner = None
        self._site = None
        self._stopped = True
        log.info("simulator stopped")

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- REST --------------------------------------------------------------------------------

    def _add_rest_routes(self) -> None:
        p = self.config.prefix
        r = self._app.router
        r.add_post(f"{p}/auth/login", self._login)
        r.add_delete(f"{p}/auth/logout", self._logout)
        r.add_post(f"{p}/instruments/subscription", self._subscribe)
        r.add_put(f"{p}/instruments/subscription", self._unsubscribe)
        r.add_post(f"{p}/instruments/quotes", self._quotes)
        r.add_get(f"{p}/config/clientConfig", self._client_config)
        r.add_post(f"{p}/config/clientConfig", self._client_config)

    @web.middleware
    async def _rest_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if not path.startswith(self.config.prefix + "/") or path.startswith(self.socketio_path):
            return await handler(request)
        self._rest_in_flight += 1
        try:
            if self._rest_delay > 0:
                await asyncio.sleep(self._rest_delay)
            return await handler(request)
        except _BadRequest as exc:
            self._c["bad_requests"] += 1
            return _bad_request(exc.errors)
        finally:
            self._rest_in_flight -= 1

    def _session_of(self, request: web.Request) -> Session | None:
        # Raw token, no "Bearer " prefix (docs/xts-protocol.md §2): "Bearer x" is thus invalid.
        session = self._book.lookup(request.headers.get("Authorization"))
        if session is None:
            self._c["invalid_token_requests"] += 1
        return session

    async def _login(self, request: web.Request) -> web.StreamResponse:
        if time.monotonic() < self._logins_refused_until:
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
                raise _BadRequest([{"field": "body", "message": "invalid JSON"}]) from None
            form = loaded if isinstance(loaded, dict) else {}
        else:
            form = dict(parse_qsl(raw, keep_blank_values=True))
        missing = [k for k in ("appKey", "secretKey") if not isinstance(form.get(k), str)]
        if missing:
            raise _BadRequest([{"field": k, "message": f"{k} is required"} for k in missing])
        user = self._book.check_credentials(form["appKey"], form["secretKey"])
        if user is None or self._credentials_rejected:
            self._c["login_failures"] += 1
            return _json(400, _envelope("error", "e-app-0005", "Invalid appKey or secretKey", {}))
        session, replaced = self._book.login(user)
        self._c["logins"] += 1
        if replaced is not None:
            self._c["sessions_replaced"] += 1
            await self._end_session_sockets(replaced, "Session replaced by a new login")
        log.info("login user=%s session=%d", user.user_id, session.serial)
        return _json(
            200,
            _envelope(
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
            return _invalid_token()
        self._book.logout(session)
        self._c["logouts"] += 1
        await self._end_session_sockets(session, "Logged out")
        return _json(200, _envelope("success", "s-login-0005", "successfully logged out", {}))

    def _record_batch(self, kind: str, size: int) -> None:
        self._max_batch[kind] = max(self._max_batch[kind], size)
        sizes = self._batch_sizes[kind]
        sizes.append(size)
        if len(sizes) > 1000:
            del sizes[:500]

    def _snapshot(self, code: int, instrument: Instrument) -> str | None:
        if code not in STREAMED_CODES:
            return None
        walk = self._market.walk(instrument, time.time())
        return render_snapshot(walk.tick(code))

    async def _subscribe(self, request: web.Request) -> web.StreamResponse:
        self._c["subscribe_requests"] += 1
        session = self._session_of(request)
        if session is None:
            return _invalid_token()
        body = await _json_body(request)
        code = _parse_code(body)
        instruments = _parse_instruments(body)
        self._record_batch("subscribe", len(instruments))
        res = self._book.subscribe(session, code, instruments)
        if res.limit_exceeded:
            self._c["limit_exceeded"] += 1
            return _json(
                400,
                _envelope(
                    "error",
                    "e-session-0004",
                    "Subscription limit exceeded",
                    {"Remaining_Subscription_Count": res.remaining},
                ),
            )
        if not res.added:
            self._c["already_subscribed"] += 1
            return _json(
                400,
                _envelope(
                    "error",
                    "e-session-0002",
                    "Instrument Already Subscribed !",
                    {"Remaining_Subscription_Count": res.remaining},
                ),
            )
        # The first partial packet after subscribing must be complete: forget what was sent.
        for sid in session.sids:
            conn = self._conns.get(sid)
            if conn is not None:
                for inst in res.added:
                    conn.previous.pop((code, inst), None)
        quotes = [q for q in (self._snapshot(code, i) for i in res.added) if q is not None]
        return _json(
            200,
            _envelope(
                "success",
                "s-session-0001",
                "Instrument subscribed successfully!",
                {
                    "mdp": code,
                    "quotesList": _quotes_list(res.added),
                    "listQuotes": quotes,
                    "Remaining_Subscription_Count": res.remaining,
                },
            ),
        )

    async def _unsubscribe(self, request: web.Request) -> web.StreamResponse:
        self._c["unsubscribe_requests"] += 1
        session = self._session_of(request)
        if session is None:
            return _invalid_token()
        body = await _json_body(request)
        code = _parse_code(body)
        instruments = _parse_instruments(body)
        self._record_batch("unsubscribe", len(instruments))
        res = self._book.unsubscribe(session, code, instruments)
        if res.not_subscribed:
            self._c["unsubscribe_not_subscribed"] += 1
        for sid in session.sids:
            conn = self._conns.get(sid)
            if conn is not None:
                for inst in res.removed:
                    conn.previous.pop((code, inst), None)
        return _json(
            200,
            _envelope(
                "success",
                "s-response-0001",
                "Instrument subscription deleted!",
                {
                    "mdp": code,
                    "unsubList": _quotes_list(res.removed),
                    "Remaining_Subscription_Count": res.remaining,
                },
            ),
        )

    async def _quotes(self, request: web.Request) -> web.StreamResponse:
        self._c["quote_requests"] += 1
        session = self._session_of(request)
        if session is None:
            return _invalid_token()
        body = await _json_body(request)
        fmt = body.get("publishFormat")
        if not isinstance(fmt, str) or fmt.upper() != "JSON":
            # Required (QT: 400 without it); the simulator only speaks JSON.
            raise _BadRequest([{"field": "publishFormat", "message": "publishFormat must be JSON"}])
        code = _parse_code(body)
        instruments = _parse_instruments(body)
        quotes = [q for q in (self._snapshot(code, i) for i in instruments) if q is not None]
        return _json(
            200,
            _envelope(
                "success",
                "s-quotes-0001",
                "Get quotes successfully!",
                {"mdp": code, "quotesList": _quotes_list(instruments), "listQuotes": quotes},
            ),
        )

    async def _client_config(self, request: web.Request) -> web.StreamResponse:
        if self._session_of(request) is None:
            return _invalid_token()
        return _json(
            200,
            _envelope(
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

    # -- Socket.IO ---------------------------------------------------------------------------

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: object = None) -> bool:
        query = parse_qs(environ.get("QUERY_STRING", ""))

        def arg(name: str) -> str | None:
            values = query.get(name)
            return values[0] if values else None

        session = self._book.lookup(arg("token"))
        problem: tuple[str, str] | None = None
        if session is None:
            problem = ("e-session-0007", "Invalid Token")
        elif arg("userID") != session.user.user_id:
            problem = ("e-session-0007", "Invalid userID")
        fmt = arg("publishFormat") or "JSON"
        mode_text = (arg("broadcastMode") or self.config.broadcast_mode.value).lower()
        if problem is None and fmt.upper() != "JSON":
            problem = ("e-app-0001", "publishFormat not supported by the simulator")
        if problem is None and mode_text not in ("full", "partial"):
            problem = ("e-app-0001", "Invalid broadcastMode")
        if problem is not None or session is None:
            self._c["socket_rejects"] += 1
            code, text = problem or ("e-session-0007", "Invalid Token")
            await self._sio.emit("error", json.dumps(_envelope("error", code, text, {})), to=sid)
            return False  # always_connect: the client gets a server disconnect
        eio_sid = self._sio.manager.eio_sid_from_sid(sid, "/")
        mode = BroadcastMode.PARTIAL if mode_text == "partial" else BroadcastMode.FULL
        joined = {"userID": session.user.user_id, "socketID": sid, "broadcastMode": mode.value}
        # `joined` is queued before the socket is registered, so no data event overtakes it.
        await self._sio.emit("joined", json.dumps(joined), to=sid)
        conn = _Conn(sid=sid, eio_sid=eio_sid, session=session, partial=mode_text == "partial")
        self._conns[sid] = conn
        session.sids.add(sid)
        self._c["socket_connects"] += 1
        return True

    async def _on_disconnect(self, sid: str, reason: object = None) -> None:
        conn = self._conns.pop(sid, None)
        if conn is None:
            return
        conn.session.sids.discard(sid)
        self._c["socket_disconnects"] += 1
        self._disconnect_reasons[str(reason)] += 1

    async def _end_session_sockets(self, session: Session, why: str) -> None:
        """A session ended: tell its sockets (``logout`` + disconnect) or leave them mute."""
        if self.config.on_session_end == "silent":
            return
        payload = json.dumps(_envelope("success", "s-session-logout", why, {}))
        for sid in list(session.sids):
            if sid in self._conns:
                self._c["logout_events"] += 1
                await self._sio.emit("logout", payload, to=sid)
                await self._sio.disconnect(sid)

    # -- emission ----------------------------------------------------------------------------

    async def _emit_loop(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.config.emit_interval
        carry = 0.0
        deadline = loop.time()
        while True:
            deadline += interval
            delay = deadline - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -1.0:
                deadline = loop.time()  # we fell a second behind: drop the backlog
            carry += self.config.rate * interval
            steps = int(carry)
            if steps <= 0:
                continue
            carry -= steps
            try:
                await self._emit_steps(steps)
            except asyncio.CancelledError:
                raise
            except Exception:  # never let one bad batch kill the stream
                self._c["emit_errors"] += 1
                log.exception("simulator emit batch failed")

    def _is_stalled(self) -> bool:
        until = self._stalled_until
        return until is not None and time.monotonic() < until

    async def _emit_steps(self, steps: int) -> None:
        now = time.time()
        # Only instruments someone is listening to move: a walk nobody receives is wasted CPU.
        targets = [s for s in self._book.live_sessions() if s.sids and s.subscriptions]
        instruments: set[Instrument] = set()
        for s in targets:
            for code, insts in s.subscriptions.items():
                if code in STREAMED_CODES:
                    instruments.update(insts)
        if not instruments:
            return
        walks = [self._market.walk(i, now) for i in instruments]
        send = self._sio.eio.send_packet
        conns = self._conns
        sent = 0
        for _ in range(steps):
            for w in walks:
                w.step(now)
            if not targets or self._is_stalled() or self._down:
                continue
            ticks: dict[tuple[int, Instrument], Tick] = {}
            fulls: dict[tuple[int, Instrument], _EioPacket] = {}
            for session in targets:
                plan = [
                    (code, list(members))
                    for code, members in session.subscriptions.items()
                    if code in STREAMED_CODES
                ]
                subs = session.subscriptions
                for code, batch in plan:
                    ev_full = event_name(code, BroadcastMode.FULL)
                    ev_part = event_name(code, BroadcastMode.PARTIAL)
                    for inst in batch:
                        key = (code, inst)
                        for sid in list(session.sids):
                            # Re-checked per event: an unsubscribe, logout or disconnect that
                            # landed while this batch yielded takes effect at once.
                            conn = conns.get(sid)
                            if conn is None or session.ended or session.revoked:
                                continue
                            current = subs.get(code)
                            if current is None or inst not in current:
                                break
                            tick = ticks.get(key)
                            if tick is None:
                                tick = self._market.walk(inst, now).tick(code)
                                ticks[key] = tick
                            if conn.partial:
                                text = render_partial(tick, conn.previous.get(key))
                                conn.previous[key] = tick
                                pkt = _data_packet(ev_part, text)
                            else:
                                cached = fulls.get(key)
                                if cached is None:
                                    cached = fulls[key] = _data_packet(ev_full, render_full(tick))
                                pkt = cached
                            await send(conn.eio_sid, pkt)
                            sent += 1
                            if sent % 256 == 0:
                                await asyncio.sleep(0)  # let writers and pings run
        self._events_emitted += sent

    # -- faults ------------------------------------------------------------------------------

    async def _abort_connections(self, exclude: object = None) -> int:
        """Abort every TCP connection (no close frame, no FIN handshake): a transport error.

        Long-polling Engine.IO sessions outlive any one TCP connection, so they are also
        dropped server-side without a CLOSE packet: their next poll fails, as after a real cut.
        """
        eio = self._sio.eio
        for sock in list(eio.sockets.values()):
            if not sock.upgraded and not sock.closed:
                await sock.close(wait=False, abort=True, reason=eio.reason.TRANSPORT_ERROR)
                sock.queue.put_nowait(None)  # releases a pending long-poll request
        runner = self._runner
        if runner is None or runner.server is None:
            return 0
        n = 0
        for handler in runner.server.connections:
            transport = handler.transport
            if transport is None or transport is exclude:
                continue
            transport.abort()
            n += 1
        return n

    async def sever(self, *, exclude: object = None) -> int:
        """Cut every TCP connection abruptly; clients see a transport error. Returns the count.

        ``exclude`` is a transport to spare (the control request's own connection).
        """
        self._c["severs"] += 1
        n = await self._abort_connections(exclude)
        log.info("fault: severed %d connections", n)
        return n

    async def disconnect_all(self) -> int:
        """Clean server-side disconnect of every socket (client reason ``server disconnect``)."""
        sids = list(self._conns)
        for sid in sids:
            await self._sio.disconnect(sid)
        self._c["server_disconnects"] += len(sids)
        return len(sids)

    def stall(self, seconds: float | None = None) -> None:
        """Send no data event for ``seconds`` (``None`` = until :meth:`unstall`).

        Sockets stay connected and Engine.IO pings go on, so only a data watchdog notices.
        """
        self._c["stalls"] += 1
        self._stalled_until = float("inf") if seconds is None else time.monotonic() + seconds

    def unstall(self) -> None:
        """End a stall now."""
        self._stalled_until = None

    async def go_down(self, seconds: float | None = None, *, exclude: object = None) -> None:
        """Stop listening and drop every connection; come back on the same port after
        ``seconds`` (``None`` = only when :meth:`come_up` is called). Sessions survive.

        ``exclude`` is a transport to spare (the control request's own connection).
        """
        if self._runner is None:
            raise RuntimeError("simulator not started")
        self._c["downs"] += 1
        if self._up_handle is not None:
            self._up_handle.cancel()
            self._up_handle = None
        if not self._down:
            self._down = True
            if self._site is not None:
                await self._site.stop()
                self._site = None
            await self._abort_connections(exclude)
        if seconds is not None:
            loop = asyncio.get_running_loop()
            self._up_handle = loop.call_later(seconds, lambda: self._spawn(self.come_up()))
        log.info("fault: down for %s s", seconds)

    async def come_up(self) -> None:
        """Listen again on the same host and port. No-op when already up."""
        if self._up_handle is not None:
            self._up_handle.cancel()
            self._up_handle = None
        if not self._down or self._runner is None:
            return
        site = web.TCPSite(self._runner, self.config.host, self.port, reuse_address=True)
        await site.start()
        self._site = site
        self._down = False
        log.info("simulator back up on port %d", self.port)

    def reject_logins(self, seconds: float) -> None:
        """Answer every login with a 5xx (HTML body) for ``seconds`` (0 ends it)."""
        self._c["reject_logins"] += 1
        self._logins_refused_until = time.monotonic() + max(0.0, seconds)

    def reject_credentials(self, on: bool = True) -> None:
        """While on, every login gets the wrong-credentials error, even with good keys."""
        self._credentials_rejected = on

    async def invalidate_tokens(self, *, disconnect: bool = False) -> int:
        """Kill every current token (REST -> 400 e-session-0007; socket connect -> ``error``).

        Their sockets stay connected but mute, unless ``disconnect`` (then they get the
        session-end treatment of ``config.on_session_end``).
        """
        sessions = self._book.revoke_all()
        self._c["token_invalidations"] += 1
        if disconnect:
            for s in sessions:
                await self._end_session_sockets(s, "Token invalidated")
        return len(sessions)

    async def expire_tokens(self) -> int:
        """Make every current token expire now (same server answers as invalid ones)."""
        self._c["token_expiries"] += 1
        return len(self._book.expire_all())

    def set_rest_delay(self, seconds: float) -> None:
        """Delay every market-data REST response by ``seconds`` (0 = off)."""
        self._rest_delay = max(0.0, seconds)

    async def send_malformed(self, count: int = 1) -> int:
        """Send ``count`` malformed payloads to every connected socket of a live session, on a
        data event it listens to (its first subscribed code, else 1501). Returns frames sent."""
        sent = 0
        for conn in list(self._conns.values()):
            session = conn.session
            if session.ended:
                continue
            codes = [c for c in session.subscriptions if c in STREAMED_CODES] or [1501]
            mode = BroadcastMode.PARTIAL if conn.partial else BroadcastMode.FULL
            event = event_name(codes[0], mode)
            for n in range(count):
                _, payload = MALFORMED_KINDS[n % len(MALFORMED_KINDS)]
                await self._sio.emit(event, payload, to=conn.sid)
                sent += 1
        self._c["malformed_sent"] += sent
        return sent

    async def restart(self, *, exclude: object = None) -> None:
        """Forget every session and token and drop every connection, like a process restart.

        ``exclude`` is a transport to spare (the control request's own connection).
        """
        self._c["restarts"] += 1
        self._book.forget_all()
        await self._abort_connections(exclude)
        self._stalled_until = None
        log.info("fault: restart (all sessions forgotten)")

    # -- introspection -----------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counters and state, JSON-serialisable. Never contains a token or secret."""
        counters = [
            "logins", "login_failures", "logins_refused", "logouts", "sessions_replaced",
            "subscribe_requests", "unsubscribe_requests", "already_subscribed",
            "limit_exceeded", "unsubscribe_not_subscribed", "invalid_token_requests",
            "bad_requests", "quote_requests", "socket_connects", "socket_rejects",
            "socket_disconnects", "logout_events", "malformed_sent", "severs",
            "server_disconnects", "stalls", "downs", "reject_logins", "token_invalidations",
            "token_expiries", "restarts", "emit_errors",
        ]  # fmt: skip
        out: dict[str, Any] = {name: self._c[name] for name in counters}
        out["events_emitted"] = self._events_emitted
        out["disconnect_reasons"] = dict(self._disconnect_reasons)
        out["max_subscribe_batch"] = self._max_batch["subscribe"]
        out["max_unsubscribe_batch"] = self._max_batch["unsubscribe"]
        out["subscribe_batch_sizes"] = list(self._batch_sizes["subscribe"])
        out["unsubscribe_batch_sizes"] = list(self._batch_sizes["unsubscribe"])
        out["connected_sockets"] = len(self._conns)
        out["stalled"] = self._is_stalled()
        out["down"] = self._down
        out["logins_refused_now"] = time.monotonic() < self._logins_refused_until
        out["credentials_rejected"] = self._credentials_rejected
        out["rest_delay"] = self._rest_delay
        out["rest_in_flight"] = self._rest_in_flight
        out["universe"] = [list(i) for i in self.config.instruments]
        now = time.time()
        out["sessions"] = [
            {
                "user_id": s.user.user_id,
                "session": s.serial,
                "valid": s.is_valid(now),
                "sockets": len(s.sids),
                "subscription_count": s.subscription_count(),
                "remaining": self._book.remaining(s),
                "subscriptions": s.subscribed_by_code(),
            }
            for s in self._book.sessions()
        ]
        return out

    def subscriptions(self, user_id: str | None = None) -> dict[int, set[Instrument]]:
        """The current session's subscriptions by code (first user's unless ``user_id``)."""
        uid = user_id or self.credentials.user_id
        for s in self._book.sessions():
            if s.user.user_id == uid:
                return {c: set(i) for c, i in s.subscriptions.items() if i}
        return {}
