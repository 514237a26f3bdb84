"""The simulator's counters: what ``/_sim/stats`` reports (never a token or a secret)."""

from __future__ import annotations

from collections import Counter

__all__ = ["COUNTERS", "SimStats"]

#: Named counters, always present in ``/_sim/stats`` (0 when nothing happened).
COUNTERS: tuple[str, ...] = (
    "logins", "login_failures", "logins_refused", "logouts", "sessions_replaced",
    "subscribe_requests", "unsubscribe_requests", "already_subscribed",
    "limit_exceeded", "unsubscribe_not_subscribed", "invalid_token_requests",
    "bad_requests", "quote_requests", "list_requests", "socket_connects", "socket_rejects",
    "socket_disconnects", "logout_events", "malformed_sent", "severs",
    "server_disconnects", "stalls", "downs", "reject_logins", "token_invalidations",
    "token_expiries", "restarts", "emit_errors", "ping_timeouts", "pings_received",
    "master_requests", "indexlist_requests", "search_requests", "ohlc_requests",
)  # fmt: skip


class SimStats:
    """Counters shared by the REST side, the stream and the faults.

    ``c`` is a plain :class:`~collections.Counter` (updated on the hot path); the emitted-event
    count is a separate int because it is bumped once per batch.
    """

    def __init__(self) -> None:
        self.c: Counter[str] = Counter()
        self.events_emitted = 0
        #: events emitted per ``(segment, instrument)``, for tests that check nothing was lost
        self.emitted_by_instrument: Counter[tuple[int, int]] = Counter()
        self.disconnect_reasons: Counter[str] = Counter()
        self.max_batch = {"subscribe": 0, "unsubscribe": 0}
        self.batch_sizes: dict[str, list[int]] = {"subscribe": [], "unsubscribe": []}

    def record_batch(self, kind: str, size: int) -> None:
        """A subscribe/unsubscribe request named ``size`` instruments."""
        self.max_batch[kind] = max(self.max_batch[kind], size)
        sizes = self.batch_sizes[kind]
        sizes.append(size)
        if len(sizes) > 1000:
            del sizes[:500]

    def snapshot(self) -> dict[str, object]:
        """The counters as JSON-ready values."""
        out: dict[str, object] = {name: self.c[name] for name in COUNTERS}
        out["events_emitted"] = self.events_emitted
        out["events_by_instrument"] = {
            f"{s}:{i}": n for (s, i), n in sorted(self.emitted_by_instrument.items())
        }
        out["disconnect_reasons"] = dict(self.disconnect_reasons)
        out["max_subscribe_batch"] = self.max_batch["subscribe"]
        out["max_unsubscribe_batch"] = self.max_batch["unsubscribe"]
        out["subscribe_batch_sizes"] = list(self.batch_sizes["subscribe"])
        out["unsubscribe_batch_sizes"] = list(self.batch_sizes["unsubscribe"])
        return out
