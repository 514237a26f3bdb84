"""The XTS market-data simulator: composes the REST API, the socket stream, a dialect server
(Engine.IO 4 or 3), the fault switches and the counters on one aiohttp application.

Faithful to ``docs/xts-protocol.md`` (what the real server does, with sources), plus fault
switches for tests. :class:`Simulator` is the asyncio API; :mod:`.thread` wraps it for sync code.
This module owns the lifecycle and the listener (start, stop, down/up, cutting connections);
everything else is delegated:

* :mod:`.rest` -- REST handlers; :mod:`.validation` -- request parsing and envelopes
* :mod:`.stream` -- admission, emit loop, server-sent events (one model for both dialects)
* :mod:`.eio4` -- python-socketio's server (Engine.IO 4); :mod:`.eio3` -- Engine.IO 3 by hand
* :mod:`.faults` -- switch state; :mod:`.stats` -- counters; :mod:`.control` -- ``/_sim/*``
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

from jainam_fsm.simulator.binary_control import add_binary_control_routes
from jainam_fsm.simulator.config import BinaryKnobs, SimulatorConfig, SimUser
from jainam_fsm.simulator.control import add_control_routes
from jainam_fsm.simulator.eio3 import Eio3Server
from jainam_fsm.simulator.eio4 import Eio4Server
from jainam_fsm.simulator.emitted import EmittedLog
from jainam_fsm.simulator.faults import FaultSwitches
from jainam_fsm.simulator.market import Market
from jainam_fsm.simulator.rest import RestApi
from jainam_fsm.simulator.sessions import Instrument, SessionBook
from jainam_fsm.simulator.stats import SimStats
from jainam_fsm.simulator.stream import MALFORMED_KINDS, Stream
from jainam_fsm.xts.ticks import Tick

__all__ = ["MALFORMED_KINDS", "Simulator"]

log = logging.getLogger("jainam_fsm.simulator")


class _RedactingAccessLogger(AbstractAccessLogger):
    """Access log without query strings: the socket URL carries the token there."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        if self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug(
                "%s %s %s %.1f ms", request.method, request.path, response.status, time * 1000
            )


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
        self._faults = FaultSwitches()
        self._stats = SimStats()
        market = Market(cfg.seed)
        #: the socket side (both dialects go through it)
        self.stream = Stream(cfg, self._book, market, self._faults, self._stats)
        self._rest = RestApi(
            cfg,
            book=self._book,
            market=market,
            faults=self._faults,
            stats=self._stats,
            stream=self.stream,
        )
        self._app = web.Application(middlewares=[self._rest.middleware])
        self._sockets: Eio3Server | Eio4Server = (
            Eio3Server(cfg, self.stream, self._stats)
            if cfg.eio == 3
            else Eio4Server(cfg, self.stream)
        )
        self._sockets.attach(self._app, self.socketio_path)
        self._rest.install(self._app)
        add_control_routes(self._app, self)
        add_binary_control_routes(self._app, self)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._port: int | None = None
        self._stopped = False
        self._emit_task: asyncio.Task[None] | None = None
        self._up_handle: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def socketio_path(self) -> str:
        """The Socket.IO path, ``<prefix>/socket.io``."""
        return f"{self.config.rest_prefix}/socket.io"

    @property
    def eio(self) -> int:
        """The Engine.IO dialect served (3 or 4)."""
        return self.config.eio

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
        return self.root_url + self.config.rest_prefix

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
        self._emit_task = asyncio.create_task(self.stream.run(), name="jainam-sim-emit")
        log.info("simulator listening on %s", self.base_url)

    async def stop(self) -> None:
        """Disconnect every socket, stop listening, cancel every task. Idempotent.

        Delayed REST answers (``set_rest_delay``) are released at once, so a stop never waits
        for them.
        """
        if self._runner is None:
            return
        self._faults.stopping()
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
        await self._sockets.shutdown()
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

    # -- faults on the listener --------------------------------------------------------------

    async def _abort_connections(self, exclude: object = None) -> int:
        """Abort every TCP connection (no close frame, no FIN handshake): a transport error."""
        await self._sockets.drop_polling()
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
        self._stats.c["severs"] += 1
        n = await self._abort_connections(exclude)
        log.info("fault: severed %d connections", n)
        return n

    async def disconnect_all(self) -> int:
        """Clean server-side disconnect of every socket (client reason ``server disconnect``)."""
        return await self.stream.disconnect_all()

    async def go_down(self, seconds: float | None = None, *, exclude: object = None) -> None:
        """Stop listening and drop every connection; come back on the same port after
        ``seconds`` (``None`` = only when :meth:`come_up` is called). Sessions survive.

        ``exclude`` is a transport to spare (the control request's own connection).
        """
        if self._runner is None:
            raise RuntimeError("simulator not started")
        self._stats.c["downs"] += 1
        if self._up_handle is not None:
            self._up_handle.cancel()
            self._up_handle = None
        if not self._faults.down:
            self._faults.down = True
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
        if not self._faults.down or self._runner is None:
            return
        site = web.TCPSite(self._runner, self.config.host, self.port, reuse_address=True)
        await site.start()
        self._site = site
        self._faults.down = False
        log.info("simulator back up on port %d", self.port)

    async def restart(self, *, exclude: object = None) -> None:
        """Forget every session and token and drop every connection, like a process restart.

        ``exclude`` is a transport to spare (the control request's own connection).
        """
        self._stats.c["restarts"] += 1
        self._book.forget_all()
        await self._abort_connections(exclude)
        self._faults.unstall()
        log.info("fault: restart (all sessions forgotten)")

    # -- faults that are switches --------------------------------------------------------------

    def stall(self, seconds: float | None = None) -> None:
        """Send no data event for ``seconds`` (``None`` = until :meth:`unstall`).

        Sockets stay connected and Engine.IO pings go on, so only a data watchdog notices.
        """
        self._stats.c["stalls"] += 1
        self._faults.stall(seconds)

    def unstall(self) -> None:
        """End a stall now."""
        self._faults.unstall()

    def reject_logins(self, seconds: float) -> None:
        """Answer every login with a 5xx (HTML body) for ``seconds`` (0 ends it)."""
        self._stats.c["reject_logins"] += 1
        self._faults.reject_logins(seconds)

    def reject_credentials(self, on: bool = True) -> None:
        """While on, every login gets the wrong-credentials error, even with good keys."""
        self._faults.credentials_rejected = on

    def set_rest_delay(self, seconds: float) -> None:
        """Delay every market-data REST response by ``seconds`` (0 = off)."""
        self._faults.set_rest_delay(seconds)

    # -- faults on sessions and sockets ----------------------------------------------------------

    async def invalidate_tokens(self, *, disconnect: bool = False) -> int:
        """Kill every current token (REST -> 400 e-session-0007; socket connect -> ``error``).

        Their sockets stay connected but mute, unless ``disconnect`` (then they get the
        session-end treatment of ``config.on_session_end``).
        """
        sessions = self._book.revoke_all()
        self._stats.c["token_invalidations"] += 1
        if disconnect:
            for s in sessions:
                await self.stream.end_session_sockets(s, "Token invalidated")
        return len(sessions)

    async def expire_tokens(self) -> int:
        """Make every current token expire now (same server answers as invalid ones)."""
        self._stats.c["token_expiries"] += 1
        return len(self._book.expire_all())

    async def send_malformed(self, count: int = 1) -> int:
        """Send ``count`` malformed payloads to every socket of a live session (see
        :meth:`.stream.Stream.send_malformed`). Returns frames sent."""
        return await self.stream.send_malformed(count)

    async def broadcast(self, event: str, data: object) -> int:
        """Send one event (``bytes`` become a binary attachment) to every socket of a live
        session, in the simulator's dialect. Returns the number of sockets."""
        return await self.stream.broadcast(event, data)

    # -- introspection -----------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counters and state, JSON-serialisable. Never contains a token or secret."""
        faults = self._faults
        out: dict[str, Any] = self._stats.snapshot()
        out["eio"] = self.config.eio
        out["api"] = self.config.api
        binary = self.stream.binary
        if binary is not None:
            emitted = self.stream.emitted
            out["binary"] = {
                "packets": binary.packets,
                "compressed_packets": binary.compressed,
                "events": binary.events_built,
                "opaque_packets": sum(emitted.opaque_counts().values()),
                "corrupt_packets": sum(emitted.corrupt_counts().values()),
            }
        out["connected_sockets"] = len(self.stream.conns)
        out["stalled"] = faults.is_stalled()
        out["down"] = faults.down
        out["logins_refused_now"] = faults.logins_refused()
        out["credentials_rejected"] = faults.credentials_rejected
        out["rest_delay"] = faults.rest_delay
        out["rest_in_flight"] = self._rest.in_flight
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

    @property
    def emitted_log(self) -> EmittedLog:
        """Every tick published per ``(segment, instrument, code)``, as a correct decoder
        returns it (bounded by ``config.emitted_cap``); opaque and corrupt packets counted."""
        return self.stream.emitted

    def emitted(self, segment: int, instrument: int, code: int) -> list[Tick]:
        """The remembered ticks of one key, in emission order (see :attr:`emitted_log`)."""
        return self.stream.emitted.ticks((segment, instrument, code))

    @property
    def binary_knobs(self) -> BinaryKnobs:
        """The binary flavour's knobs in force."""
        return self.stream.binary_knobs

    def set_binary_knobs(self, knobs: BinaryKnobs) -> None:
        """Change the binary knobs from the next emission step on (``POST /_sim/binary``)."""
        self.stream.set_binary_knobs(knobs)

    def subscriptions(self, user_id: str | None = None) -> dict[int, set[Instrument]]:
        """The current session's subscriptions by code (first user's unless ``user_id``)."""
        uid = user_id or self.credentials.user_id
        for s in self._book.sessions():
            if s.user.user_id == uid:
                return {c: set(i) for c, i in s.subscriptions.items() if i}
        return {}
