"""Hypothesis drives the pure core through random drop/recover sequences, with the stall
watchdog on (wanted ticks, undecodable events and silences of random length) and the host's
``connect()`` and the transport's typed link events among the rules.

Profiles: ``ci`` (default: 300 examples x up to 60 steps, derandomized) and ``thorough``
(10x the examples): ``HYPOTHESIS_PROFILE=thorough pytest tests/core``.
"""

from __future__ import annotations

import itertools
import logging
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from jainam_fsm.core.backoff import BackoffPolicy
from jainam_fsm.core.causes import Cause, is_permanent
from jainam_fsm.core.lifecycle import Lifecycle
from jainam_fsm.core.machine import (
    CONNECT_TRIGGERS,
    LINK_TRIGGERS,
    PERMANENT,
    REFRESHED,
    TRANSITIONS,
    Phase,
    State,
    Trigger,
    edges_from,
)
from jainam_fsm.core.ports import LinkEvent, LinkKind
from jainam_fsm.core.watchdog import MAX_FACTOR
from tests.core.fakes import SECRET, FakeFeed, RecordingTelemetry, Rig, make_rig

DECLARED = {(e.source.value, e.trigger.value, e.dest.value) for e in TRANSITIONS}
POLICY = BackoffPolicy(initial=1.0, factor=2.0, max_delay=8.0, max_attempts=4)
#: stall_timeout of the property rig: of the order of the backoff delays and time_passes steps
STALL = 5.0
ALLOWANCES = {STALL * 2**k for k in range(MAX_FACTOR.bit_length())}
STALL_EVENTS = ("connection.stalled", "connection.undecodable")


def watch_since(lc: Lifecycle) -> float:
    """When the watchdog began watching the current connection."""
    assert lc.stall_timer is not None
    return lc.stall_timer.since


class StallLog(RecordingTelemetry):
    """Also notes, at each stall report, the clock and what the feed had seen by then."""

    def __init__(self) -> None:
        super().__init__()
        self.rig: Rig | None = None
        #: (level, now, silence start, wanted on the socket, garbled, wanted ticks so far)
        self.stalls: list[tuple[int, float, float, int, bool, int]] = []

    def emit(self, event: str, level: int, fields: dict[str, object]) -> None:
        super().emit(event, level, fields)
        if event in STALL_EVENTS and self.rig is not None:
            feed = self.rig.feed
            lc: Lifecycle = self.rig.lifecycle  # type: ignore[assignment]
            assert feed is not None
            self.stalls.append(
                (
                    level,
                    self.rig.clock.now,
                    max(feed.since, watch_since(lc)),
                    feed.wanted,
                    bool(feed.undecodable),
                    feed.total,
                )
            )


segments = st.sampled_from([1, 2, 11])
instruments = st.integers(min_value=1, max_value=6)
codes = st.sampled_from([1501, 1502, 1512])
consumers = st.sampled_from(["a", "b", "c"])


class LifecycleMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.rig: Rig = make_rig(policy=POLICY, batch=3, stall_timeout=STALL)
        self.lc: Lifecycle = self.rig.lifecycle  # type: ignore[assignment]
        self.log = StallLog()
        self.rig.telemetry = self.log
        self.lc._telemetry = self.log
        self.log.rig = self.rig
        assert self.rig.feed is not None
        self.feed: FakeFeed = self.rig.feed
        self.stalls_checked = 0
        #: the allowance the next socket was promised by the last stall report
        self.promised = STALL
        #: wanted ticks so far at the last stall checked
        self.ticks_at_stall = 0
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

    @initialize(streaming=st.booleans())
    def begin(self, streaming: bool) -> None:
        """Half the runs begin with a stream up and subscribed (so the watchdog is in play
        from the first step), half from a fresh ``idle`` machine."""
        if streaming:
            self.lc.registry.add(1, 1, 1501, "a")
            assert self.lc.connect() and self.lc.watching

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
    def connect(self) -> None:
        """The host's connect(): the core picks start (idle), revive (exhausted) or nothing."""
        before = self.lc.current
        seen = len(self.log.named("lifecycle.transition"))
        fired = self.lc.connect()
        moves = self.log.named("lifecycle.transition")[seen:]
        expected = CONNECT_TRIGGERS.get(before)
        if expected is None:
            assert not fired and moves == [] and self.lc.current is before
        else:
            assert fired and moves[0]["trigger"] == expected.value
            assert moves[0]["source"] == before.value

    @rule()
    def shutdown(self) -> None:
        self.lc.fire(Trigger.SHUTDOWN)

    # -- network events
    @rule(reason=st.sampled_from(["transport_error", "io_server_disconnect", "socket error: x"]))
    def drop(self, reason: str) -> None:
        if self.rig.transport.connected:
            self.rig.transport.connected = False
        self._link(LinkEvent(LinkKind.LOST, reason))

    @rule()
    def logout(self) -> None:
        """The server ends the session (a ``logout`` event, or an ``error`` naming the token)."""
        self.rig.broker.invalidate()
        if self.rig.transport.connected:
            self.rig.transport.connected = False
        self._link(LinkEvent(LinkKind.TOKEN_REJECTED, "logout event: session replaced"))

    def _link(self, event: LinkEvent) -> None:
        before = self.lc.current
        allowed = self.lc.can_fire(LINK_TRIGGERS[event.kind])
        seen = len(self.log.named("lifecycle.transition"))
        assert self.lc.on_link(event) is allowed
        moves = self.log.named("lifecycle.transition")[seen:]
        if allowed:
            assert moves[0]["trigger"] == LINK_TRIGGERS[event.kind].value
            assert moves[0]["source"] == before.value
        else:
            assert moves == [] and self.lc.current is before

    @precondition(lambda self: self.rig.transport.connected)
    @rule()
    def wanted_tick(self) -> None:
        self.feed.tick()

    @precondition(lambda self: self.rig.transport.connected)
    @rule(name=st.sampled_from(["1501-json-full", "xts-binary-packet"]), n=st.integers(1, 5))
    def undecodable_event(self, name: str, n: int) -> None:
        self.feed.garbage(name, n)

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

    @precondition(lambda self: self.lc.watching)
    @rule(factor=st.sampled_from([0.5, 1.0, 1.0, 2.0, 4.0, 8.0, 9.0]))
    def silence(self, factor: float) -> None:
        """The feed goes quiet for a multiple of the stall timeout (the watchdog's concern)."""
        self.rig.clock.advance(STALL * factor)

    @precondition(lambda self: self.lc.watching)
    @rule(
        sockets=st.lists(
            st.sampled_from(["silent", "silent", "garbled", "ticked", "late_tick"]),
            min_size=1,
            max_size=8,
        )
    )
    def quiet_market(self, sockets: list[str]) -> None:
        """Connections one after another, each heard nothing (``silent``: the allowance
        climbs), only what decodes to nothing (``garbled``: it stays), or a wanted tick early
        or late in its allowance (``ticked``, ``late_tick``: it drops back to 1x), then is
        found stalled and replaced."""
        for kind in sockets:
            if not self.lc.watching:
                return
            if kind == "garbled":
                self.feed.garbage("xts-binary-packet", 3)
            elif kind in ("ticked", "late_tick"):
                due = min(t.due for t in self.rig.clock.pending)
                wait = due - self.rig.clock.now
                self.rig.clock.advance(wait / 2 if kind == "ticked" else wait * 0.99)
                if not self.lc.watching:
                    return
                self.wanted_tick()
            while self.lc.watching:
                self.rig.clock.fire_next()
            while self.lc.current is State.BACKING_OFF:
                self.rig.clock.fire_next()

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
        elif self.lc.current is State.CONNECTED:
            assert len(self.rig.clock.pending) == int(self.lc.watching)
        else:
            assert not self.rig.clock.pending

    @invariant()
    def the_watchdog_watches_every_ready_connection_and_is_never_late(self) -> None:
        lc, wd = self.lc, self.lc.watchdog
        assert wd is not None
        held = bool(lc.server_subscriptions)
        assert lc.watching == (lc.ready and held)
        assert lc.phase is (None if lc.current is not State.CONNECTED else lc.phase)
        if lc.current is State.CONNECTED and lc.phase is Phase.READY:
            assert lc.ready
        if lc.watching:
            (timer,) = self.rig.clock.pending
            since = max(watch_since(lc), self.feed.since)
            factor = 1 if self.feed.wanted else wd.factor
            assert self.rig.clock.now <= timer.due <= since + STALL * factor + 1e-6

    @invariant()
    def stall_reports_follow_the_policy(self) -> None:
        reports = [(e, f) for e, _, f in self.log.records if e in STALL_EVENTS]
        assert len(reports) == len(self.log.stalls)
        wd = self.lc.watchdog
        assert wd is not None and wd.stalls == len(reports)
        assert wd.undecodable_stalls == sum(1 for e, _ in reports if e == STALL_EVENTS[1])
        for (event, fields), (level, now, since, wanted, garbled, ticks) in list(
            zip(reports, self.log.stalls, strict=True)
        )[self.stalls_checked :]:
            allowance = fields["allowance"]
            assert isinstance(allowance, float) and allowance in ALLOWANCES
            # never early, never late: a stall is found when the silence reaches the allowance
            assert now - since == pytest.approx(allowance, abs=1e-6)
            assert fields["silent_seconds"] == pytest.approx(allowance, abs=0.0011)
            # between two stalls the allowance only changes back to 1x, and only for data
            assert allowance in (self.promised, STALL)
            if allowance != self.promised:
                assert ticks > self.ticks_at_stall
            if wanted:
                assert allowance == STALL
            if garbled:
                assert event == "connection.undecodable" and level == logging.ERROR
                assert fields["events"] and fields["next_allowance"] == allowance
                assert fields["undecodable_events"] == sum(fields["events"].values())  # type: ignore[union-attr]
            else:
                assert event == "connection.stalled" and level == logging.WARNING
                doubled = allowance if wanted else min(STALL * MAX_FACTOR, 2 * allowance)
                assert fields["next_allowance"] == doubled
            self.promised = fields["next_allowance"]  # type: ignore[assignment]
            self.ticks_at_stall = ticks
        self.stalls_checked = len(reports)
        reasons = [
            r["reason"]
            for r in self.log.named("lifecycle.transition")
            if r["reason"] in ("stall", "undecodable")
        ]
        assert reasons == [
            "stall" if e == "connection.stalled" else "undecodable" for e, _ in reports
        ]

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


QUICK = BackoffPolicy(initial=1.0, factor=1.0, max_delay=1.0, max_attempts=3)


@settings(settings.get_profile(PROFILE if PROFILE != "default" else "ci"), max_examples=200)
@given(
    timeout=st.sampled_from([0.3, 5.0, 60.0]),
    sockets=st.lists(
        st.tuples(
            st.sampled_from(["silent", "garbled", "ticked"]),
            st.floats(min_value=0.01, max_value=0.99),
        ),
        min_size=1,
        max_size=16,
    ),
)
def test_stall_allowance_follows_its_model_over_many_sockets(
    timeout: float, sockets: list[tuple[str, float]]
) -> None:
    """Socket after socket, against a model of the policy: a silent socket doubles the next
    allowance (at most 8x), an undecodable one keeps it, a wanted tick brings it back to 1x;
    each stall is found exactly when the silence reaches the allowance, never before."""
    rig = make_rig(stall_timeout=timeout, policy=QUICK)
    lc: Lifecycle = rig.lifecycle  # type: ignore[assignment]
    feed = rig.feed
    assert feed is not None
    lc.registry.add(1, 22, 1501)
    assert lc.connect() and lc.watching
    factor = 1
    for n, (kind, at) in enumerate(sockets, start=1):
        started = rig.clock.now
        assert lc.watching
        if kind == "ticked":
            rig.clock.advance(at * timeout * factor)  # a tick before the allowance runs out
            assert lc.watching
            feed.tick()
            due, allowance = rig.clock.now + timeout, timeout
        else:
            if kind == "garbled":
                feed.garbage("xts-binary-packet", 2)
            due, allowance = started + timeout * factor, timeout * factor
        while lc.watching:
            assert rig.clock.fire_next()
        assert rig.clock.now == pytest.approx(due, abs=1e-6)
        event, level, report = [r for r in rig.telemetry.records if r[0] in STALL_EVENTS][-1]
        assert report["allowance"] == pytest.approx(allowance)
        if kind == "silent":
            factor = min(MAX_FACTOR, factor * 2)
        elif kind == "ticked":
            factor = 1
        assert report["next_allowance"] == pytest.approx(timeout * factor)
        assert (event == "connection.undecodable") == (kind == "garbled")
        assert level == (logging.ERROR if kind == "garbled" else logging.WARNING)
        assert lc.watchdog is not None and lc.watchdog.stalls == n
        while not lc.ready:
            assert rig.clock.fire_next()
