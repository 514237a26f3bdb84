"""The lifecycle model: what each state does, through the ports.

A :class:`Lifecycle` is owned by one thread (or task): call :meth:`Lifecycle.fire` and
:meth:`Lifecycle.sync` only from there. Ports may block; no lock is held while they do. The
callbacks below are named after the states they belong to (``on_enter_<state>``), so a
reader finds a state's behaviour from its name.

The work the states start lives beside this module: the session's subscriptions and their
replay in :mod:`jainam_fsm.core.replay`, the stall watchdog's timer in
:mod:`jainam_fsm.core.watchdog`. What stays here is the machine's own, and is kept in one
place on purpose (so the module is past 400 lines): a callback per state, which trigger each
failure fires, the ``connected`` sub-state, and the attempt accounting (the backoff counter,
the refresh once per attempt, permanent causes in a row).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

from transitions import EventData, Machine, MachineError

from jainam_fsm.core.backoff import BackoffPolicy, BackoffSchedule
from jainam_fsm.core.causes import DESCRIPTIONS, Cause, cause_fields, cause_of, is_permanent
from jainam_fsm.core.machine import (
    CONNECT_TRIGGERS,
    LINK_TRIGGERS,
    PHASE_MOVES,
    STALL_TRIGGER,
    Phase,
    State,
    Trigger,
    machine_kwargs,
)
from jainam_fsm.core.ports import (
    Cancellable,
    Clock,
    FeedMonitor,
    FeedToken,
    LinkEvent,
    Readiness,
    RefusalHook,
    TelemetrySink,
    TokenSource,
    Transport,
    emit_safely,
)
from jainam_fsm.core.registry import DEFAULT_BATCH, SubKey, SubscriptionRegistry
from jainam_fsm.core.replay import DEFAULT_RELEASE_TIMEOUT, SessionReplay
from jainam_fsm.core.watchdog import Stall, StallTimer, StallWatchdog
from jainam_fsm.errors import (
    CredentialsRejected,
    TokenRejected,
    TokenUnavailable,
    TransportFailure,
    brief,
    describe,
)

__all__ = ["DEFAULT_RELEASE_TIMEOUT", "ExhaustedHook", "Lifecycle"]

ExhaustedHook = Callable[[str], None]


class Lifecycle:
    """The connection state machine with its callbacks.

    :param registry: the desired subscriptions (shared with the host threads).
    :param tokens: token source port.
    :param transport: transport port (socket + subscription requests).
    :param clock: time and timers; timer callbacks must run on the owner thread.
    :param telemetry: structured event sink.
    :param policy: backoff policy (defaults: 1 s, x2, 60 s cap, 10 attempts).
    :param batch: at most this many instruments per subscribe/unsubscribe request.
    :param on_exhausted: called with the reason when the machine gives up.
    :param rand: random source for backoff jitter (uniform in ``[0, 1)``).
    :param on_refused: called with a :class:`~jainam_fsm.core.ports.Refusal` when the server
        refuses subscriptions (once per key per replay), on the owner thread.
    :param release_on_shutdown: at shutdown from ``connected``, unsubscribe what this session
        holds for us, so the next process on the same session starts with room (best effort).
    :param release_timeout: bound, in seconds, on those shutdown unsubscribes.
    :param feed: what the tick path saw (:class:`~jainam_fsm.core.ports.FeedMonitor`); with
        ``stall_timeout``, the stall watchdog runs (see :mod:`jainam_fsm.core.watchdog`).
    :param stall_timeout: seconds of silence a ready stream is allowed at 1x; None: no watchdog.

    A session this machine did not hold before (the first token, or a new one) may carry
    subscriptions nobody here made: a previous process's, on a reused stored token. Its
    contents are unknown until listed: on connect, :meth:`Transport.list_subscriptions` is
    asked once per session, and what it lists beyond the desired set is unsubscribed by the
    replay, before anything is subscribed (:mod:`jainam_fsm.core.replay`, :attr:`session`).
    """

    state: str  # set by transitions

    def __init__(
        self,
        *,
        registry: SubscriptionRegistry,
        tokens: TokenSource,
        transport: Transport,
        clock: Clock,
        telemetry: TelemetrySink,
        policy: BackoffPolicy | None = None,
        batch: int = DEFAULT_BATCH,
        on_exhausted: ExhaustedHook | None = None,
        rand: Callable[[], float] | None = None,
        on_refused: RefusalHook | None = None,
        release_on_shutdown: bool = True,
        release_timeout: float = DEFAULT_RELEASE_TIMEOUT,
        feed: FeedMonitor | None = None,
        stall_timeout: float | None = None,
    ) -> None:
        if batch < 1:
            raise ValueError("batch must be >= 1")
        if not release_timeout >= 0:
            raise ValueError("release_timeout must be >= 0")
        if (feed is None) != (stall_timeout is None):
            raise ValueError("the stall watchdog needs both feed and stall_timeout")
        self.registry = registry
        self._tokens = tokens
        self._transport = transport
        self._clock = clock
        self._telemetry = telemetry
        self.backoff = BackoffSchedule(policy or BackoffPolicy(), rand or random.random)
        self._on_exhausted = on_exhausted
        self.release_on_shutdown = release_on_shutdown
        #: what the server holds for our session, and the replay that changes it
        self.session = SessionReplay(
            registry=registry,
            transport=transport,
            clock=clock,
            batch=batch,
            release_timeout=float(release_timeout),
            emit=self._emit,
            internal_error=self._internal_error,
            on_refused=on_refused,
        )
        self._timer: Cancellable | None = None
        self._token: FeedToken | None = None
        self._rejected_token: FeedToken | None = None
        self._refreshed = False
        #: the sub-state of ``connected``; written only by :meth:`_set_phase`
        self._phase: Phase | None = None
        #: the stall watchdog's timer (None: no watchdog)
        self.stall_timer: StallTimer | None = None
        if feed is not None and stall_timeout is not None:
            self.stall_timer = StallTimer(
                StallWatchdog(stall_timeout),
                feed,
                clock,
                watched=lambda: self.ready and bool(self.session.server),
                on_stall=self._stalled,
                emit=self._emit,
                internal_error=self._internal_error,
            )
        self.exhausted_reason: str | None = None
        #: the cause named in the give-up, when it had one (core/causes.py)
        self.exhausted_cause: Cause | None = None
        #: attempts in a row that failed with a permanent cause
        self._permanent_streak = 0
        self._machine = Machine(
            model=self,
            queued=True,
            send_event=True,
            before_state_change="_record_transition",
            **machine_kwargs(),
        )

    # ------------------------------------------------------------------ public API

    @property
    def current(self) -> State:
        """The current state."""
        return State(self.state)

    @property
    def phase(self) -> Phase | None:
        """The sub-state of ``connected`` (``replaying`` or ``ready``); None elsewhere (set on
        entering ``connected``, cleared on leaving it)."""
        return self._phase

    @property
    def ready(self) -> bool:
        """True when connected and the first replay of the connection completed."""
        return self.phase is Phase.READY

    @property
    def watchdog(self) -> StallWatchdog | None:
        """The stall policy and its counts (None: no watchdog)."""
        return None if self.stall_timer is None else self.stall_timer.policy

    @property
    def watching(self) -> bool:
        """The stall watchdog's timer is armed (ready, and the server holds a subscription)."""
        return self.stall_timer is not None and self.stall_timer.armed

    @property
    def batch(self) -> int:
        """At most this many instruments per subscribe/unsubscribe request."""
        return self.session.batch

    @property
    def release_timeout(self) -> float:
        """Bound, in seconds, on the unsubscribes made at shutdown."""
        return self.session.release_timeout

    @property
    def synced_version(self) -> int:
        """The registry version the last completed replay made the server match."""
        return self.session.synced_version

    @property
    def in_sync(self) -> bool:
        """Ready, and the last replay covered the registry's current version."""
        return self.ready and self.synced_version == self.registry.version

    def readiness(self) -> Readiness:
        """Ready (and in sync) or not, with the desired subscriptions the server refused."""
        if not self.in_sync:
            return Readiness(False)
        return Readiness(True, frozenset(self.session.refused & self.registry.keys()))

    @property
    def server_subscriptions(self) -> frozenset[SubKey]:
        """What the server is known to have subscribed for this session."""
        return frozenset(self.session.server)

    @property
    def refused_subscriptions(self) -> frozenset[SubKey]:
        """Subscriptions the server refused; asked again after an unsubscribe frees room, and
        on every (re)connect."""
        return frozenset(self.session.refused)

    def can_fire(self, trigger: Trigger | str) -> bool:
        """Whether ``trigger`` is allowed in the current state (conditions evaluated)."""
        return bool(self.may_trigger(str(trigger)))  # type: ignore[attr-defined]

    def fire(self, trigger: Trigger | str, **kwargs: Any) -> bool:
        """Fire ``trigger``. Returns False, with the state unchanged, when it is refused here."""
        name = str(trigger)
        if name not in Trigger.__members__.values() or not self.can_fire(name):
            self._emit(
                "lifecycle.refused",
                logging.DEBUG,
                trigger=name,
                state=self.state,
                reason=kwargs.get("reason"),
            )
            return False
        try:
            return bool(self.trigger(name, **kwargs))  # type: ignore[attr-defined]
        except MachineError:  # a queued follow-up became invalid: state stays consistent
            return False

    def connect(self) -> bool:
        """A host's "connect": ``start`` from ``idle``, ``revive`` from ``exhausted``
        (:data:`~jainam_fsm.core.machine.CONNECT_TRIGGERS`). Elsewhere the stream is already
        starting, up or backing off: nothing happens (no second loop, no shortened wait).
        Returns whether a trigger fired."""
        trigger = CONNECT_TRIGGERS.get(self.current)
        if trigger is None:
            return False
        if trigger is Trigger.REVIVE:  # a start needs no reason; a revival says who did it
            return self.fire(trigger, reason="connect() called")
        return self.fire(trigger)

    def on_link(self, event: LinkEvent) -> bool:
        """The transport reports an event of the open socket; it fires its trigger
        (:data:`~jainam_fsm.core.machine.LINK_TRIGGERS`). Returns whether it was taken."""
        return self.fire(LINK_TRIGGERS[event.kind], reason=event.detail)

    def sync(self) -> bool:
        """Reconcile the server with the registry now, if connected. True if complete."""
        if self.state != State.CONNECTED:
            return False
        return self._replay(reason="sync")

    # ------------------------------------------------------------------ predicates

    def refreshed_this_attempt(self, event: EventData) -> bool:
        """Condition: a token refresh was already made in this attempt."""
        return self._refreshed

    def permanent_failure(self, event: EventData) -> bool:
        """Condition: the failure's cause is one retrying cannot fix, and attempts in a row
        (``BackoffPolicy.permanent_attempts``) failed with such a cause."""
        return (
            is_permanent(event.kwargs.get("cause"))
            and self._permanent_streak >= self.backoff.policy.permanent_attempts
        )

    # ------------------------------------------------------------------ state callbacks

    def on_enter_authenticating(self, event: EventData) -> None:
        """Get a token (reuse, or refresh once after a rejection), then open the socket."""
        if event.event.name in (Trigger.RETRY, Trigger.REVIVE, Trigger.START):
            self._refreshed = False
        stale = self._rejected_token
        if event.event.name == Trigger.TOKEN_REJECTED:
            self._refreshed = True
            if stale is None:  # rejected outside a port call (socket `error`/`logout` event)
                stale = self._token
        try:
            token = self._tokens.get_token(stale=stale)
        except CredentialsRejected:
            self._queue(Trigger.CREDENTIALS_REJECTED, reason="credentials_rejected")
            return
        except TokenUnavailable as exc:
            self._lost("token_unavailable", exc)
            return
        except Exception as exc:  # a port bug must not kill the owner thread
            self._internal_error("token_source", exc)
            self._queue(Trigger.CONNECTION_LOST, reason="token_source_error")
            return
        if stale is not None and token.value != stale.value:
            self._rejected_token = None
        if self._token is None or token.value != self._token.value:
            # A new market-data session: what the server has is unknown now.
            self.session.new_session()
            if self._token is not None:
                self._emit("session.changed", logging.INFO)
        self._token = token
        try:
            self._transport.open(token)
        except TokenRejected:
            self._token_rejected("token_rejected_at_socket")
        except TransportFailure as exc:
            self._lost("connect_failed", exc)
        except Exception as exc:
            self._internal_error("transport.open", exc)
            self._queue(Trigger.CONNECTION_LOST, reason="transport_error")
        else:
            self._queue(Trigger.AUTHENTICATED)

    def on_enter_connected(self, event: EventData) -> None:
        """Replay: make the server's set equal the desired set, then reset the backoff.

        Subscriptions refused earlier (e.g. the limit) are asked for again on every connect.
        """
        self._set_phase(Phase.REPLAYING)
        self.session.refused.clear()
        if self.session.unlisted and not self._list_session():
            return
        self._replay(reason="reconnect" if self.backoff.attempt else "connect")

    def on_exit_connected(self, event: EventData) -> None:
        self._set_phase(None)
        self._stop_watching()

    def on_enter_backing_off(self, event: EventData) -> None:
        """Close the socket and schedule the next attempt, or give up when attempts are spent."""
        self._close_transport()
        reason = str(event.kwargs.get("reason") or event.event.name)
        cause = event.kwargs.get("cause")
        delay = self.backoff.next_delay()
        if delay is None:
            self._queue(
                Trigger.GIVE_UP,
                reason=f"{self.backoff.policy.max_attempts} attempts spent; last: {reason}",
                cause=cause,
            )
            return
        fields: dict[str, object] = {
            "attempt": self.backoff.attempt,
            "max_attempts": self.backoff.policy.max_attempts,
            "delay": round(delay, 3),
            "reason": reason,
            **cause_fields(cause),
        }
        # A cause retrying cannot fix is an ERROR from its first attempt.
        level = logging.ERROR if is_permanent(cause) else logging.WARNING
        self._emit("reconnect.scheduled", level, **fields)
        self._timer = self._clock.call_later(delay, self._on_timer)

    def on_exit_backing_off(self, event: EventData) -> None:
        self._cancel_timer()

    def on_enter_exhausted(self, event: EventData) -> None:
        """Raise the alert: a CRITICAL record and the ``on_exhausted`` hook. No more attempts."""
        self._cancel_timer()
        self._close_transport()
        reason = str(event.kwargs.get("reason") or event.event.name)
        cause = event.kwargs.get("cause")
        if event.event.name == Trigger.CONNECTION_LOST:  # the permanent-failure edge
            assert cause is not None
            reason = (
                f"permanent failure [{cause}] on {self._permanent_streak} attempts in a row "
                f"({DESCRIPTIONS[Cause(cause)]}); last: {reason}"
            )
        self.exhausted_reason = reason
        self.exhausted_cause = Cause(cause) if cause is not None else None
        self._emit("lifecycle.exhausted", logging.CRITICAL, reason=reason, **cause_fields(cause))
        if self._on_exhausted is not None:
            try:
                self._on_exhausted(reason)
            except Exception as exc:
                self._internal_error("on_exhausted", exc)

    def on_exit_exhausted(self, event: EventData) -> None:
        """Revive: a fresh budget of attempts."""
        self.exhausted_reason = None
        self.exhausted_cause = None
        self._fresh_budget()

    def on_enter_idle(self, event: EventData) -> None:
        """Step down (hot standby: leadership lost): timer and socket gone, the registry kept.
        What the session holds is unknown from here (another process may lead it): listed
        again on the next ``start``."""
        self._cancel_timer()
        self._close_transport()
        self.session.new_session()
        self._fresh_budget()

    def on_enter_shut_down(self, event: EventData) -> None:
        """Tear down: timer, our server subscriptions (unless kept), socket, registry, session
        knowledge. Terminal."""
        self._cancel_timer()
        transition = event.transition
        if (
            self.release_on_shutdown
            and transition is not None
            and transition.source == State.CONNECTED
        ):
            self.session.release()
        self._close_transport()
        self.registry.clear()
        self.session.forget()
        self._token = None
        self._rejected_token = None

    # ------------------------------------------------------------------ internals

    def _list_session(self) -> bool:
        """List a session we did not hold before (:meth:`SessionReplay.list_session`). False
        only when the token was rejected (its trigger is queued)."""
        try:
            self.session.list_session()
        except TokenRejected:
            self._token_rejected("token_rejected_at_rest")
            return False
        return True

    def _on_timer(self) -> None:
        self._timer = None
        self.fire(Trigger.RETRY, reason="backoff_elapsed")

    def _replay(self, *, reason: str) -> bool:
        """Reconcile (:meth:`SessionReplay.replay`); a connection's first replay marks it ready
        after its first round. False if interrupted by a failure (its trigger is queued)."""
        first = self._mark_ready if self._phase is Phase.REPLAYING else None
        try:
            self.session.replay(reason=reason, on_first_round=first)
        except TokenRejected:
            self._token_rejected("token_rejected_at_rest")
            return False
        except TransportFailure as exc:
            self._lost("replay_failed", exc)
            return False
        except Exception as exc:
            self._internal_error("replay", exc)
            self._queue(Trigger.CONNECTION_LOST, reason="replay_error")
            return False
        self._watch()
        return True

    def _mark_ready(self) -> None:
        # Reset only now: the connection is up *and* subscriptions are reconciled.
        self._set_phase(Phase.READY)
        attempts = self.backoff.attempt
        self._fresh_budget()
        self._refreshed = False
        self._emit("connection.ready", logging.INFO, after_attempts=attempts)

    def _fresh_budget(self) -> None:
        """Attempts start over (ready, revived, stepped down): the backoff counter, the
        permanent-failure streak and the remembered rejected token."""
        self.backoff.reset()
        self._permanent_streak = 0
        self._rejected_token = None

    def _set_phase(self, phase: Phase | None) -> None:
        """The one writer of the ``connected`` sub-state; only declared moves
        (:data:`~jainam_fsm.core.machine.PHASE_MOVES`) are made, staying put is a no-op."""
        if phase is self._phase:
            return
        if (self._phase, phase) not in PHASE_MOVES:
            raise AssertionError(f"undeclared phase move {self._phase} -> {phase}")
        self._phase = phase

    # ------------------------------------------------------------------ stall watchdog

    def _watch(self) -> None:
        """After a replay: watch a ready connection while the server holds a subscription of
        ours (nothing to hear otherwise); the silence counts from when watching began."""
        if self.stall_timer is None or self._phase is not Phase.READY:
            return
        if self.session.server:
            self.stall_timer.watch()
        else:
            self.stall_timer.stop()

    def _stop_watching(self) -> None:
        if self.stall_timer is not None:
            self.stall_timer.stop()

    def _stalled(self, stall: Stall) -> None:
        """The watchdog found a stall (reported already): ``connection_lost``."""
        self.fire(STALL_TRIGGER, reason=stall.kind.value)

    def _token_rejected(self, reason: str) -> None:
        """A port call refused the current token: the refresh on re-entering
        ``authenticating`` asks the source for another one."""
        self._rejected_token = self._token
        self._queue(Trigger.TOKEN_REJECTED, reason=reason)

    def _lost(self, where: str, exc: BaseException) -> None:
        """A failed step: name its cause (attached by the edge that raised it), count
        permanent causes in a row, and let the machine's table decide (back off or give up)."""
        cause = cause_of(exc)
        self._permanent_streak = self._permanent_streak + 1 if is_permanent(cause) else 0
        self._queue(Trigger.CONNECTION_LOST, reason=f"{where} [{cause}]: {brief(exc)}", cause=cause)

    def _queue(self, trigger: Trigger, **kwargs: Any) -> None:
        # The machine is queued: this runs right after the current transition completes.
        self.trigger(str(trigger), **kwargs)  # type: ignore[attr-defined]

    def _record_transition(self, event: EventData) -> None:
        transition = event.transition
        assert transition is not None
        level = logging.INFO
        if transition.dest == State.BACKING_OFF:
            level = logging.WARNING
        fields: dict[str, object] = {
            "trigger": event.event.name,
            "source": transition.source,
            "dest": transition.dest,
            "reason": event.kwargs.get("reason"),
            "attempt": self.backoff.attempt,
        }
        cause = event.kwargs.get("cause")
        if cause is not None:
            fields["cause"] = str(cause)
        self._emit("lifecycle.transition", level, **fields)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _close_transport(self) -> None:
        try:
            self._transport.close()
        except Exception as exc:  # close must never break a transition
            self._internal_error("transport.close", exc)

    def _internal_error(self, where: str, exc: BaseException) -> None:
        # A foreign exception's text is not ours to vouch for (it may quote a secret): the type
        # goes to telemetry, the traceback to the (redacting) log.
        logging.getLogger("jainam_fsm.core").debug("internal error in %s", where, exc_info=exc)
        self._emit("lifecycle.internal_error", logging.ERROR, where=where, error=describe(exc))

    def _emit(self, event: str, level: int, **fields: object) -> None:
        emit_safely(self._telemetry, event, level, fields)

    def __repr__(self) -> str:
        return f"Lifecycle(state={self.state!r}, attempt={self.backoff.attempt})"
