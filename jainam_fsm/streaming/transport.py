"""The ``Transport`` port on real I/O: python-socketio ``AsyncClient`` plus the REST client.

The client is :class:`~jainam_fsm.streaming.dialect.DialectClient`: python-socketio 5 speaking
Engine.IO 3 or 4, as the server's open packet says (``AdapterConfig.eio``).

Methods are called on the supervisor thread and run their I/O on the :class:`IoThread`.
python-socketio's own reconnection is **off**: the lifecycle machine is the only owner of
retries. The socket URL (with the token in its query, as XTS wants) is computed at each
connect from the current token and never logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol
from urllib.parse import urlencode

import socketio

from jainam_fsm.core.causes import Cause
from jainam_fsm.core.ports import (
    FeedToken,
    Instrument,
    LinkEvent,
    LinkKind,
    RequestOutcome,
    SubKey,
    TelemetrySink,
    emit_safely,
)
from jainam_fsm.errors import TokenRejected, TransportFailure
from jainam_fsm.streaming.config import AdapterConfig
from jainam_fsm.streaming.dialect import DialectClient
from jainam_fsm.streaming.flavour import BINARY_EVENT, LTP_CODE, TOUCHLINE_CODE, Flavour
from jainam_fsm.streaming.ioloop import IoThread
from jainam_fsm.telemetry import REDACTOR, QuietCloseLogger, RedactingFilter
from jainam_fsm.transport.probe import diagnose
from jainam_fsm.transport.rest import XtsRestClient
from jainam_fsm.xts.codes import BroadcastMode, MessageCode, event_name

log = logging.getLogger("jainam_fsm.transport")


def _library_logger(name: str) -> logging.Logger:
    """A logger for python-socketio/-engineio that scrubs secrets: at INFO they log the
    socket URL, token query included. Quiet (WARNING) unless configured otherwise."""
    logger = logging.getLogger(name)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
    return logger


#: Passed to python-socketio instead of its own loggers, whose records nobody redacts.
SOCKETIO_LOG = _library_logger("jainam_fsm.transport.socketio")
ENGINEIO_LOG = _library_logger("jainam_fsm.transport.engineio")

#: Data events registered explicitly (fast path); anything else lands in the catch-all.
DATA_CODES = tuple(int(c) for c in MessageCode)

DataHandler = Callable[[str, object], None]
BinaryHandler = Callable[[object], None]
Wants = Callable[[int, int, int], bool]
#: ``(generation, event)``: the socket of that generation went away or lost its session
LinkHandler = Callable[[int, LinkEvent], None]


class SnapshotSink(Protocol):
    """Receives subscribe snapshots on the I/O thread (see the adapter)."""

    def begin(self, code: int, instruments: Sequence[Instrument]) -> None: ...

    def deliver(self, code: int, quotes: Sequence[str]) -> None: ...

    def end(self, code: int, instruments: Sequence[Instrument]) -> None: ...

    def connecting(self) -> None: ...


def _looks_like_token_error(text: str) -> bool:
    low = text.lower()
    return (
        "e-session-0007" in low or "invalid token" in low or ("token" in low and "expired" in low)
    )


class XtsTransport:
    """One XTS market-data connection at a time; see the module docstring."""

    def __init__(
        self,
        config: AdapterConfig,
        *,
        io: IoThread,
        rest: XtsRestClient,
        on_data: DataHandler,
        on_link: LinkHandler,
        on_snapshot: SnapshotSink,
        flavour: Flavour | None = None,
        on_binary: BinaryHandler | None = None,
        wants: Wants | None = None,
        before_open: Callable[[FeedToken], None] | None = None,
        telemetry: TelemetrySink | None = None,
    ) -> None:
        self.config = config
        self._telemetry = telemetry
        self.flavour = flavour or Flavour(config.api_str, config.prefix_str, config.socket_path_str)
        self._on_binary = on_binary
        self._wants = wants
        self._before_open = before_open
        self._io = io
        self._rest = rest
        self._on_data = on_data
        self._on_link = on_link
        self._on_snapshot = on_snapshot
        self._sio: DialectClient | None = None
        self._token: FeedToken | None = None
        #: Engine.IO dialect of the current (last) connection, and what the server's open
        #: packet said (3 or 4; None before the first connection)
        self.eio: int | None = None
        self.server_eio: int | None = None
        #: bumped at every open and close: events of an older socket are ignored
        self.generation = 0
        self.connects = 0
        self.disconnects = 0
        self.snapshot_refills = 0
        #: monotonic time of the last event of the current socket, or of its open
        #: (``stats()["seconds_since_message"]``; the stall watchdog reads the tick path instead)
        self.last_message = time.monotonic()

    # -- Transport port -------------------------------------------------------------------
    def open(self, token: FeedToken) -> None:
        self.close()
        self.generation += 1
        gen = self.generation
        REDACTOR.add(token.value)
        self._token = token
        if self._before_open is not None:
            self._before_open(token)  # e.g. settle api="auto" before the socket path is used
        timeout = self.config.connect_timeout + self.config.join_timeout + 1.0
        sio = self._sio = self._io.run(self._open(token, gen), timeout=timeout)
        self.connects += 1
        self.last_message = time.monotonic()
        self.eio, self.server_eio = sio.dialect, sio.eio.server_dialect
        if self._telemetry is not None:
            # Which dialect the server speaks: an operator's first question about drops.
            fields: dict[str, object] = {
                "eio": self.eio,
                "server_eio": self.server_eio,
                "eio_setting": self.config.eio,
                "ping_interval": sio.eio.ping_interval,
                "ping_timeout": sio.eio.ping_timeout,
            }
            emit_safely(self._telemetry, "connection.opened", logging.INFO, fields)

    def heartbeat(self) -> tuple[int, int]:
        """``(pings sent, pongs received)`` on the current socket: both 0 under Engine.IO 4,
        where the server pings; under Engine.IO 3 pongs trailing pings means a dying link."""
        sio = self._sio
        if sio is None:
            return (0, 0)
        return (int(sio.eio.pings_sent), int(sio.eio.pongs))

    def close(self) -> None:
        sio, self._sio = self._sio, None
        self.generation += 1
        if sio is None:
            return
        try:
            self._io.run(self._close(sio), timeout=5.0, while_closing=True)
        except Exception as exc:  # close never raises
            log.debug("socket close: %s", type(exc).__name__)

    def subscribe(self, code: int, instruments: Sequence[Instrument]) -> RequestOutcome:
        token = self._require_token()
        return self._io.run(
            self._subscribe(token, self.flavour.server_code(code), instruments),
            timeout=2 * self.config.request_timeout + 2,
        )

    async def _subscribe(
        self, token: FeedToken, code: int, instruments: Sequence[Instrument]
    ) -> RequestOutcome:
        # On the I/O thread: snapshots are handed over here, in order with the live ticks.
        self._on_snapshot.begin(code, instruments)
        try:
            result = await self._rest.subscribe(token, code, instruments)
            quotes = result.list_quotes
            if (
                not quotes
                and self.config.snapshot_on_already
                and (result.outcome is RequestOutcome.ALREADY or self.flavour.binary)
            ):
                # e-session-0002, and every subscribe answer of the binary API, carry no
                # snapshot: fetch one (as JSON) so consumers start from a price.
                try:
                    quotes = await self._rest.quotes(token, code, instruments)
                    self.snapshot_refills += 1
                except Exception as exc:  # a missing snapshot must not fail the replay
                    log.warning("snapshot refill failed: %s", type(exc).__name__)
            self._on_snapshot.deliver(code, quotes)
            return result.outcome
        finally:
            self._on_snapshot.end(code, instruments)

    def unsubscribe(self, code: int, instruments: Sequence[Instrument]) -> RequestOutcome:
        token = self._require_token()
        server_code = self.flavour.server_code(code)
        if self.flavour.binary and server_code == TOUCHLINE_CODE and self._wants is not None:
            # On the binary API 1501 serves both 1501 and LTP (1512) wants: keep it on the
            # server while the other one is still wanted.
            other = LTP_CODE if code == TOUCHLINE_CODE else TOUCHLINE_CODE
            wants = self._wants
            instruments = [(seg, iid) for seg, iid in instruments if not wants(seg, iid, other)]
            if not instruments:
                return RequestOutcome.DONE
        return self._io.run(
            self._rest.unsubscribe(token, server_code, instruments),
            timeout=self.config.request_timeout + 1,
        )

    def list_subscriptions(self) -> frozenset[SubKey] | None:
        if not self.config.list_subscriptions:
            return None
        token = self._require_token()
        return self._io.run(self._list(token), timeout=2 * self.config.request_timeout + 2)

    async def _list(self, token: FeedToken) -> frozenset[SubKey] | None:
        # One GET per message code (the route takes one code); concurrently, so a new
        # session costs one round trip, not eight.
        answers = await asyncio.gather(
            *(self._rest.subscription_list(token, code) for code in DATA_CODES)
        )
        if all(a is None for a in answers):
            return None
        # What is readable is used; a code the server would not list stays unknown (no worse
        # than not listing at all).
        return frozenset(
            (seg, iid, code)
            for code, listed in zip(DATA_CODES, answers, strict=True)
            for seg, iid in listed or ()
        )

    def release(self, code: int, instruments: Sequence[Instrument], timeout: float) -> None:
        token = self._require_token()
        self._io.run(
            self._release(token, code, instruments, timeout),
            timeout=timeout + 1.0,  # the coroutine keeps the bound itself (clean cancel)
            while_closing=True,  # shutdown has aborted the other calls; this one is its own
        )

    async def _release(
        self, token: FeedToken, code: int, instruments: Sequence[Instrument], timeout: float
    ) -> None:
        try:
            server_code = self.flavour.server_code(code)  # binary: LTP wants ride on 1501
            await asyncio.wait_for(self._rest.unsubscribe(token, server_code, instruments), timeout)
        except TimeoutError:
            raise TransportFailure("unsubscribe at shutdown timed out") from None

    # -- internals (I/O thread) -----------------------------------------------------------
    def _require_token(self) -> FeedToken:
        if self._token is None or self._sio is None:
            raise TransportFailure("not connected")
        return self._token

    async def _close(self, sio: DialectClient) -> None:
        eio_log = getattr(getattr(sio, "eio", None), "logger", None)
        if isinstance(eio_log, QuietCloseLogger):
            eio_log.closing = True  # our own close: the server's close frame is no warning
        try:
            await asyncio.wait_for(sio.disconnect(), 3.0)
        except Exception as exc:
            log.debug("disconnect: %s", type(exc).__name__)
        try:
            await sio.shutdown()
        except Exception as exc:
            log.debug("shutdown: %s", type(exc).__name__)

    async def _open(self, token: FeedToken, gen: int) -> DialectClient:
        cfg = self.config
        self._on_snapshot.connecting()  # a new socket: partial-mode state starts afresh
        # python-socketio 5 with our Engine.IO seam: Engine.IO 3 where the server speaks it.
        sio = DialectClient(
            eio=cfg.eio,  # type: ignore[arg-type]  # checked by its rule: "auto", 3 or 4
            fast_path=cfg.socketio_fast_path,
            reconnection=False,
            logger=SOCKETIO_LOG,
            engineio_logger=QuietCloseLogger(ENGINEIO_LOG),
            ssl_verify=cfg.verify_tls,
            handle_sigint=False,
        )
        joined: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        opening = [True]  # while True, lifecycle events answer the open, not the machine
        self._bind(sio, gen, joined, opening)
        query = urlencode(
            {
                "token": token.value,
                "userID": token.user_id,
                "publishFormat": self.flavour.publish_format,
                "broadcastMode": BroadcastMode(cfg.broadcast_mode).value,
            }
        )
        url = f"{cfg.base_url}/?{query}"
        try:
            # connect_timeout bounds the whole connect (TCP, TLS, upgrade, namespace): the
            # websocket connect has no bound of its own, and a black-holed address hangs.
            await asyncio.wait_for(
                sio.connect(
                    url,
                    transports=["websocket"],
                    socketio_path=self.flavour.socket_path,
                    wait_timeout=cfg.connect_timeout,
                ),
                cfg.connect_timeout,
            )
        except socketio.exceptions.ConnectionError as exc:
            await self._discard(sio)
            text = REDACTOR(str(exc))
            if _looks_like_token_error(text):
                raise TokenRejected(f"socket handshake refused: {text[:200]}") from None
            raise await _connect_failure(exc, cfg, text) from None
        except (asyncio.CancelledError, Exception) as exc:
            await self._discard(sio)
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise await _connect_failure(exc, cfg, type(exc).__name__) from None
        if cfg.require_joined:
            try:
                await asyncio.wait_for(joined, cfg.join_timeout)
            except TimeoutError:
                await self._discard(sio)
                raise TransportFailure(
                    "no `joined` event from the server", cause=Cause.HANDSHAKE
                ) from None
            except BaseException:
                await self._discard(sio)
                raise
        elif joined.done() and joined.exception() is not None:
            await self._discard(sio)
            raise joined.exception()  # type: ignore[misc]
        opening[0] = False
        if gen != self.generation:  # closed while we were connecting
            await self._discard(sio)
            raise TransportFailure("connection superseded")
        return sio

    async def _discard(self, sio: DialectClient) -> None:
        try:
            await self._close(sio)
        except Exception as exc:
            log.debug("discard: %s", type(exc).__name__)

    def _bind(
        self,
        sio: DialectClient,
        gen: int,
        joined: asyncio.Future[None],
        opening: list[bool],
    ) -> None:
        on_data = self._on_data
        fast = sio.fast_path  # data events skip python-socketio's generic path (dialect.py)

        def data_handler(name: str) -> Callable[[object], None]:
            def handler(data: object) -> None:
                self.last_message = time.monotonic()
                on_data(name, data)

            return handler

        for code in DATA_CODES:
            for mode in BroadcastMode:
                name = event_name(code, mode)
                handler = data_handler(name)
                sio.on(name, handler)
                if fast is not None:
                    fast.events[name] = handler

        def catch_all(event: str, data: object = None) -> None:
            self.last_message = time.monotonic()
            on_data(event, data)

        sio.on("*", catch_all)

        on_binary = self._on_binary
        if self.flavour.binary and on_binary is not None:

            def binary_handler(data: object = None) -> None:
                self.last_message = time.monotonic()
                on_binary(data)

            sio.on(BINARY_EVENT, binary_handler)
            if fast is not None:
                fast.bind_binary(BINARY_EVENT, binary_handler)

        def on_joined(data: object = None) -> None:
            if not joined.done():
                joined.set_result(None)

        def on_error(data: object = None) -> None:
            text = REDACTOR(_text(data))
            if opening[0]:
                if joined.done():
                    return
                exc: Exception = (
                    TokenRejected(f"socket refused the token: {text[:200]}")
                    if _looks_like_token_error(text)
                    else TransportFailure(f"socket error: {text[:200]}", cause=Cause.HANDSHAKE)
                )
                joined.set_exception(exc)
                return
            kind = LinkKind.TOKEN_REJECTED if _looks_like_token_error(text) else LinkKind.LOST
            self._on_link(gen, LinkEvent(kind, f"socket error: {text[:200]}"))

        def on_logout(data: object = None) -> None:
            # The market-data session ended (another login replaced it).
            self._on_link(gen, LinkEvent(LinkKind.TOKEN_REJECTED, "logout event: session replaced"))

        def on_disconnect(reason: object = None) -> None:
            self.disconnects += 1
            why = str(reason or "unknown").replace(" ", "_")
            if opening[0]:
                if not joined.done():
                    joined.set_exception(
                        TransportFailure(
                            f"disconnected while opening ({why})", cause=Cause.HANDSHAKE
                        )
                    )
                return
            self._on_link(gen, LinkEvent(LinkKind.LOST, why))

        sio.on("joined", on_joined)
        sio.on("error", on_error)
        sio.on("logout", on_logout)
        sio.on("disconnect", on_disconnect)


async def _connect_failure(exc: BaseException, cfg: AdapterConfig, text: str) -> TransportFailure:
    """The failure of a socket connect, its cause named (transport/causes.py). python-socketio
    says only ``Connection error``: the detail comes from the chain, the text where that has
    nothing better (a handshake the server refused)."""
    found = await diagnose(exc, cfg.base_url, cfg.connect_timeout)
    detail = text[:200] if found.cause in (Cause.HANDSHAKE, Cause.OTHER) else found.detail
    return TransportFailure(f"socket connect failed: {detail}", cause=found.cause)


def _text(data: object) -> str:
    if isinstance(data, str):
        return data
    try:
        return json.dumps(data, default=str)
    except Exception:
        return repr(data)
