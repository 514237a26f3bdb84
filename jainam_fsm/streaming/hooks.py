"""The consumer's callbacks (KiteTicker's names) and how they are called.

Ticks: ``on_ticks(list[Tick])`` is called once per burst -- everything the delivery thread
found queued, in arrival order -- and ``on_tick(tick)`` once per tick; either, both or neither
may be given. Market-status messages go to ``on_status``.

Lifecycle hooks come from the lifecycle's own telemetry (:class:`HookTee` watches the events the
core emits; the core knows nothing of them):

- ``on_connect()``: the machine enters ``connected`` (the socket is open; the subscriptions
  are being replayed: ticks follow, and ``wait_ready()`` tells when all are in place), as
  KiteTicker's ``on_connect`` comes when its socket opens;
- ``on_close(reason)``: the machine leaves ``connected`` after an ``on_connect`` (once per
  connected period; also at ``shutdown()``, reason ``"shutdown() called"``);
- ``on_error(error)``: a failed step (a transition into ``backing_off``) or an internal error,
  with its one-line reason (never a secret);
- ``on_reconnect(attempt, delay)``: ``reconnect.scheduled``, attempt ``attempt`` in ``delay`` s;
- ``on_noreconnect(reason)``: ``lifecycle.exhausted``, reconnecting gave up.

Where they run: hooks are queued as control items on the delivery queue, so they run on the
delivery thread, **in order with the ticks** (every tick queued before a hook was posted is
handed out before it), never on the supervisor thread (a slow hook cannot delay a reconnect) and are
never evicted by a full queue. With ``delivery="inline"`` they run on the I/O thread, in order
with the ticks as well. (``on_exhausted`` and ``on_refused`` keep running on the supervisor
thread, as before.)

A callback that raises is counted per kind in ``stats()["callback_errors_by_kind"]`` and logged
once per (kind, exception type); one that takes longer than :data:`SLOW_CALLBACK` seconds is
counted in ``callbacks_slow_by_kind`` and logged once per kind. Neither stops the delivery
thread, and neither stalls the socket: the queue is bounded, and what a slow consumer could not
take is dropped oldest-first (``ticks_dropped``).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from jainam_fsm.core.machine import State
from jainam_fsm.core.ports import TelemetrySink
from jainam_fsm.streaming.delivery import Control
from jainam_fsm.xts.ticks import MarketStatus, Tick, _stamp_symbol

log = logging.getLogger("jainam_fsm.streaming")

#: seconds after which one callback call counts as slow
SLOW_CALLBACK = 1.0

TicksCallback = Callable[[list[Tick]], None]
_code = attrgetter("message_code")


@dataclass(frozen=True, slots=True)
class Callbacks:
    """The consumer's callbacks; every one is optional."""

    on_ticks: TicksCallback | None = None
    on_tick: Callable[[Tick], None] | None = None
    on_status: Callable[[MarketStatus], None] | None = None
    on_connect: Callable[[], None] | None = None
    on_close: Callable[[str], None] | None = None
    on_error: Callable[[str], None] | None = None
    on_reconnect: Callable[[int, float], None] | None = None
    on_noreconnect: Callable[[str], None] | None = None


class Hook(Control):
    """A lifecycle hook call waiting in the delivery queue."""

    __slots__ = ("args", "name")

    def __init__(self, name: str, *args: Any) -> None:
        self.name = name
        self.args = args

    def __repr__(self) -> str:
        return f"Hook({self.name!r}, {', '.join(map(repr, self.args))})"


class HookTee:
    """A :class:`~jainam_fsm.core.ports.TelemetrySink` that passes every event on to ``sink``
    and turns the lifecycle's events into :class:`Hook` items for ``post``. Runs on the
    supervisor thread; ``post`` only queues."""

    def __init__(self, sink: TelemetrySink, post: Callable[[Hook], None], wanted: set[str]) -> None:
        self.sink = sink
        self._post = post
        self._wanted = wanted
        self._open = False  # an on_connect was posted and no on_close since
        #: counts for stats()/metrics, read by any thread (written here only)
        self.reconnects = 0
        self.replays = 0
        self.last_replay_seconds: float | None = None

    def emit(self, event: str, level: int, fields: dict[str, object]) -> None:
        try:
            self.sink.emit(event, level, fields)
        finally:
            self._observe(event, fields)

    def _observe(self, event: str, fields: dict[str, object]) -> None:
        if event == "replay":
            self.replays += 1
            ms = fields.get("duration_ms")
            if isinstance(ms, int | float):
                self.last_replay_seconds = ms / 1000
        elif event == "lifecycle.transition":
            reason = str(fields.get("reason") or fields.get("trigger") or "")
            if fields.get("dest") == State.CONNECTED != fields.get("source") and not self._open:
                self._open = True
                self._send("on_connect")
            leaves = fields.get("source") == State.CONNECTED != fields.get("dest")
            if leaves and self._open:
                self._open = False
                self._send("on_close", reason)
            if fields.get("dest") == State.BACKING_OFF:
                self._send("on_error", reason)
        elif event == "reconnect.scheduled":
            self.reconnects += 1
            attempt = fields.get("attempt")
            delay = fields.get("delay")
            self._send(
                "on_reconnect",
                int(attempt) if isinstance(attempt, int) else 0,
                float(delay) if isinstance(delay, int | float) else 0.0,
            )
        elif event == "lifecycle.exhausted":
            self._send("on_noreconnect", str(fields.get("reason") or ""))
        elif event == "lifecycle.internal_error":
            where, error = fields.get("where"), fields.get("error")
            self._send("on_error", f"internal error in {where}: {error}")

    def _send(self, name: str, *args: Any) -> None:
        if self._wanted and name in self._wanted:
            self._post(Hook(name, *args))


class Dispatcher:
    """The delivery thread's side: called with each burst, in order (``batched``)."""

    def __init__(
        self,
        callbacks: Callbacks,
        wants: Callable[[int, int, int], bool],
        closed: Callable[[], bool],
        *,
        symbols: dict[tuple[int, int], str] | None = None,
    ) -> None:
        self.callbacks = callbacks
        self._wants = wants
        self._closed = closed
        #: (segment, id) -> "EXCHANGE:SYMBOL", stamped on wanted ticks (instruments.wants)
        self._symbols = symbols if symbols is not None else {}
        #: ticks queued before an unsubscribe, not handed out after it (delivery thread only)
        self.discarded_unsubscribed = 0
        #: ticks handed to the consumer, by message code (delivery thread only)
        self.by_code: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.slow: Counter[str] = Counter()
        self._logged: set[tuple[str, str]] = set()

    def wanted_hooks(self) -> set[str]:
        cb = self.callbacks
        names = ("on_connect", "on_close", "on_error", "on_reconnect", "on_noreconnect")
        return {n for n in names if getattr(cb, n) is not None}

    def __call__(self, batch: list[Any]) -> None:
        closed = self._closed
        wants = self._wants
        symbols = self._symbols
        run: list[Tick] = []
        for item in batch:
            if type(item) is Tick:
                # Checked again at delivery: a tick queued before unsubscribe() returned must
                # not reach the consumer after it.
                if wants(item.exchange_segment, item.instrument_id, item.message_code):
                    if symbols:  # named instruments: the tick is not handed out yet
                        _stamp_symbol(
                            item, symbols.get((item.exchange_segment, item.instrument_id))
                        )
                    run.append(item)
                else:
                    self.discarded_unsubscribed += 1
                continue
            if run:
                if not closed():
                    self._ticks(run)
                run = []
            if isinstance(item, Hook):
                self._call(item.name, getattr(self.callbacks, item.name), *item.args)
            elif isinstance(item, MarketStatus) and not closed():
                self._call("on_status", self.callbacks.on_status, item)
        if run and not closed():
            self._ticks(run)

    def _ticks(self, run: list[Tick]) -> None:
        self.by_code.update(map(_code, run))  # C-level counting: ~50 ns per tick
        cb = self.callbacks
        if cb.on_ticks is not None:
            self._call("on_ticks", cb.on_ticks, run)
        on_tick = cb.on_tick
        if on_tick is not None:
            started = time.monotonic()
            closed, wants = self._closed, self._wants
            for tick in run:
                if closed():
                    return  # shut down by this very callback: the rest is dropped
                if not wants(tick.exchange_segment, tick.instrument_id, tick.message_code):
                    # unsubscribed while an earlier tick of this burst was being handled
                    self.discarded_unsubscribed += 1
                    continue
                try:
                    on_tick(tick)
                except Exception as exc:
                    self._raised("on_tick", exc)
            self._timed("on_tick", started)

    def _call(self, kind: str, fn: Callable[..., object] | None, *args: Any) -> None:
        if fn is None:
            return
        started = time.monotonic()
        try:
            fn(*args)
        except Exception as exc:
            self._raised(kind, exc)
        self._timed(kind, started)

    def _timed(self, kind: str, started: float) -> None:
        took = time.monotonic() - started
        if took > SLOW_CALLBACK:
            self.slow[kind] += 1
            if self.slow[kind] == 1:
                log.warning(
                    "%s took %.1f s (ticks wait meanwhile; a full queue drops the oldest); "
                    "counted in callbacks_slow_by_kind",
                    kind,
                    took,
                )

    def _raised(self, kind: str, exc: Exception) -> None:
        self.errors[kind] += 1
        key = (kind, type(exc).__name__)
        if key not in self._logged:
            self._logged.add(key)
            log.error(
                "%s raised %s (logged once per kind and exception type; counted in "
                "callback_errors_by_kind)",
                kind,
                type(exc).__name__,
                exc_info=exc,
            )
