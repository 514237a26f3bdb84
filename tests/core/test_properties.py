"""Hypothesis drives the pure core through random drop/recover sequences.

Profiles: ``ci`` (default: 300 examples x up to 60 steps, derandomized) and ``thorough``
(10x the examples): ``HYPOTHESIS_PROFILE=thorough pytest tests/core``.
"""

from __future__ import annotations

import itertools
import logging
import os

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from jainam_fsm.core.backoff import BackoffPolicy
from jainam_fsm.core.causes import Cause, is_permanent
from jainam_fsm.core.lifecycle import Lifecycle
from jainam_fsm.core.machine import PERMANENT, REFRESHED, TRANSITIONS, State, Trigger, edges_from
from tests.core.fakes import SECRET, Rig, make_rig

DECLARED = {(e.source.value, e.trigger.value, e.dest.value) for e in TRANSITIONS}
POLICY = BackoffPolicy(initial=1.0, factor=2.0, max_delay=8.0, max_attempts=4)

segments = st.sampled_from([1, 2, 11])
instruments = st.integers(min_value=1, max_value=6)
codes = st.sampled_from([1501, 1502, 1512])
consumers = st.sampled_from(["a", "b", "c"])


class LifecycleMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.rig: Rig = make_rig(policy=POLICY, batch=3)
        self.lc: Lifecycle = self.rig.lifecycle  # type: ignore[assignment]
        self.seen_records = 0
        self.state_changes = 0
        self.lc._machine.after_state_change.append(self._count)
        self.opens_when_exhausted: int | None = None
        self.refreshes_seen = 0
        self.rejections = 0
        self.alerts_seen = 0
        self.logins_at_exhaustion = 0

    def _count(self, event: object) -> None:
        self.state_changes += 1

    # -- host actions
    @rule(seg=segments, iid=instruments, code=codes, who=consumers)
    def subscribe(self, seg: int, iid: int, code: int, who: str) -> None:
        if self.lc.current is State.SHUT_DOWN:
            return
        self.lc.registry.add(seg, iid, code, who)
        self.lc.sync()

    @rule(seg=segments, iid=instruments, code=codes, who=consumers)
    def unsubscribe_unknown(self, seg: int, iid: int, code: int, who: str) -> None:
        self.lc.registry.remove(seg, iid, code, who)
        self.lc.sync()

    @precondition(lambda self: bool(self.lc.registry.keys()))
    @rule(data=st.data())
    def unsubscribe(self, data: st.DataObject) -> None:
        seg, iid, code = data.draw(st.sampled_from(sorted(self.lc.registry.keys())))
        who = data.draw(consumers)
        self.lc.registry.remove(seg, iid, code, who)
        self.lc.sync()

    @rule()
    def start(self) -> None:
        self.lc.fire(Trigger.START)

    @rule()
    def revive(self) -> None:
        self.lc.fire(Trigger.REVIVE)

    @rule()
    def shutdown(self) -> None:
        self.lc.fire(Trigger.SHUTDOWN)

    # -- network events
    @rule(reason=st.sampled_from(["transport_error", "server_disconnect", "stall"]))
    def drop(self, reason: str) -> None:
        if self.rig.transport.connected:
            self.rig.transport.connected = False
        self.lc.fire(Trigger.CONNECTION_LOST, reason=reason)

    @rule()
    def server_goes_down(self) -> None:
        self.rig.broker.down = True

    @rule(cause=st.sampled_from([Cause.TLS_VERIFY, Cause.NOT_SOCKETIO, Cause.REFUSED]))
    def server_misconfigured(self, cause: Cause) -> None:
        self.rig.broker.down = True
        self.rig.broker.down_cause = cause

    @rule()
    def recover(self) -> None:
        self.rig.broker.down = False
        self.rig.broker.down_cause = None
        self.rig.broker.store_down = False

    @rule()
    def token_store_dies(self) -> None:
        self.rig.broker.store_down = True

    @rule()
    def token_invalidated(self) -> None:
        self.rig.broker.invalidate()
        if self.rig.transport.connected:
            # the server kicks the socket of a dead session
            self.rig.transport.connected = False
            self.rejections += 1
            self.lc.fire(Trigger.CONNECTION_LOST, reason="server_disconnect")

    @rule()
    def credentials_revoked(self) -> None:
        self.rig.broker.credentials_ok = False
        self.rig.broker.invalidate()

    @rule()
    def credentials_restored(self) -> None:
        self.rig.broker.credentials_ok = True

    @rule()
    def keep_mode_flip(self) -> None:
        self.rig.broker.keep_subscriptions_on_login = (
            not self.rig.broker.keep_subscriptions_on_login
        )

    @precondition(lambda self: bool(self.rig.clock.pending))
    @rule()
    def timer_fires(self) -> None:
        self.rig.clock.fire_next()

    @rule(seconds=st.floats(min_value=0, max_value=30))
    def time_passes(self, seconds: float) -> None:
        self.rig.clock.advance(seconds)

    # -- invariants
    @invariant()
    def state_is_declared_and_moves_are_edges(self) -> None:
        assert self.lc.state in {s.value for s in State}
        for rec in self.rig.telemetry.named("lifecycle.transition"):
            assert (rec["source"], rec["trigger"], rec["dest"]) in DECLARED, rec

    @invariant()
    def one_record_per_transition(self) -> None:
        assert len(self.rig.telemetry.named("lifecycle.transition")) == self.state_changes

    @invariant()
    def backoff_obeys_policy(self) -> None:
        assert 0 <= self.lc.backoff.attempt <= POLICY.max_attempts
        for rec in self.rig.telemetry.named("reconnect.scheduled"):
            attempt = rec["attempt"]
            assert isinstance(attempt, int) and 1 <= attempt <= POLICY.max_attempts
            assert rec["delay"] == POLICY.base_delay(attempt)
        if self.lc.current is State.BACKING_OFF:
            assert len(self.rig.clock.pending) == 1
        else:
            assert not self.rig.clock.pending

    @invariant()
    def exhausted_makes_no_attempt(self) -> None:
        alerts = len(self.rig.telemetry.named("lifecycle.exhausted"))
        if self.lc.current is State.EXHAUSTED:
            if self.opens_when_exhausted is None or alerts != self.alerts_seen:
                self.alerts_seen = alerts
                self.opens_when_exhausted = self.rig.broker.opens
            assert self.rig.broker.opens == self.opens_when_exhausted
            assert not self.rig.transport.connected
        else:
            self.opens_when_exhausted = None

    @invariant()
    def replay_makes_server_equal_desired(self) -> None:
        if self.lc.ready:
            assert self.rig.broker.subs == set(self.lc.registry.keys())
        assert self.rig.broker.duplicate_requests == []
        for _, batch in self.rig.broker.subscribe_requests + self.rig.broker.unsubscribe_requests:
            assert 1 <= len(batch) <= 3

    @invariant()
    def refresh_only_after_rejection(self) -> None:
        # every refresh answers a rejection; never two refreshes in one attempt
        stale_calls = [c for c in self.rig.tokens.calls if c is not None]
        assert len(stale_calls) == self.rig.tokens.refreshes
        logins = self.rig.broker.logins
        # a login needs a missing token (first) or a refresh call
        assert logins <= 1 + self.rig.tokens.refreshes

    @invariant()
    def credentials_rejected_never_retried(self) -> None:
        exhausted = self.rig.telemetry.named("lifecycle.exhausted")
        if self.lc.current is State.EXHAUSTED and exhausted[-1]["reason"] == "credentials_rejected":
            # no timer, no login attempt until a human revives it
            assert not self.rig.clock.pending
            assert self.rig.broker.logins == self.logins_at_exhaustion
        else:
            self.logins_at_exhaustion = self.rig.broker.logins

    @invariant()
    def permanent_causes_are_loud_and_give_up_early(self) -> None:
        for event, level, fields in self.rig.telemetry.records:
            if event == "reconnect.scheduled" and fields.get("permanent"):
                assert level == logging.ERROR and is_permanent(fields["cause"])
        moves = self.rig.telemetry.named("lifecycle.transition")
        exhausted = self.rig.telemetry.named("lifecycle.exhausted")
        early = [m for m in moves if m["trigger"] == "connection_lost" and m["dest"] == "exhausted"]
        named = [e for e in exhausted if str(e["reason"]).startswith("permanent failure")]
        assert len(early) == len(named)
        for move in early:
            assert is_permanent(move["cause"])
        for rec in named:
            assert f"[{rec['cause']}]" in str(rec["reason"])

    @invariant()
    def shut_down_is_inert(self) -> None:
        if self.lc.current is State.SHUT_DOWN:
            assert not self.rig.clock.pending
            assert len(self.lc.registry) == 0
            assert not self.rig.transport.connected
            before = (
                self.rig.broker.opens,
                self.rig.broker.logins,
                len(self.rig.broker.subscribe_requests),
            )
            for trig in Trigger:
                assert not self.lc.fire(trig)
            self.lc.sync()
            after = (
                self.rig.broker.opens,
                self.rig.broker.logins,
                len(self.rig.broker.subscribe_requests),
            )
            assert before == after

    @invariant()
    def no_secret_in_telemetry(self) -> None:
        text = repr(self.rig.telemetry.records) + repr(self.lc)
        assert SECRET not in text and SECRET[:6] not in text
        for token in self.rig.broker.issued:
            assert token not in text


settings.register_profile(
    "ci",
    max_examples=300,
    stateful_step_count=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=3000,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
LifecycleMachine.TestCase.settings = settings.get_profile(PROFILE if PROFILE != "default" else "ci")
TestLifecycleProperties = LifecycleMachine.TestCase


#: The condition each trigger's edges may name (one per trigger), set true or false below.
_CONDITIONED = {Trigger.TOKEN_REJECTED: REFRESHED, Trigger.CONNECTION_LOST: PERMANENT}


@pytest.mark.parametrize(
    ("state", "trigger", "flag"),
    [
        (s, t, r)
        for s, t in itertools.product(State, Trigger)
        for r in ((False, True) if t in _CONDITIONED else (False,))
    ],
)
def test_every_state_trigger_pair(state: State, trigger: Trigger, flag: bool) -> None:
    """Either the declared move happens, or the trigger is refused and the state is unchanged."""
    rig = make_rig(policy=POLICY)
    lc: Lifecycle = rig.lifecycle  # type: ignore[assignment]
    lc._machine.set_state(state.value)
    kwargs: dict[str, object] = {"reason": "test"}
    if _CONDITIONED.get(trigger) == REFRESHED:
        lc._refreshed = flag
    elif flag:  # a permanent cause, seen on the attempts in a row the policy asks for
        lc._permanent_streak = POLICY.permanent_attempts
        kwargs["cause"] = Cause.TLS_VERIFY
    before = len(rig.telemetry.named("lifecycle.transition"))
    fired = lc.fire(trigger, **kwargs)
    moves = rig.telemetry.named("lifecycle.transition")[before:]
    candidates = [
        e
        for e in edges_from(state, trigger)
        if (e.condition is None or flag) and (e.unless is None or not flag)
    ]
    if not candidates:
        assert not fired
        assert lc.current is state
        assert moves == []
    else:
        assert fired
        (edge,) = candidates
        assert (moves[0]["source"], moves[0]["trigger"], moves[0]["dest"]) == (
            edge.source.value,
            edge.trigger.value,
            edge.dest.value,
        )
