"""How a :class:`~jainam_fsm.streaming.adapter.StreamingAdapter` is put together.

The adapter owns the public API and the order of its supervisor actions; this module builds
and connects the collaborators it runs, once, in its constructor and at its first ``connect``:

* :func:`build_parts`: the threads (:class:`~jainam_fsm.streaming.ioloop.IoThread`,
  :class:`~jainam_fsm.streaming.supervisor.Supervisor`), the tick path (ingest -> delivery ->
  dispatcher), the lifecycle hooks' way onto the delivery queue, the REST client, the API
  flavour and its ``api="auto"`` probe, and the transport
  (:class:`~jainam_fsm.streaming.transport.XtsTransport`), as :class:`Parts`.
* :func:`names`: names and modes of the wants (:mod:`jainam_fsm.instruments.wants`).
* :func:`standby_link`: the hot-standby link (:mod:`jainam_fsm.standby`), when asked for.
* :func:`token_source`: where feed tokens come from (the argument, or the token store).
* :func:`build_lifecycle`: the core's :class:`~jainam_fsm.core.lifecycle.Lifecycle` on them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jainam_fsm.core.lifecycle import Lifecycle
from jainam_fsm.core.ports import LinkEvent, RefusalHook, TelemetrySink, TokenSource
from jainam_fsm.core.registry import SubscriptionRegistry
from jainam_fsm.streaming.autoapi import AutoApi
from jainam_fsm.streaming.config import AdapterConfig
from jainam_fsm.streaming.delivery import Delivery
from jainam_fsm.streaming.flavour import Flavour
from jainam_fsm.streaming.hooks import Callbacks, Dispatcher, Hook, HookTee
from jainam_fsm.streaming.ingest import Ingest
from jainam_fsm.streaming.ioloop import IoThread
from jainam_fsm.streaming.supervisor import Supervisor
from jainam_fsm.streaming.transport import XtsTransport
from jainam_fsm.streaming.watchdog import DropReporter, TickPathMonitor
from jainam_fsm.transport.rest import LoginResult, XtsRestClient
from jainam_fsm.xts.ticks import MarketStatus, Tick

if TYPE_CHECKING:  # imported when used: instruments.master imports jainam_fsm.integrations,
    # whose package imports the adapter module (which imports this one)
    from jainam_fsm.instruments.master import InstrumentMaster
    from jainam_fsm.instruments.wants import Wants
    from jainam_fsm.streaming.adapter import TokenSourceFactory

log = logging.getLogger("jainam_fsm.streaming")


def cached_master() -> InstrumentMaster:
    """The instrument master cached in the token store named by the environment."""
    from jainam_fsm.instruments.cache import InstrumentCache
    from jainam_fsm.store import TokenStore

    with TokenStore.from_env() as store:
        return InstrumentCache(store).master()


def names(instruments: InstrumentMaster | None) -> Wants:
    """Names and modes of the adapter's wants, and the symbols stamped on delivered ticks
    (:mod:`jainam_fsm.instruments.wants`): names resolve in ``instruments``, else in the
    store's cached master (:func:`cached_master`), loaded on the first name."""
    from jainam_fsm.instruments.wants import Wants

    return Wants(instruments, loader=cached_master)


@dataclass(frozen=True, slots=True)
class Parts:
    """The collaborators of one adapter, connected to each other by :func:`build_parts`."""

    io: IoThread
    supervisor: Supervisor
    dispatcher: Dispatcher
    delivery: Delivery[Tick | MarketStatus]
    hook_tee: HookTee
    ingest: Ingest
    flavour: Flavour
    rest: XtsRestClient
    auto_api: AutoApi
    transport: XtsTransport
    drops: DropReporter

    def start(self) -> None:
        """Start the threads: the I/O loop, delivery, then the supervisor."""
        self.io.start()
        self.delivery.start()
        self.supervisor.start()

    def login(self, config: AdapterConfig) -> LoginResult:
        """Blocking login on the I/O loop; with ``api="auto"`` not yet settled it is also the
        probe (:mod:`jainam_fsm.streaming.autoapi`)."""

        def once() -> LoginResult:
            return self.io.run(
                self.rest.login(config.app_key, config.secret_key, source=config.source),
                timeout=config.request_timeout + 1,
            )

        return self.auto_api.login(once)

    def stop(self, timeout: float, *, standby: Any, store: Any) -> None:
        """Stop and join everything, after the lifecycle was shut down: the supervisor, the
        socket, the ``standby`` link, the REST session, the I/O loop, delivery, the ``store``."""
        self.supervisor.stop(timeout)
        self.transport.close()  # in case the machine never got to it
        if standby is not None:
            standby.stop(timeout)  # the lock goes only after the socket
        try:
            self.io.run(self.rest.aclose(), timeout=5.0, while_closing=True)
        except Exception as exc:
            log.debug("rest close: %s", type(exc).__name__)
        self.io.stop(timeout)
        self.delivery.stop(timeout)
        if store is not None:
            store.close()


def build_parts(
    config: AdapterConfig,
    *,
    callbacks: Callbacks,
    registry: SubscriptionRegistry,
    telemetry: TelemetrySink,
    symbols: dict[tuple[int, int], str],
    closed: Callable[[], bool],
    on_link: Callable[[int, LinkEvent], None],
) -> Parts:
    """Build the adapter's collaborators; nothing starts (the adapter's ``connect`` does).

    ``symbols`` stamps names on delivered ticks, ``closed`` tells the dispatcher the adapter
    was shut down, ``on_link`` gets the transport's link events (on the I/O thread).
    """
    io = IoThread()

    def housekeeping() -> None:
        """Supervisor tick, every second: report ticks a slow consumer lost."""
        drops.report()

    # The stall watchdog is a timer of the lifecycle (core/watchdog.py); the periodic
    # tick only reports dropped ticks.
    supervisor = Supervisor(tick=1.0, on_tick=housekeeping)
    dispatcher = Dispatcher(callbacks, registry.wants, closed, symbols=symbols)
    delivery: Delivery[Tick | MarketStatus] = Delivery(
        dispatcher,
        capacity=config.queue_size,
        inline=config.delivery == "inline",
        linger=config.delivery_linger,
        batched=True,
    )

    def post_hook(hook: Hook) -> None:
        """From the supervisor thread: queue a lifecycle hook behind the ticks already queued.
        Inline delivery runs it on the I/O thread (where inline ticks are delivered)."""
        if delivery.inline:
            try:
                io.call_soon(delivery.put_control, hook)
            except RuntimeError:  # the loop is gone (shutting down): run it here
                delivery.put_control(hook)
        else:
            delivery.put_control(hook)

    hook_tee = HookTee(telemetry, post_hook, dispatcher.wanted_hooks())
    ingest = Ingest(registry, delivery.put, delivery.put_many)
    flavour = Flavour(config.api_str, config.prefix_str, config.socket_path_str)
    rest = XtsRestClient(
        config.base_url,
        prefix=flavour.prefix,
        timeout=config.request_timeout,
        verify_tls=config.verify_tls,
    )
    auto_api = AutoApi(
        flavour,
        rest=rest,
        io=io,
        telemetry=telemetry,
        timeout=config.request_timeout + 1,
    )
    transport = XtsTransport(
        config,
        io=io,
        rest=rest,
        on_data=ingest.on_data,
        on_link=on_link,
        on_snapshot=ingest,
        flavour=flavour,
        on_binary=ingest.on_binary,
        telemetry=telemetry,
        wants=registry.wants,
        before_open=auto_api.before_open,
    )
    drops = DropReporter(delivery, telemetry)
    return Parts(
        io=io,
        supervisor=supervisor,
        dispatcher=dispatcher,
        delivery=delivery,
        hook_tee=hook_tee,
        ingest=ingest,
        flavour=flavour,
        rest=rest,
        auto_api=auto_api,
        transport=transport,
        drops=drops,
    )


def standby_link(
    standby: Any,
    config: AdapterConfig,
    *,
    registry: SubscriptionRegistry,
    telemetry: TelemetrySink,
    post: Callable[[Callable[[], None]], None],
    start: Callable[[], None],
    step_down: Callable[[str], None],
) -> Any:
    """The hot-standby link for ``standby`` (a PostgreSQL URL or a ``StandbyConfig``), or
    None without one. ``post`` runs an action on the supervisor thread; the lease calls
    ``start`` when this process leads and ``step_down`` when it stops leading."""
    if standby is None:
        return None
    from jainam_fsm.standby.link import StandbyLink

    return StandbyLink(
        standby,
        base_url=config.base_url,
        app_key=config.app_key,
        registry=registry,
        telemetry=telemetry,
        post=post,
        start=start,
        step_down=step_down,
    )


def token_source(
    arg: TokenSource | TokenSourceFactory | None,
    config: AdapterConfig,
    login: Callable[[], LoginResult],
    telemetry: TelemetrySink,
) -> tuple[TokenSource, Any]:
    """The adapter's token source, and the token store it opened (None when it opened none;
    the adapter closes it at shutdown). ``arg`` is the adapter's ``token_source`` argument:
    a source, a factory called with ``login`` and ``telemetry``, or None for the token store
    named by the environment."""
    if arg is not None and hasattr(arg, "get_token"):
        return arg, None
    if arg is not None:
        return arg(login, telemetry), None
    from jainam_fsm.store import StoredTokenSource, TokenBinding, TokenStore

    store = TokenStore.from_env()
    return (
        StoredTokenSource(
            store,
            config.user,
            login,
            telemetry,
            refresh_margin=config.refresh_margin,
            # The stored token belongs to this server and app key only (docs/tokens.md).
            binding=TokenBinding.for_config(config),
        ),
        store,
    )


def build_lifecycle(
    config: AdapterConfig,
    parts: Parts,
    *,
    registry: SubscriptionRegistry,
    tokens: TokenSource,
    on_exhausted: Callable[[str], None],
    on_refused: RefusalHook | None,
) -> Lifecycle:
    """The core's lifecycle on the adapter's ports: the transport, the supervisor as clock,
    the hook tee as telemetry, and the tick path as the stall watchdog's eyes."""
    return Lifecycle(
        registry=registry,
        tokens=tokens,
        transport=parts.transport,
        clock=parts.supervisor,
        telemetry=parts.hook_tee,
        policy=config.backoff,
        batch=config.batch,
        on_exhausted=on_exhausted,
        on_refused=on_refused,
        release_on_shutdown=not config.keep_server_subscriptions,
        release_timeout=min(2.0, config.request_timeout),
        feed=TickPathMonitor(parts.ingest, parts.flavour),
        stall_timeout=config.stall_timeout,
    )
