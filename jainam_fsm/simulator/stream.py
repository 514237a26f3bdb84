"""The socket side of the simulator, whatever the Engine.IO dialect: admission, the emit loop,
server-sent events (``joined``, ``error``, ``logout``, malformed payloads), disconnects.

A dialect server (:mod:`.eio4` or :mod:`.eio3`) owns the wire; for each socket it hands the
:class:`Stream` a :class:`Link` (send a :class:`~.frames.Frame`, close). Everything else -- which
socket gets which tick, faults, counters -- is decided here, once for both dialects.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from jainam_fsm.simulator.binary_stream import (
    BinaryStream,
    binary_frame,
    joined_payload,
    malformed_event,
)
from jainam_fsm.simulator.config import BinaryKnobs, SimulatorConfig
from jainam_fsm.simulator.emitted import EmittedLog
from jainam_fsm.simulator.faults import FaultSwitches
from jainam_fsm.simulator.frames import Frame, data_frame, event_frame
from jainam_fsm.simulator.market import STREAMED_CODES, Market
from jainam_fsm.simulator.payloads import render_full, render_partial
from jainam_fsm.simulator.sessions import Instrument, Session, SessionBook
from jainam_fsm.simulator.stats import SimStats
from jainam_fsm.simulator.validation import envelope
from jainam_fsm.xts.codes import BroadcastMode, event_name
from jainam_fsm.xts.ticks import Tick

__all__ = ["MALFORMED_KINDS", "Conn", "Link", "Stream"]

log = logging.getLogger("jainam_fsm.simulator")

#: Malformed payloads sent by :meth:`Stream.send_malformed`, cycled in this order.
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

Query = dict[str, list[str]]


class Link(Protocol):
    """One socket as its dialect server exposes it."""

    async def send(self, frame: Frame) -> None:
        """Queue ``frame`` on this socket (in order with everything sent before)."""

    async def close(self) -> None:
        """Clean server-side disconnect (the client sees ``server disconnect``)."""


@dataclass(eq=False)
class Conn:
    """One admitted socket."""

    sid: str
    session: Session
    partial: bool
    link: Link
    #: ``link.send``, bound once: the emit loop calls it per event
    send: Callable[[Frame], Awaitable[None]]
    #: last tick sent per (code, instrument), for partial mode
    previous: dict[tuple[int, Instrument], Tick] = field(default_factory=dict)


class Stream:
    """Sockets and what they receive; see the module docstring."""

    def __init__(
        self,
        config: SimulatorConfig,
        book: SessionBook,
        market: Market,
        faults: FaultSwitches,
        stats: SimStats,
    ) -> None:
        self.config = config
        self._book = book
        self._market = market
        self._faults = faults
        self._stats = stats
        self.conns: dict[str, Conn] = {}
        #: every tick published, per (segment, instrument, code); bounded by emitted_cap
        self.emitted = EmittedLog(config.emitted_cap)
        #: the binary flavour's packet maker (None on the JSON flavour)
        self.binary: BinaryStream | None = (
            BinaryStream(config.seed, config.binary, self.emitted)
            if config.api == "binary"
            else None
        )
        #: called with each data frame when it is first built (benchmarks time emission)
        self.frame_observer: Callable[[Frame], None] | None = None

    # -- admission -----------------------------------------------------------------------------

    async def admit(self, sid: str, link: Link, query: Query) -> bool:
        """Check a new socket's query (token, userID, publishFormat, broadcastMode).

        Accepted: ``joined`` is sent and the socket registered; returns True. Refused: an
        ``error`` event is sent and False returned; the caller then disconnects it.
        """

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
        # The binary endpoint ignores publishFormat: JSON-format clients get binary [PYB], [OA].
        if problem is None and fmt.upper() != "JSON" and self.binary is None:
            problem = ("e-app-0001", "publishFormat not supported by the simulator")
        if problem is None and mode_text not in ("full", "partial"):
            problem = ("e-app-0001", "Invalid broadcastMode")
        if problem is not None or session is None:
            self._stats.c["socket_rejects"] += 1
            code, text = problem or ("e-session-0007", "Invalid Token")
            await link.send(event_frame("error", json.dumps(envelope("error", code, text, {}))))
            return False
        mode = BroadcastMode.PARTIAL if mode_text == "partial" else BroadcastMode.FULL
        joined: object = {
            "userID": session.user.user_id,
            "socketID": sid,
            "broadcastMode": mode.value,
        }
        # `joined` is queued before the socket is registered, so no data event overtakes it.
        # The binary server sends an object [NET-LOG22]; the JSON one a string.
        joined = joined_payload(sid) if self.binary is not None else json.dumps(joined)
        await link.send(event_frame("joined", joined))
        conn = Conn(sid, session, mode_text == "partial", link, link.send)
        self.conns[sid] = conn
        session.sids.add(sid)
        self._stats.c["socket_connects"] += 1
        return True

    def dropped(self, sid: str, reason: str) -> None:
        """The dialect server lost socket ``sid`` (any reason)."""
        conn = self.conns.pop(sid, None)
        if conn is None:
            return
        conn.session.sids.discard(sid)
        self._stats.c["socket_disconnects"] += 1
        self._stats.disconnect_reasons[reason] += 1
        if reason == "ping timeout":
            self._stats.c["ping_timeouts"] += 1

    # -- server-sent events ----------------------------------------------------------------------

    async def end_session_sockets(self, session: Session, why: str) -> None:
        """A session ended: tell its sockets (``logout`` + disconnect) or leave them mute."""
        if self.config.on_session_end == "silent":
            return
        frame = event_frame("logout", json.dumps(envelope("success", "s-session-logout", why, {})))
        for sid in list(session.sids):
            conn = self.conns.get(sid)
            if conn is not None:
                self._stats.c["logout_events"] += 1
                await conn.send(frame)
                await conn.link.close()

    async def disconnect_all(self) -> int:
        """Clean server-side disconnect of every socket."""
        conns = list(self.conns.values())
        for conn in conns:
            await conn.link.close()
        self._stats.c["server_disconnects"] += len(conns)
        return len(conns)

    async def broadcast(self, event: str, data: object) -> int:
        """Send one event (any python-socketio-encodable data, bytes included) to every socket
        of a live session. Returns the number of sockets."""
        frame = event_frame(event, data)
        n = 0
        for conn in list(self.conns.values()):
            if not conn.session.ended:
                await conn.send(frame)
                n += 1
        return n

    @property
    def binary_knobs(self) -> BinaryKnobs:
        """The binary flavour's knobs in force (the configured ones on the JSON flavour)."""
        return self.binary.knobs if self.binary is not None else self.config.binary

    def set_binary_knobs(self, knobs: BinaryKnobs) -> None:
        """Use ``knobs`` from the next emission step on (binary flavour only)."""
        if self.binary is None:
            raise RuntimeError("binary knobs apply to the binary flavour (api='binary') only")
        self.binary.knobs = knobs

    async def _send_corrupt(self, conn: Conn, count: int) -> int:
        """``count`` corrupt binary packets, one per event, kinds cycled (binary flavour)."""
        subs = [i for c, m in conn.session.subscriptions.items() for i in m if c in STREAMED_CODES]
        inst = subs[0] if subs else (1, 22)
        tick = self._market.walk(inst, time.time()).tick(1501)
        for n in range(count):
            kind, data = malformed_event(n, tick, self.binary_knobs.layout)
            self.emitted.record_corrupt(kind)
            await conn.send(binary_frame(data))
        return count

    async def send_malformed(self, count: int = 1) -> int:
        """Send ``count`` malformed payloads to every connected socket of a live session, on a
        data event it listens to (its first subscribed code, else 1501); on the binary flavour,
        corrupt ``xts-binary-packet`` events. Returns frames sent."""
        sent = 0
        for conn in list(self.conns.values()):
            session = conn.session
            if session.ended:
                continue
            if self.binary is not None:
                sent += await self._send_corrupt(conn, count)
                continue
            codes = [c for c in session.subscriptions if c in STREAMED_CODES] or [1501]
            mode = BroadcastMode.PARTIAL if conn.partial else BroadcastMode.FULL
            event = event_name(codes[0], mode)
            for n in range(count):
                _, payload = MALFORMED_KINDS[n % len(MALFORMED_KINDS)]
                await conn.send(event_frame(event, payload))
                sent += 1
        self._stats.c["malformed_sent"] += sent
        return sent

    def forget_sent(self, session: Session, code: int, instruments: Iterable[Instrument]) -> None:
        """The next partial packet of these instruments must be complete again."""
        for sid in session.sids:
            conn = self.conns.get(sid)
            if conn is not None:
                for inst in instruments:
                    conn.previous.pop((code, inst), None)

    # -- emission ------------------------------------------------------------------------------

    async def run(self) -> None:
        """The emit loop: every ``emit_interval``, the due price-walk steps, sent together."""
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
                self._stats.c["emit_errors"] += 1
                log.exception("simulator emit batch failed")

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
        faults = self._faults
        for _ in range(steps):
            for w in walks:
                w.step(now)
            if not targets or faults.is_stalled() or faults.down:
                continue
            await self._emit_step(targets, now)

    async def _emit_step(self, targets: list[Session], now: float) -> None:
        """One step of every walk, to every subscribed socket of ``targets``."""
        conns = self.conns
        by_instrument = self._stats.emitted_by_instrument
        observe = self.frame_observer
        ticks: dict[tuple[int, Instrument], Tick] = {}
        fulls: dict[tuple[int, Instrument], Frame] = {}
        sent = 0
        binary = self.binary
        record = self.emitted.record
        # Binary flavour: a socket's due ticks are collected here, then cut into events.
        due: dict[str, list[tuple[int, Tick]]] = {}
        if binary is not None:
            binary.begin_step()
        for session in targets:
            subs = session.subscriptions
            plan = [(c, list(members)) for c, members in subs.items() if c in STREAMED_CODES]
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
                            tick = ticks[key] = self._market.walk(inst, now).tick(code)
                            if binary is None:
                                record(tick)
                        if binary is not None:
                            due.setdefault(sid, []).append((code, tick))
                            by_instrument[inst] += 1
                            continue
                        if conn.partial:
                            text = render_partial(tick, conn.previous.get(key))
                            frame = data_frame(ev_part, text)
                            conn.previous[key] = tick
                        else:
                            cached = fulls.get(key)
                            if cached is None:
                                cached = fulls[key] = data_frame(ev_full, render_full(tick))
                                if observe is not None:
                                    observe(cached)
                            frame = cached
                        await conn.send(frame)
                        by_instrument[inst] += 1
                        sent += 1
                        if sent % 256 == 0:
                            await asyncio.sleep(0)  # let writers and pings run
        if binary is not None:
            sent += await self._emit_binary(binary, due)
        self._stats.events_emitted += sent

    async def _emit_binary(
        self, binary: BinaryStream, due: dict[str, list[tuple[int, Tick]]]
    ) -> int:
        """Send each socket its step's ticks as binary events (candles as JSON strings)."""
        sent = 0
        for sid, items in due.items():
            conn = self.conns.get(sid)
            if conn is None:
                continue
            for out in binary.events(items, partial=conn.partial, previous=conn.previous):
                if isinstance(out.payload, bytes):
                    await conn.send(binary_frame(out.payload))
                else:
                    await conn.send(data_frame(out.event, out.payload))
                sent += 1
                if sent % 256 == 0:
                    await asyncio.sleep(0)  # let writers and pings run
        return sent
