"""The streaming adapter: the lifecycle machine driving a real XTS connection.

Threads (all started by :meth:`StreamingAdapter.connect`, all joined by
:meth:`StreamingAdapter.shutdown`):

* ``jainam-supervisor`` owns the machine; every lifecycle action runs there, in order.
* ``jainam-io`` runs the asyncio loop: the Socket.IO client, REST calls, tick decoding.
* ``jainam-delivery`` calls your callbacks, in arrival order, from a bounded queue: ticks in
  bursts (``on_ticks``) or one by one (``on_tick``), and the lifecycle hooks (``on_connect``,
  ``on_close``, ...) in order with them (:mod:`jainam_fsm.streaming.hooks`).

Ticks never go through the machine: I/O thread -> :class:`~jainam_fsm.streaming.ingest.Ingest`
(decode, filter) -> delivery queue.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable, Iterable
from typing import TYPE_CHECKING, Any

from jainam_fsm.core.lifecycle import Lifecycle
from jainam_fsm.core.machine import State, Trigger
from jainam_fsm.core.ports import LinkEvent, Readiness, RefusalHook, TelemetrySink, TokenSource
from jainam_fsm.core.registry import DEFAULT_CONSUMER, SubscriptionRegistry
from jainam_fsm.errors import JainamError
from jainam_fsm.instruments.modes import Mode
from jainam_fsm.streaming import stats as _stats
from jainam_fsm.streaming import wiring
from jainam_fsm.streaming.config import AdapterConfig
from jainam_fsm.streaming.hooks import Callbacks, TicksCallback
from jainam_fsm.telemetry import REDACTOR, LoggingTelemetry
from jainam_fsm.transport.rest import LoginResult
from jainam_fsm.xts.ticks import MarketStatus, Tick

if TYPE_CHECKING:  # imported when used: instruments.master imports jainam_fsm.integrations,
    # whose package imports this module
    from jainam_fsm.instruments.master import InstrumentMaster

log = logging.getLogger("jainam_fsm.streaming")

TickCallback = Callable[[Tick], None]
StatusCallback = Callable[[MarketStatus], None]
TokenSourceFactory = Callable[[Callable[[], LoginResult], TelemetrySink], TokenSource]


class AdapterShutDown(JainamError):
    """The adapter was shut down; create a new one to stream again."""


class StreamingAdapter:
    """A resilient XTS market-data stream. Every public method is thread-safe.

    :param config: connection settings (:class:`AdapterConfig`, or ``AdapterConfig.from_env()``).
    :param on_tick: called with each :class:`~jainam_fsm.xts.ticks.Tick`, in order, on the
        delivery thread. It may call any method of the adapter, including ``shutdown``.
    :param on_ticks: called with a list of ticks per burst (everything that arrived since its
        last call, in order), on the delivery thread: the cheapest way to consume ticks.
    :param on_connect: ``on_connect()`` when a socket is up (entering ``connected``; the
        subscriptions are then replayed and their ticks follow).
    :param on_close: ``on_close(reason)`` when a connection that was reported by
        ``on_connect`` ends (also at ``shutdown()``).
    :param on_error: ``on_error(error)`` with the one-line reason of a failed step.
    :param on_reconnect: ``on_reconnect(attempt, delay)`` when a reconnect is scheduled.
    :param on_noreconnect: ``on_noreconnect(reason)`` when reconnecting gives up (the
        delivery-thread twin of ``on_exhausted``). The hooks run on the delivery thread, in
        order with the ticks (see :mod:`jainam_fsm.streaming.hooks`).
    :param token_source: where feed tokens come from. Default: the SQLAlchemy token store
        (``JAINAM_DATABASE_URL``, ``JAINAM_TOKEN_PEPPER``), so a stored token is reused.
    :param on_exhausted: called with the reason when reconnecting gives up, on the supervisor
        thread (kept for compatibility; ``on_noreconnect`` is the same alert on the delivery
        thread).
    :param telemetry: the structured event sink (default: stdlib logging under ``jainam_fsm``).
    :param on_refused: called with a :class:`~jainam_fsm.core.ports.Refusal` when the server
        refuses subscriptions (e.g. its limit), on the supervisor thread: return quickly.
    :param instruments: the instrument master names are resolved in, and ticks named from
        (default: the store's cache, loaded on the first name; docs/instruments.md).
    :param standby: a PostgreSQL URL (or :class:`~jainam_fsm.standby.StandbyConfig`): hot
        standby. Only the process holding the lock of (server root, app key) streams and
        delivers ticks; the others wait in ``idle`` and take over (:mod:`jainam_fsm.standby`,
        ``docs/operations.md``).
    """

    def __init__(
        self,
        config: AdapterConfig,
        on_tick: TickCallback | None = None,
        *,
        token_source: TokenSource | TokenSourceFactory | None = None,
        on_exhausted: Callable[[str], None] | None = None,
        on_status: StatusCallback | None = None,
        telemetry: TelemetrySink | None = None,
        on_refused: RefusalHook | None = None,
        on_ticks: TicksCallback | None = None,
        on_connect: Callable[[], None] | None = None,
        on_close: Callable[[str], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_reconnect: Callable[[int, float], None] | None = None,
        on_noreconnect: Callable[[str], None] | None = None,
        instruments: InstrumentMaster | None = None,
        standby: Any = None,
    ) -> None:
        self.config = config
        REDACTOR.add(config.secret_key)
        self.callbacks = Callbacks(
            on_ticks=on_ticks,
            on_tick=on_tick,
            on_status=on_status,
            on_connect=on_connect,
            on_close=on_close,
            on_error=on_error,
            on_reconnect=on_reconnect,
            on_noreconnect=on_noreconnect,
        )
        self._on_exhausted_hook = on_exhausted
        self._on_refused = on_refused
        self.telemetry: TelemetrySink = telemetry or LoggingTelemetry()
        self.registry = SubscriptionRegistry()
        self._wants = wiring.names(instruments)
        self._standby: Any = wiring.standby_link(
            standby,
            config,
            registry=self.registry,
            telemetry=self.telemetry,
            post=lambda action: self._supervisor.post(action),  # noqa: PLW0108 (made below)
            start=self._connect_action,
            step_down=self._step_down_action,
        )
        if self._standby is not None:
            # Ticks and statuses reach the consumer only while this process leads.
            self.callbacks = self._standby.gate(self.callbacks)
        self._token_source_arg = token_source
        self._lock = threading.Lock()  # guards start/stop of the threads only
        self._started = False
        self._closed = False
        self._shutdown_done = threading.Event()
        self._counts = _stats.new_counts()
        self._parts = parts = wiring.build_parts(
            config,
            callbacks=self.callbacks,
            registry=self.registry,
            telemetry=self.telemetry,
            symbols=self._wants.symbols,
            closed=lambda: self._closed,
            on_link=self._on_link,
        )
        # The parts the adapter drives itself (the others are reached through self._parts).
        self._io, self._supervisor, self._rest = parts.io, parts.supervisor, parts.rest
        self._delivery, self._transport = parts.delivery, parts.transport
        self._flavour = parts.flavour
        self._sync_pending = False
        self._tokens: TokenSource | None = None
        self._lifecycle: Lifecycle | None = None
        self._store: Any = None

    # ------------------------------------------------------------------ public API

    def connect(self) -> None:
        """Start streaming (from ``idle``) or revive (from ``exhausted``). Returns at once."""
        with self._lock:
            if self._closed:
                raise AdapterShutDown("this adapter was shut down; create a new one")
            if not self._started:
                self._start_threads()
        if self._standby is not None:
            self._standby.start()  # a follower waits; the leader's start comes from the lease
        self._supervisor.post(self._connect_action)

    def subscribe(
        self,
        instrument: int | str | tuple[int, int] | Iterable[str | tuple[int, int]],
        instrument_id: int | None = None,
        code: int | None = None,
        consumer: Hashable = DEFAULT_CONSUMER,
        *,
        mode: Mode | str | None = None,
    ) -> bool:
        """Want ticks for instruments. Applied at once if connected, else on connect. Returns
        True if any subscription is new (no other consumer had it).

        ``subscribe(1, 2885)`` / ``subscribe(1, 2885, 1502)``: segment, id, code (default 1501).
        ``subscribe("NSE:RELIANCE", mode=Mode.QUOTE)``, ``subscribe(["NSE:INFY", (1, 22)],
        mode="depth")``: names (the instrument master, offline), ``SEG:ID`` or keys, with a
        :class:`~jainam_fsm.instruments.Mode` mapped to this API flavour's code (default
        QUOTE). An unknown name raises :class:`~jainam_fsm.instruments.UnknownInstrument`
        listing close matches (docs/instruments.md)."""
        self._check_open()
        wants = self._wants.expand(instrument, instrument_id, code, mode, api=self._flavour.api)
        new = self._wants.add(self.registry, consumer, wants)
        self._changed(sync=new)
        return new

    def unsubscribe(
        self,
        instrument: int | str | tuple[int, int] | Iterable[str | tuple[int, int]],
        instrument_id: int | None = None,
        code: int | None = None,
        consumer: Hashable = DEFAULT_CONSUMER,
        *,
        mode: Mode | str | None = None,
    ) -> bool:
        """Drop one consumer's wants (same forms as :meth:`subscribe`). The feed stays up; the
        server is told only when no consumer wants an instrument any more (returns True then)."""
        wants = self._wants.expand(instrument, instrument_id, code, mode, api=self._flavour.api)
        gone = self._wants.remove(self.registry, consumer, wants)
        self._changed(sync=gone)
        return gone

    def set_mode(
        self,
        mode: Mode | str,
        instruments: str | tuple[int, int] | Iterable[str | tuple[int, int]],
        consumer: Hashable = DEFAULT_CONSUMER,
    ) -> None:
        """Switch instruments to ``mode`` (KiteTicker's ``set_mode``): each one's previous
        mode-aware subscription of this consumer is replaced by the new mode's code in one
        sync; an instrument not subscribed yet is subscribed."""
        self._check_open()
        wants = self._wants.expand(instruments, None, None, mode, api=self._flavour.api)
        switched = self._wants.switch(self.registry, consumer, wants)
        self._changed(sync=switched)

    def state(self) -> State:
        """The current lifecycle state."""
        lc = self._lifecycle
        if lc is None:
            return State.SHUT_DOWN if self._closed else State.IDLE
        return lc.current

    def stats(self) -> dict[str, Any]:
        """Counters: ticks received/delivered/dropped/filtered, decode errors, reconnects..."""
        return _stats.assemble(
            self._counts,
            state=self.state,
            lifecycle=self._lifecycle,
            registry=self.registry,
            parts=self._parts,
            standby=self._standby,
        )

    def wait_ready(self, timeout: float = 10.0) -> Readiness:
        """Block until connected with every subscription reconciled (or ``timeout``).

        The answer is truthy when ready, as before; ``.partial`` is true when the server
        refused some subscriptions (named in ``.refused``), ``.complete`` when none.
        """

        def done() -> bool:
            lc = self._lifecycle
            return bool(lc is not None and lc.in_sync and self._supervisor.idle())

        if not self._supervisor.wait_until(done, timeout):
            return Readiness(False)
        lc = self._lifecycle
        return lc.readiness() if lc is not None else Readiness(False)

    def wait_state(self, state: State | str, timeout: float = 10.0) -> bool:
        """Block until the machine is in ``state`` (or ``timeout``)."""
        return self._supervisor.wait_until(lambda: self.state() == State(state), timeout)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop everything: socket and HTTP session closed, threads joined, registry cleared.

        Idempotent; works from any state and any thread (also from a tick callback);
        returns at once during a backoff wait.
        """
        with self._lock:
            if self._closed:
                first = False
            else:
                first = True
                self._closed = True
        current = threading.current_thread()
        own_thread = (
            self._supervisor.on_thread()
            or self._delivery.thread is current
            or self._io.thread is current  # inline delivery: callbacks run on the I/O thread
        )
        if first and self._standby is not None:
            self._standby.freeze()  # publish and store nothing more; the lock is kept
        if not first:
            if not own_thread:  # our own threads are what the first caller is joining
                self._shutdown_done.wait(timeout)
            return
        if not self._started:
            self.registry.clear()
            if self._standby is not None:
                self._standby.stop(timeout)
            self._shutdown_done.set()
            return
        self._io.abort_all()  # a port call in flight must not delay us
        self._supervisor.post(self._shutdown_action)
        if own_thread:
            # Called from our own thread: finish in a helper thread, do not join ourselves.
            threading.Thread(target=self._finish_shutdown, args=(timeout,), daemon=True).start()
            return
        self._finish_shutdown(timeout)

    def __enter__(self) -> StreamingAdapter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"StreamingAdapter(base_url={self.config.base_url!r}, state={self.state().value!r})"

    # ------------------------------------------------------------------ internals

    def _check_open(self) -> None:
        if self._closed:
            raise AdapterShutDown("this adapter was shut down; create a new one")

    def _start_threads(self) -> None:
        self._tokens, self._store = wiring.token_source(
            self._token_source_arg, self.config, self._login, self.telemetry
        )
        self._lifecycle = wiring.build_lifecycle(
            self.config,
            self._parts,
            registry=self.registry,
            tokens=self._tokens,
            on_exhausted=self._exhausted,
            on_refused=self._on_refused,
        )
        self._parts.start()
        self._started = True

    def _login(self) -> LoginResult:
        """Blocking login on the I/O loop (the token source calls it under its lock); with
        ``api="auto"`` not yet settled it is also the probe (:mod:`.autoapi`)."""
        result = self._parts.login(self.config)
        REDACTOR.add(result.token.value)
        self._counts["logins"] += 1
        return result

    def _connect_action(self) -> None:
        lc = self._lifecycle
        if self._standby is not None and not self._standby.leading():
            return  # a follower waits in idle (the lease calls this again when it leads)
        if lc is not None and not self._closed:
            lc.connect()  # start, revive, or nothing (the core decides)

    def _step_down_action(self, reason: str) -> None:
        lc = self._lifecycle
        if lc is not None and not self._closed and lc.current is not State.IDLE:
            lc.fire(Trigger.STEP_DOWN, reason=f"standby: {reason}")

    def _changed(self, sync: bool) -> None:
        """After subscribe/unsubscribe/set_mode: tell the standby link (it stores the desired
        set), and reconcile with the server if the wants changed."""
        if self._standby is not None:
            self._standby.changed()
        if sync:
            self._post_sync()

    def _post_sync(self) -> None:
        # Coalesced: a burst of subscribe() calls costs one replay, not one each.
        with self._lock:
            if not self._started or self._closed or self._sync_pending:
                return
            self._sync_pending = True
        self._supervisor.post(self._sync_action)

    def _sync_action(self) -> None:
        with self._lock:
            self._sync_pending = False
        lc = self._lifecycle
        if lc is not None and lc.current is State.CONNECTED:
            lc.sync()

    def _on_link(self, gen: int, event: LinkEvent) -> None:
        """From the I/O thread: the socket went away or the server rejected the token."""

        def action() -> None:
            lc = self._lifecycle
            if lc is None or gen != self._transport.generation or self._closed:
                return  # an older socket, or shutting down
            self._counts[f"link_{event.kind.value}"] += 1
            lc.on_link(event)

        self._supervisor.post(action)

    def _exhausted(self, reason: str) -> None:
        log.critical("market-data stream exhausted: %s", reason)
        if self._on_exhausted_hook is not None:
            self._on_exhausted_hook(reason)

    def _shutdown_action(self) -> None:
        # The machine's shut_down state clears the registry and cancels its timer.
        lc = self._lifecycle
        if lc is not None:
            lc.fire(Trigger.SHUTDOWN, reason="shutdown() called")

    def _finish_shutdown(self, timeout: float) -> None:
        try:
            self._parts.stop(timeout, standby=self._standby, store=self._store)
        finally:
            self._shutdown_done.set()
