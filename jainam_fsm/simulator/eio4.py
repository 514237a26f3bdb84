"""Engine.IO 4 / Socket.IO 5 dialect: python-socketio's ``AsyncServer`` on the aiohttp app.

The library does the protocol (handshake, server pings, polling and websocket); this module
only adapts its callbacks to :class:`~.stream.Stream` and sends pre-encoded frames with
``eio.send_packet``, which skips the task and wait ``AsyncServer.emit`` spends per recipient.
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import parse_qs

import socketio
from aiohttp import web

from jainam_fsm.simulator.config import SimulatorConfig
from jainam_fsm.simulator.frames import Frame
from jainam_fsm.simulator.stream import Stream

__all__ = ["Eio4Server"]


class _Eio4Link:
    """One python-socketio socket as a :class:`~.stream.Link`."""

    __slots__ = ("_eio_sid", "_send_packet", "_sid", "_sio")

    def __init__(self, sio: socketio.AsyncServer, sid: str, eio_sid: str) -> None:
        self._sio = sio
        self._sid = sid
        self._eio_sid = eio_sid
        self._send_packet = sio.eio.send_packet

    async def send(self, frame: Frame) -> None:
        for pkt in frame.eio4():
            await self._send_packet(self._eio_sid, pkt)

    async def close(self) -> None:
        await self._sio.disconnect(self._sid)


class Eio4Server:
    """The Engine.IO 4 side of one simulator."""

    dialect = 4

    def __init__(self, config: SimulatorConfig, stream: Stream) -> None:
        self._stream = stream
        self.sio = socketio.AsyncServer(
            async_mode="aiohttp",
            cors_allowed_origins="*",
            ping_interval=config.ping_interval,
            ping_timeout=config.heartbeat_timeout,
            always_connect=True,  # lets us emit `error` before dropping a bad token
            logger=False,
            engineio_logger=False,
        )
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)

    def attach(self, app: web.Application, socketio_path: str) -> None:
        """Serve Socket.IO on ``socketio_path`` of ``app``."""
        self.sio.attach(app, socketio_path=socketio_path.lstrip("/"))

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: object = None) -> bool:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
        # False after always_connect: the client gets a server disconnect.
        return await self._stream.admit(sid, _Eio4Link(self.sio, sid, eio_sid), query)

    async def _on_disconnect(self, sid: str, reason: object = None) -> None:
        self._stream.dropped(sid, str(reason))

    async def drop_polling(self) -> None:
        """Long-polling Engine.IO sessions outlive any one TCP connection: drop them server-side
        without a CLOSE packet, so their next poll fails, as after a real cut."""
        eio = self.sio.eio
        for sock in list(eio.sockets.values()):
            if not sock.upgraded and not sock.closed:
                await sock.close(wait=False, abort=True, reason=eio.reason.TRANSPORT_ERROR)
                sock.queue.put_nowait(None)  # releases a pending long-poll request

    async def shutdown(self) -> None:
        """Disconnect every socket and stop the library's background tasks."""
        for sid in list(self._stream.conns):
            with contextlib.suppress(Exception):
                await self.sio.disconnect(sid)
        await self.sio.shutdown()
