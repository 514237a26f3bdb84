"""Engine.IO 3 or 4 under python-socketio 5: the one seam where we extend the library.

Real XTS servers speak Engine.IO 3 (Socket.IO 2); python-socketio 5 is an Engine.IO 4 client.
Against an Engine.IO 3 server a plain python-socketio 5 client fails twice (docs/xts-protocol.md,
"Engine.IO 3"): it never pings, so the server drops it every pingInterval + pingTimeout, and it
keeps the ``0x04`` type byte in front of every binary attachment. python-socketio stays our
Socket.IO implementation; this module adds exactly what Engine.IO 3 needs:

* :class:`DialectClient` -- a ``socketio.AsyncClient`` whose ``_engineio_client_class`` returns
  :class:`DialectEngineIO` (the library's documented-by-code extension point).
* :class:`DialectEngineIO` -- an ``engineio.AsyncClient`` that learns the dialect from the open
  packet (Engine.IO 4's carries ``maxPayload``, Engine.IO 3's does not), and under Engine.IO 3
  sends a PING every pingInterval, takes PONGs as link liveness (they reset the read timeout;
  they are counted) and strips the ``0x04`` from binary attachments.

The open packet is read inside ``_connect_websocket``; to see it we give the Engine.IO client an
aiohttp session whose websocket class looks at the first frame only (:class:`_OpenPeekingWS`).
Private python-engineio names used here (``_connect_websocket``, ``_receive_packet``,
``_send_packet``, ``_reset``, ``_get_engineio_url``, ``http_factory``) are checked by
``tests/test_transport_dialect.py``, which fails loudly if a release changes them; the tested
range is pinned in ``pyproject.toml``.

The data fast path (:class:`FastPath`, ``AdapterConfig.socketio_fast_path``): python-socketio's
generic per-message work (a task per message, its packet decode, the outer JSON parse, handler
lookup) dominates the cost of a tick. The Engine.IO client here recognises, strictly, the
Socket.IO EVENT packets of the data events the transport registered -- text
``2["<event>","<json string>"]`` and the binary ``51-["<event>",{"_placeholder":true,
"num":0}]`` followed by its attachment (``42[...]`` and ``451-[...]`` on the wire, where
Engine.IO's message type ``4`` comes first) -- and calls their handler with exactly what
python-socketio would have passed. Anything else (connect, disconnect, errors, namespaces, ack
ids, other events, other argument shapes, anything malformed) goes to python-socketio
unchanged, as does every message while a message handed to it is still unhandled (so events
stay in arrival order). docs/performance.md has the measurements.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Literal

import aiohttp
import engineio
import orjson
import socketio
from engineio import packet as eio_packet

__all__ = ["DialectClient", "DialectEngineIO", "EioMode", "FastPath"]

log = logging.getLogger("jainam_fsm.transport")

#: "auto" = follow the server's open packet; 3 or 4 = speak that dialect whatever it says.
EioMode = Literal["auto", 3, 4]

#: The Engine.IO client whose websocket is being opened (read by :class:`_OpenPeekingWS`).
_OPENING: ContextVar[DialectEngineIO | None] = ContextVar("jainam_eio_opening", default=None)


class _OpenPeekingWS(aiohttp.ClientWebSocketResponse):
    """A websocket that hands its first frame (the Engine.IO open packet) to its owner.

    After the first frame ``receive`` is the base class's again (an instance attribute), so the
    hot path pays nothing.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._owner = _OPENING.get()
        if self._owner is not None:
            self.receive = self._receive_first  # type: ignore[method-assign]

    async def _receive_first(self, timeout: float | None = None) -> aiohttp.WSMessage:
        msg = await aiohttp.ClientWebSocketResponse.receive(self, timeout)
        del self.receive  # back to the class's method
        owner, self._owner = self._owner, None
        if owner is not None and msg.type is aiohttp.WSMsgType.TEXT:
            owner.learn_open_packet(str(msg.data))
        return msg


class DialectEngineIO(engineio.AsyncClient):  # type: ignore[misc]
    """python-engineio's asyncio client, speaking Engine.IO 3 where the server does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.http is None and getattr(self, "http_factory", None) is None:
            self.http_factory = _peeking_session
        #: what we were told to speak (set by :class:`DialectClient`)
        self.mode: EioMode = "auto"
        #: what the server's open packet says (3 or 4; None before the first open)
        self.server_dialect: int | None = None
        #: what we speak on this connection (3 or 4; None before the first open)
        self.dialect: int | None = None
        self.pings_sent = 0
        self.pongs = 0
        self._pinger: asyncio.Task[None] | None = None
        #: the data fast path (None: every message goes through python-socketio)
        self.fast: FastPath | None = None
        #: the last message handed to python-socketio (a task: the library runs each in one)
        self._library_task: asyncio.Task[Any] | None = None

    # -- dialect ------------------------------------------------------------------------------
    def learn_open_packet(self, text: str) -> None:
        """Called with the first frame of each websocket: ``0{...}`` is the open packet."""
        server = None
        if text[:1] == "0":
            try:
                fields = json.loads(text[1:])
            except ValueError:
                fields = None
            if isinstance(fields, dict):
                server = 4 if "maxPayload" in fields else 3
        self.server_dialect = server
        self.dialect = self.mode if self.mode in (3, 4) else (server or 4)

    def _get_engineio_url(self, url: str, engineio_path: str, transport: str) -> str:
        base: str = super()._get_engineio_url(url, engineio_path, transport)
        if self.mode == 3:
            # Told to speak 3: say so, for servers that serve both (Socket.IO >= 3 with allowEIO3).
            base = base.replace("&EIO=4", "&EIO=3")
        return base

    async def _connect_websocket(self, url: str, headers: Any, engineio_path: str) -> Any:
        token = _OPENING.set(self)
        try:
            connected = await super()._connect_websocket(url, headers, engineio_path)
        except BaseException:
            # python-engineio leaves the session it made open when the connect fails.
            if not self.external_http and self.http is not None and not self.http.closed:
                await self.http.close()
            raise
        finally:
            _OPENING.reset(token)
        if self.dialect == 3 and self.state == "connected":
            self._pinger = asyncio.create_task(self._ping_loop(), name="jainam-eio3-ping")
        return connected

    # -- Engine.IO 3 heartbeat -------------------------------------------------------------------
    async def _ping_loop(self) -> None:
        """A PING every pingInterval, on a fixed schedule (no drift under load)."""
        loop = asyncio.get_running_loop()
        interval = float(self.ping_interval)
        deadline = loop.time()
        while self.state == "connected":
            deadline += interval
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            if self.state != "connected":
                return
            await self._send_packet(eio_packet.Packet(eio_packet.PING))
            self.pings_sent += 1

    async def _receive_packet(self, pkt: eio_packet.Packet) -> None:
        if self.dialect == 3:
            if pkt.packet_type == eio_packet.PONG:
                # Link liveness: receiving it already reset the read timeout; count it.
                self.pongs += 1
                return
            data = pkt.data
            if pkt.binary and data[:1] == b"\x04":
                pkt.data = data[1:]  # Engine.IO 3's packet type byte in front of binary data
        fast = self.fast
        if fast is None or pkt.packet_type != eio_packet.MESSAGE:
            await super()._receive_packet(pkt)
            return
        data = pkt.data
        if fast.header_pending:
            # The attachment of a binary event whose header we took.
            fast.header_pending = False
            if type(data) is bytes:
                fast.call(fast.binary, data)
                return
            await self._to_library(fast.binary_header)  # not an attachment: replay, in order
        else:
            task = self._library_task
            if (task is None or task.done()) and fast.idle() and fast.take(data):
                return
        await self._to_library(data)

    async def _to_library(self, data: Any) -> None:
        """What the library's ``_receive_packet`` does with a MESSAGE (checked by the seam
        test), keeping its task so that later messages wait for it."""
        self._library_task = await self._trigger_event("message", data, run_async=True)

    async def _reset(self) -> None:
        pinger, self._pinger = self._pinger, None
        if pinger is not None and pinger is not asyncio.current_task():
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pinger
        await super()._reset()


class FastPath:
    """The data events taken from python-socketio's path (see the module docstring).

    ``events`` maps an event name to its handler (called with the event's one string argument);
    ``binary`` is the handler of the binary event ``binary_event`` (called with the attachment).
    Names must be plain (no ``"`` or ``\\``). I/O thread only.
    """

    def __init__(self, sio: socketio.AsyncClient) -> None:
        self._sio = sio
        self.events: dict[str, Callable[[str], None]] = {}
        self.binary: Callable[[bytes], None] | None = None
        self.binary_header = ""
        #: the header of a binary event was taken; its attachment is next
        self.header_pending = False
        #: messages taken (a binary event counts once) and handler errors
        self.taken = 0
        self.errors = 0

    def bind_binary(self, event: str, handler: Callable[[bytes], None]) -> None:
        """Take ``event`` when it arrives as a binary event with one attachment."""
        self.binary = handler
        self.binary_header = f'51-["{event}",{{"_placeholder":true,"num":0}}]'

    def idle(self) -> bool:
        """python-socketio is not assembling a binary packet of its own."""
        return self._sio._binary_packet is None

    def take(self, data: Any) -> bool:
        """Handle ``data`` (one Engine.IO message) if it is one of ours, exactly; else False."""
        if type(data) is not str:
            return False
        if data[:3] != '2["':
            if data == self.binary_header and self.binary is not None:
                self.header_pending = True
                self.taken += 1
                return True
            return False
        end = data.find('",', 3)
        if end < 0:
            return False
        handler = self.events.get(data[3:end])
        if handler is None or data[end + 2 : end + 3] != '"' or data[-1:] != "]":
            return False
        try:
            # Exactly one JSON string between the comma and the closing bracket, or nothing.
            value = orjson.loads(data[end + 2 : -1])
        except orjson.JSONDecodeError:
            return False
        if type(value) is not str:
            return False
        self.taken += 1
        self.call(handler, value)
        return True

    def call(self, handler: Callable[[Any], None] | None, value: Any) -> None:
        """Run a handler on the read loop; an error is counted and logged, never raised (it
        would end the read loop)."""
        if handler is None:  # pragma: no cover - bind_binary sets both
            return
        try:
            handler(value)
        except Exception:
            self.errors += 1
            if self.errors == 1:
                log.exception("data handler failed (counted; logged once per socket)")


def _peeking_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(ws_response_class=_OpenPeekingWS)


class DialectClient(socketio.AsyncClient):  # type: ignore[misc]
    """``socketio.AsyncClient`` on :class:`DialectEngineIO`; ``eio`` is "auto", 3 or 4."""

    def __init__(
        self, *args: Any, eio: EioMode = "auto", fast_path: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.eio.mode = eio
        #: where the transport registers its data events for the fast path (None: off)
        self.fast_path: FastPath | None = FastPath(self) if fast_path else None
        self.eio.fast = self.fast_path

    def _engineio_client_class(self) -> type[DialectEngineIO]:
        return DialectEngineIO

    @property
    def dialect(self) -> int | None:
        """The Engine.IO dialect of the current connection (3 or 4), None before one."""
        d: int | None = self.eio.dialect
        return d
