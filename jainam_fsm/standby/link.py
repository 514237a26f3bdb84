"""How a :class:`~jainam_fsm.streaming.adapter.StreamingAdapter` follows leadership.

* Leadership gained: the stored desired set is merged into the registry (per consumer, the
  larger count wins, so wants made on this process while following are kept), then the
  lifecycle is started (``start`` from ``idle``): the token comes from the shared store (no
  login when it is valid) and the session's server-side list is reconciled on connect.
* Leadership lost: the lifecycle steps down to ``idle`` (trigger ``step_down``); the tick and
  status callbacks are gated by the lease from the moment it runs out, whatever the threads
  are doing, so ticks already queued are counted as ``ticks_fenced``, never published.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from jainam_fsm.core.ports import TelemetrySink
from jainam_fsm.core.registry import SubscriptionRegistry
from jainam_fsm.standby.config import StandbyConfig, group_of
from jainam_fsm.standby.desired import DesiredRow, rows_of
from jainam_fsm.standby.lease import Leadership

__all__ = ["StandbyLink"]

Action = Callable[[], None]


class StandbyLink:
    """The adapter's side of the hot standby (see the module docstring)."""

    def __init__(
        self,
        config: StandbyConfig | str,
        *,
        base_url: str,
        app_key: str,
        registry: SubscriptionRegistry,
        telemetry: TelemetrySink,
        post: Callable[[Action], None],
        start: Action,
        step_down: Callable[[str], None],
    ) -> None:
        self.config = config if isinstance(config, StandbyConfig) else StandbyConfig(config)
        key, group = group_of(base_url, app_key)
        self._registry = registry
        self._post = post
        self._start = start
        self._step_down = step_down
        self.ticks_fenced = 0
        self.lease = Leadership(
            self.config,
            key=key,
            group=group,
            telemetry=telemetry,
            on_acquired=self._acquired,
            on_lost=self._lost,
            snapshot=lambda: rows_of(self._registry.consumer_counts()),
        )

    def leading(self) -> bool:
        """The publishing gate (a lease that has not run out)."""
        return self.lease.leading()

    def gate(self, callbacks: Any) -> Any:
        """The same callbacks, with ticks and statuses delivered only while leading."""
        changes: dict[str, Any] = {}
        for name in ("on_ticks", "on_tick", "on_status"):
            cb = getattr(callbacks, name)
            if cb is not None:
                changes[name] = self._gated(cb, many=name == "on_ticks")
        return dataclasses.replace(callbacks, **changes)

    def _gated(self, cb: Callable[[Any], None], *, many: bool) -> Callable[[Any], None]:
        leading = self.lease.leading

        def gated(item: Any) -> None:
            if leading():
                cb(item)
            else:
                self.ticks_fenced += len(item) if many else 1

        return gated

    def start(self) -> None:
        """Start competing for leadership (idempotent)."""
        self.lease.start()

    def changed(self) -> None:
        """The registry changed: store it with the next heartbeat."""
        self.lease.mark_dirty()

    def freeze(self) -> None:
        """A clean shutdown began: publish and store nothing more."""
        self.lease.freeze()

    def stop(self, timeout: float = 5.0) -> None:
        """Release the lock (after the socket is closed) and join the threads."""
        self.lease.stop(timeout)

    def stats(self) -> dict[str, object]:
        """Role, counts and fenced ticks."""
        out = self.lease.stats()
        out["ticks_fenced"] = self.ticks_fenced
        return out

    def _acquired(self, rows: list[DesiredRow]) -> None:
        counts = self._registry.consumer_counts()
        for row in rows:
            have = sum(
                n
                for consumer, n in counts.get(
                    (row.segment, row.instrument_id, row.code), {}
                ).items()
                if (consumer if isinstance(consumer, str) else repr(consumer)) == row.consumer
            )
            for _ in range(row.wants - have):
                self._registry.add(row.segment, row.instrument_id, row.code, row.consumer)
        self.lease.mark_dirty()  # the merged set is the stored one from now on
        self._post(self._start)

    def _lost(self, reason: str) -> None:
        self._post(lambda: self._step_down(reason))
