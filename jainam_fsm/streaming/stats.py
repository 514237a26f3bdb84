"""What :meth:`~jainam_fsm.streaming.adapter.StreamingAdapter.stats` returns, and its counters.

The adapter counts only what no collaborator sees (logins, link events: :func:`new_counts`);
everything else is read from the parts that count it, at the time of the call
(:func:`assemble`). The keys are documented in docs/telemetry.md.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from jainam_fsm.core.lifecycle import Lifecycle
from jainam_fsm.core.machine import State
from jainam_fsm.core.registry import SubscriptionRegistry
from jainam_fsm.streaming.wiring import Parts

#: The adapter's own counters (``link_<kind>``: a :class:`~jainam_fsm.core.ports.LinkKind`).
ADAPTER_COUNTS = ("logins", "link_lost", "link_token_rejected")


def new_counts() -> Counter[str]:
    """The adapter's own counters, every key present at zero."""
    # Keys exist up front: stats() copies this dict while other threads count.
    return Counter(dict.fromkeys(ADAPTER_COUNTS, 0))


def assemble(
    counts: Counter[str],
    *,
    state: Callable[[], State],
    lifecycle: Lifecycle | None,
    registry: SubscriptionRegistry,
    parts: Parts,
    standby: Any,
) -> dict[str, Any]:
    """One ``stats()`` dict: the adapter's ``counts`` and ``state()``, the lifecycle's
    (``None`` before the first ``connect``), the tick path's, delivery's, the transport's and
    the standby link's."""
    lc = lifecycle
    transport, delivery, dispatcher = parts.transport, parts.delivery, parts.dispatcher
    hook_tee, ingest, flavour = parts.hook_tee, parts.ingest, parts.flavour
    pings, pongs = transport.heartbeat()
    out: dict[str, Any] = dict(counts)
    watchdog = lc.watchdog if lc else None
    out["stalls"] = watchdog.stalls if watchdog else 0
    out["undecodable_stalls"] = watchdog.undecodable_stalls if watchdog else 0
    out.update(ingest.stats())
    out.update(
        state=state().value,
        attempt=lc.backoff.attempt if lc else 0,
        ready=bool(lc and lc.ready),
        subscriptions=len(registry),
        server_subscriptions=len(lc.server_subscriptions) if lc else 0,
        refused_subscriptions=len(lc.refused_subscriptions) if lc else 0,
        ticks_delivered=delivery.delivered,
        ticks_dropped=delivery.dropped,
        queue_depth=delivery.depth(),
        queue_high_water=delivery.high_water,
        callback_errors=delivery.callback_errors + sum(dispatcher.errors.values()),
        callback_errors_by_kind=dict(dispatcher.errors),
        callbacks_slow_by_kind=dict(dispatcher.slow),
        ticks_discarded_unsubscribed=dispatcher.discarded_unsubscribed,
        ticks_by_code=dict(dispatcher.by_code),
        reconnects=hook_tee.reconnects,
        replays=hook_tee.replays,
        last_replay_seconds=hook_tee.last_replay_seconds,
        last_tick_age_seconds=(
            round(time.monotonic() - ingest.wanted_at, 3) if ingest.wanted else None
        ),
        socket_connects=transport.connects,
        socket_disconnects=transport.disconnects,
        snapshot_refills=transport.snapshot_refills,
        seconds_since_message=round(time.monotonic() - transport.last_message, 3),
        api=flavour.api if flavour.settled else "auto",
        eio=transport.eio,
        eio_pings=pings,
        eio_pongs=pongs,
        exhausted_reason=lc.exhausted_reason if lc else None,
        exhausted_cause=str(lc.exhausted_cause) if lc and lc.exhausted_cause else None,
    )
    if standby is not None:
        out.update(standby.stats())
    return out
