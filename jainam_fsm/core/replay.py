"""Replay: what the server holds for our session, and making it equal the desired set.

A :class:`SessionReplay` belongs to one :class:`~jainam_fsm.core.lifecycle.Lifecycle` and runs
on its owner thread. It knows what the server has subscribed for the current market-data
session, lists a session new to us, reconciles it with the registry (unsubscribes first,
batches halved on refusal) and releases what we hold at shutdown. It decides nothing about the
lifecycle: a failing port call propagates (``TokenRejected``, ``TransportFailure``, anything
else) and the lifecycle picks the trigger.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

from jainam_fsm.core.ports import (
    Clock,
    Emit,
    InternalError,
    Refusal,
    RefusalHook,
    RequestOutcome,
    Transport,
)
from jainam_fsm.core.registry import Request, SubKey, SubscriptionRegistry, reconcile
from jainam_fsm.errors import (
    JainamError,
    SubscriptionRejected,
    TokenRejected,
    brief,
    describe,
)

#: Replays in a row before a busy registry is left to the next ``Lifecycle.sync``.
MAX_REPLAY_ROUNDS = 8
#: Default bound, in seconds, on the unsubscribes made at shutdown.
DEFAULT_RELEASE_TIMEOUT = 2.0


class SessionReplay:
    """The session's subscriptions as far as we know them, and the requests that change them.

    :param registry: the desired subscriptions.
    :param transport: the transport port (subscription requests, list, release).
    :param clock: time (the release deadline, the replay's duration).
    :param batch: at most this many instruments per request.
    :param release_timeout: bound, in seconds, on the unsubscribes of :meth:`release`.
    :param emit: telemetry.
    :param internal_error: how a foreign exception is reported.
    :param on_refused: called with a :class:`~jainam_fsm.core.ports.Refusal` (once per key per
        replay); a hook that raises is reported, never propagated.
    """

    def __init__(
        self,
        *,
        registry: SubscriptionRegistry,
        transport: Transport,
        clock: Clock,
        batch: int,
        release_timeout: float,
        emit: Emit,
        internal_error: InternalError,
        on_refused: RefusalHook | None,
    ) -> None:
        self.registry = registry
        self._transport = transport
        self._clock = clock
        self.batch = batch
        self.release_timeout = release_timeout
        self._emit = emit
        self._internal_error = internal_error
        self._on_refused = on_refused
        #: What we know the server has subscribed for our session.
        self.server: set[SubKey] = set()
        #: What an earlier session may still have (a new login may keep subscriptions):
        #: unsubscribed when no longer desired, since we cannot tell.
        self.maybe_server: set[SubKey] = set()
        #: Keys the server refused (e.g. limit); not asked again until the next session.
        self.refused: set[SubKey] = set()
        #: The session's contents are not known yet (a new token): list them on connect.
        self.unlisted = True
        #: registry version the last completed replay made the server match
        self.synced_version = -1

    def new_session(self) -> None:
        """A session we did not hold before (a new token, or after stepping down): what the
        server has is unknown now; what we knew may still be there."""
        self.maybe_server |= self.server
        self.server.clear()
        self.refused.clear()
        self.unlisted = True

    def forget(self) -> None:
        """Shutdown: no knowledge of the session is kept."""
        self.server.clear()
        self.maybe_server.clear()
        self.refused.clear()

    def list_session(self) -> None:
        """Learn what a session we did not hold before already has. Raises only
        ``TokenRejected``.

        The list is hygiene, not a precondition: any other failure leaves the session unlisted
        (asked again on the next connect) and the replay goes on, so a server whose list route
        misbehaves cannot keep the stream down.
        """
        try:
            listed = self._transport.list_subscriptions()
        except TokenRejected:
            raise
        except Exception as exc:
            if not isinstance(exc, JainamError):
                self._internal_error("list_subscriptions", exc)
            self._emit("session.unlisted", logging.WARNING, error=describe(exc))
            return
        self.unlisted = False
        if listed is None:
            self._emit("session.unlisted", logging.DEBUG)
            return
        foreign = listed - self.server - self.registry.keys()
        # The list is the truth about this session: the replay unsubscribes what is not
        # desired (first, so it frees room) and subscribes the rest of the desired set.
        self.maybe_server = set(listed) - self.server
        self._emit(
            "session.listed",
            logging.WARNING if foreign else logging.INFO,
            subscriptions=len(listed),
            undesired=len(foreign),
        )

    def replay(self, *, reason: str, on_first_round: Callable[[], None] | None = None) -> None:
        """Reconcile until the desired set stops changing (at most :data:`MAX_REPLAY_ROUNDS`).

        ``on_first_round`` (a connection's first replay) is called once the first round
        completed, and makes the ``replay`` record due even when no request was needed. A
        failing request propagates: the replay is then incomplete.
        """
        started = self._clock.monotonic()
        subscribed = unsubscribed = already = requests = 0
        reported: set[SubKey] = set()
        first_round = on_first_round
        for _ in range(MAX_REPLAY_ROUNDS):
            version = self.registry.version
            self.refused &= self.registry.keys()  # nobody wants those any more
            desired = self.registry.keys() - self.refused
            freed = False
            plan = reconcile(self.server | (self.maybe_server - desired), desired, self.batch)
            # Unsubscribe first: it frees server-side slots for the new ones.
            for req in plan.unsubscribe:
                requests += 1
                self._transport.unsubscribe(req.code, req.instruments)
                gone = req.keys()
                self.server -= gone
                self.maybe_server -= gone
                unsubscribed += len(req.instruments)
                freed = True
            pending = deque(plan.subscribe)
            while pending:
                req = pending.popleft()
                keys = req.keys()
                requests += 1
                try:
                    outcome = self._transport.subscribe(req.code, req.instruments)
                except SubscriptionRejected as exc:
                    if len(req.instruments) > 1:
                        # The batch may not fit the limit as a whole: halve it, so every
                        # instrument that still fits gets subscribed.
                        half = len(req.instruments) // 2
                        pending.appendleft(Request(req.code, req.instruments[half:]))
                        pending.appendleft(Request(req.code, req.instruments[:half]))
                        continue
                    fresh = keys - reported  # one record per key per replay
                    self.refused.update(keys)
                    reported.update(fresh)
                    if fresh:
                        self._emit(
                            "replay.refused",
                            logging.ERROR,
                            code=req.code,
                            instruments=len(fresh),
                            error=brief(exc),
                        )
                        self._notify_refused(Refusal(fresh, brief(exc)))
                    continue
                self.server.update(keys)
                if outcome is RequestOutcome.ALREADY:
                    already += len(keys)
                else:
                    subscribed += len(keys)
            if first_round is not None:
                # The connection is up and the set it was opened for is reconciled: ready now,
                # not after the rounds a busy registry may add (slow server, constant churn).
                first_round()
                first_round = None
            if freed and self.refused:
                # Unsubscribes freed server-side slots: ask again for what was refused.
                self.refused.clear()
                continue
            if self.registry.version == version:
                break
        self.synced_version = version
        self.maybe_server.clear()
        if requests or on_first_round is not None:
            self._emit(
                "replay",
                logging.INFO,
                reason=reason,
                subscribed=subscribed,
                unsubscribed=unsubscribed,
                already=already,
                refused=len(reported),
                requests=requests,
                total=len(self.server),
                duration_ms=round((self._clock.monotonic() - started) * 1000, 3),
            )

    def release(self) -> None:
        """Unsubscribe what the server holds for us, within ``release_timeout`` (best effort):
        the session outlives this process when the token is stored and reused."""
        held = set(self.server)
        if not held:
            return
        deadline = self._clock.monotonic() + self.release_timeout
        released = 0
        error: str | None = None
        for req in reconcile(held, set(), self.batch).unsubscribe:
            remaining = deadline - self._clock.monotonic()
            if remaining <= 0:
                error = "timeout"
                break
            try:
                self._transport.release(req.code, req.instruments, remaining)
            except Exception as exc:  # best effort: the process is going away anyway
                error = describe(exc)
                break
            released += len(req.instruments)
            self.server -= req.keys()
        fields: dict[str, object] = {"released": released, "left": len(held) - released}
        if error is not None:
            fields["error"] = error
        self._emit("shutdown.released", logging.WARNING if error else logging.INFO, **fields)

    def _notify_refused(self, refusal: Refusal) -> None:
        if self._on_refused is None:
            return
        try:
            self._on_refused(refusal)
        except Exception as exc:  # a consumer's hook must not break the replay
            self._internal_error("on_refused", exc)
