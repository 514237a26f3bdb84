"""Engine.IO 3 / Socket.IO 2 dialect, written by hand on an aiohttp websocket.

Why by hand: python-socketio 5's server speaks only Engine.IO 4, and python-socketio 4 /
python-engineio 3 (the last Engine.IO 3 servers for Python) cannot be installed beside 5 (one
``socketio`` package). Only the websocket transport is served (every Python XTS client uses it).
What the wire looks like, with sources, is in ``docs/xts-protocol.md`` ("Engine.IO 3").

Per socket, in order:

1. ``0{"sid","upgrades":[],"pingInterval","pingTimeout"}`` -- the open packet, **without**
   ``maxPayload`` (Engine.IO 4 adds it), then ``40``: Socket.IO 2 connects the default
   namespace by itself. A client's own ``40`` is then ignored.
2. Client pings ``2`` are answered ``3`` (same data). The *server* pings nobody.
3. A socket that sent nothing for ``pingInterval + pingTimeout`` is closed (reason
   ``ping timeout``), even while data flows to it: server traffic does not reset the timer.
4. Events are ``42[...]`` text frames; binary events ``451-[...]`` plus one binary frame per
   attachment, each starting with the packet type byte ``0x04`` (see :mod:`.frames`).
5. A server disconnect is ``41`` then a websocket close.

A per-socket queue and writer task keep one slow socket from holding the emit loop, as the
Engine.IO 4 server's own queue does.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import secrets
from urllib.parse import parse_qs

from aiohttp import WSMsgType, web

from jainam_fsm.simulator.config import SimulatorConfig
from jainam_fsm.simulator.frames import Frame
from jainam_fsm.simulator.stats import SimStats
from jainam_fsm.simulator.stream import Stream

__all__ = ["Eio3Server"]

log = logging.getLogger("jainam_fsm.simulator")


class _Close(enum.Enum):
    """Queue items that end the writer: close the websocket ``NOW``, or once the client has
    closed it (``LINGER``: after ``41`` it does so by itself), at most ``_LINGER_SECONDS``."""

    NOW = 1
    LINGER = 2


_LINGER_SECONDS = 1.0
#: A frame to send, or how to close.
_Item = str | bytes | _Close


class _Eio3Link:
    """One Engine.IO 3 websocket as a :class:`~.stream.Link`."""

    __slots__ = ("ending", "peer_gone", "queue", "sid", "writer", "ws")

    def __init__(self, ws: web.WebSocketResponse, sid: str) -> None:
        self.ws = ws
        self.sid = sid
        #: why the server is ending this socket (None: it is not)
        self.ending: str | None = None
        self.queue: asyncio.Queue[_Item] = asyncio.Queue()
        self.writer: asyncio.Task[None] | None = None
        #: set when the read loop ended (the client closed, or the connection died)
        self.peer_gone = asyncio.Event()

    async def send(self, frame: Frame) -> None:
        put = self.queue.put_nowait
        for item in frame.eio3():
            put(item)

    async def close(self) -> None:
        # Socket.IO DISCONNECT on "/"; the client answers by closing. Closing first ourselves
        # would, on loopback, cut the client's own "40" and with it python-engineio's read loop
        # before it reads our last frames (a real network's latency hides that race).
        self.ending = self.ending or "server disconnect"
        self.queue.put_nowait("41")
        self.queue.put_nowait(_Close.LINGER)

    async def write_loop(self) -> None:
        ws, queue = self.ws, self.queue
        try:
            while True:
                item = await queue.get()
                if item is _Close.NOW:
                    break
                if item is _Close.LINGER:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.peer_gone.wait(), _LINGER_SECONDS)
                    break
                if isinstance(item, str):
                    await ws.send_str(item)
                else:
                    await ws.send_bytes(item)
        except (ConnectionError, RuntimeError):
            return  # the socket went away under us; the read loop reports it
        with contextlib.suppress(Exception):
            await ws.close()


class Eio3Server:
    """The Engine.IO 3 side of one simulator; see the module docstring."""

    dialect = 3

    def __init__(self, config: SimulatorConfig, stream: Stream, stats: SimStats) -> None:
        self._stream = stream
        self._stats = stats
        self._interval = config.ping_interval
        self._timeout = config.heartbeat_timeout
        self._links: dict[str, _Eio3Link] = {}

    def attach(self, app: web.Application, socketio_path: str) -> None:
        """Serve the websocket endpoint on ``socketio_path`` (with and without a final slash)."""
        path = socketio_path.rstrip("/")
        app.router.add_get(path + "/", self._handle)
        app.router.add_get(path, self._handle)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True)
        if request.query.get("transport") != "websocket" or not ws.can_prepare(request).ok:
            # Engine.IO's "Transport unknown" answer: only the websocket transport is served.
            return web.json_response({"code": 0, "message": "Transport unknown"}, status=400)
        await ws.prepare(request)
        sid = secrets.token_urlsafe(15)
        link = _Eio3Link(ws, sid)
        self._links[sid] = link
        opening = {
            "sid": sid,
            "upgrades": [],
            "pingInterval": int(self._interval * 1000),
            "pingTimeout": int(self._timeout * 1000),
        }
        link.queue.put_nowait("0" + json.dumps(opening, separators=(",", ":")))
        link.queue.put_nowait("40")
        link.writer = asyncio.create_task(link.write_loop(), name="jainam-sim-eio3-writer")
        admitted = False
        reason = "transport close"
        try:
            admitted = await self._stream.admit(sid, link, parse_qs(request.query_string))
            if not admitted:
                await link.close()
            reason = await self._read_loop(link)
        finally:
            link.peer_gone.set()
            self._links.pop(sid, None)
            if admitted:
                self._stream.dropped(sid, reason)
            link.queue.put_nowait(_Close.NOW)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(link.writer, 1.0)
        return ws

    async def _read_loop(self, link: _Eio3Link) -> str:
        """Read until the socket ends; returns the reason (python-engineio's words)."""
        ws = link.ws
        limit = self._interval + self._timeout
        while True:
            try:
                msg = await ws.receive(timeout=limit)
            except TimeoutError:
                # Nothing from the client for pingInterval + pingTimeout: close the websocket.
                link.ending = "ping timeout"
                link.queue.put_nowait(_Close.NOW)
                return "ping timeout"
            if msg.type is WSMsgType.TEXT:
                data: str = msg.data
                kind = data[:1]
                if kind == "2":  # PING -> PONG with the same data
                    self._stats.c["pings_received"] += 1
                    link.queue.put_nowait("3" + data[1:])
                elif data == "1" or data.startswith("41"):  # Engine.IO CLOSE, Socket.IO DISCONNECT
                    return "client disconnect"
                # "40" (already connected), client events and anything else: ignored.
            elif msg.type is WSMsgType.BINARY:
                continue
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING):
                return link.ending or "transport close"
            else:  # CLOSED, ERROR: the connection was cut
                return "transport error"

    async def drop_polling(self) -> None:
        """Nothing to do: only websockets are served, and cutting TCP ends them."""

    async def shutdown(self) -> None:
        """Close every socket (no Socket.IO goodbye: the server is going away)."""
        for link in list(self._links.values()):
            link.ending = link.ending or "server shutdown"
            link.queue.put_nowait(_Close.NOW)
            with contextlib.suppress(Exception):
                await link.ws.close()
