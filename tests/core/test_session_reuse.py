"""A reused session (same stored token, a new process): listing, shutdown release, refusals,
readiness. Pure core with fake ports; Hypothesis where the space is larger than examples."""

from __future__ import annotations

import logging

from hypothesis import given
from hypothesis import strategies as st

from jainam_fsm.core.lifecycle import Lifecycle
from jainam_fsm.core.machine import State, Trigger
from jainam_fsm.core.ports import Refusal
from jainam_fsm.core.registry import SubKey, SubscriptionRegistry
from jainam_fsm.errors import TokenRejected, TransportFailure
from tests.core.fakes import (
    FakeBroker,
    FakeClock,
    FakeTokenSource,
    FakeTransport,
    RecordingTelemetry,
)


class Process:
    """One 'process': a lifecycle on the shared broker and the shared token store."""

    def __init__(self, broker: FakeBroker, tokens: FakeTokenSource, **kwargs: object) -> None:
        self.transport = FakeTransport(broker)
        self.telemetry = RecordingTelemetry()
        self.refusals: list[Refusal] = []
        self.clock = FakeClock()
        self.lc = Lifecycle(
            registry=SubscriptionRegistry(),
            tokens=tokens,
            transport=self.transport,
            clock=self.clock,
            telemetry=self.telemetry,
            on_refused=self.refusals.append,
            **kwargs,  # type: ignore[arg-type]
        )

    def want(self, keys: set[SubKey]) -> None:
        for seg, iid, code in sorted(keys):
            self.lc.registry.add(seg, iid, code)


def k(*ids: int, code: int = 1501) -> set[SubKey]:
    return {(1, i, code) for i in ids}


def shared(limit: int = 5, **broker: object) -> tuple[FakeBroker, FakeTokenSource]:
    b = FakeBroker(limit=limit, **broker)  # type: ignore[arg-type]
    return b, FakeTokenSource(b)


def test_leftovers_of_a_previous_process_are_listed_and_unsubscribed() -> None:
    broker, tokens = shared()
    a = Process(broker, tokens, release_on_shutdown=False)
    a.want(k(1, 2, 3, 4, 5))
    a.lc.fire(Trigger.START)
    a.lc.fire(Trigger.SHUTDOWN)
    assert broker.subs == k(1, 2, 3, 4, 5)  # kept (opt-out)

    b = Process(broker, tokens)
    b.want(k(6, 7, 8, 9, 10))
    b.lc.fire(Trigger.START)
    assert broker.logins == 1  # the stored token: the same session
    assert broker.subs == k(6, 7, 8, 9, 10)
    r = b.lc.readiness()
    assert r and r.complete and not r.partial and not b.refusals
    assert b.telemetry.named("session.listed") == [{"subscriptions": 5, "undesired": 5}]
    # Unsubscribes went first: they free the room the subscribes need.
    assert broker.unsubscribe_requests and not broker.released


def test_listed_and_desired_are_kept_not_unsubscribed() -> None:
    broker, tokens = shared()
    a = Process(broker, tokens, release_on_shutdown=False)
    a.want(k(1, 2, 3))
    a.lc.fire(Trigger.START)
    a.lc.fire(Trigger.SHUTDOWN)
    b = Process(broker, tokens)
    b.want(k(2, 3, 4))
    b.lc.fire(Trigger.START)
    assert broker.subs == k(2, 3, 4)
    gone = {(s, i, c) for c, insts in broker.unsubscribe_requests for s, i in insts}
    assert gone == k(1)


def test_listing_happens_once_per_session_not_per_socket() -> None:
    broker, tokens = shared()
    p = Process(broker, tokens)
    p.want(k(1))
    p.lc.fire(Trigger.START)
    assert broker.list_requests == 1
    p.transport.connected = False
    p.lc.fire(Trigger.CONNECTION_LOST, reason="transport_error")
    p.clock.fire_next()
    assert p.lc.current is State.CONNECTED
    assert broker.list_requests == 1  # same token: the set is known
    broker.invalidate()
    p.transport.connected = False
    p.lc.fire(Trigger.TOKEN_REJECTED, reason="logout")
    assert p.lc.current is State.CONNECTED and broker.logins == 2
    assert broker.list_requests == 2  # a new session: unknown again


def test_shutdown_releases_what_we_hold_within_the_bound() -> None:
    broker, tokens = shared(limit=0)
    p = Process(broker, tokens, batch=2, release_timeout=1.5)
    p.want(k(1, 2, 3))
    p.lc.fire(Trigger.START)
    p.lc.fire(Trigger.SHUTDOWN)
    assert broker.subs == set()
    assert [len(insts) for _, insts, _ in broker.released] == [2, 1]
    assert all(0 < t <= 1.5 for _, _, t in broker.released)
    assert p.telemetry.named("shutdown.released") == [{"released": 3, "left": 0}]
    assert p.transport.closes >= 1 and not p.transport.connected


def test_shutdown_release_is_best_effort_and_only_from_connected() -> None:
    broker, tokens = shared(limit=0, release_fails=True)
    p = Process(broker, tokens)
    p.want(k(1, 2))
    p.lc.fire(Trigger.START)
    assert p.lc.fire(Trigger.SHUTDOWN)
    assert p.lc.current is State.SHUT_DOWN
    [rec] = [(lvl, f) for e, lvl, f in p.telemetry.records if e == "shutdown.released"]
    assert (
        rec[0] == logging.WARNING
        and rec[1]["left"] == 2
        and "TransportFailure" in str(rec[1]["error"])
    )
    broker2, tokens2 = shared(limit=0)
    q = Process(broker2, tokens2)
    q.want(k(1))
    broker2.down = True
    q.lc.fire(Trigger.START)
    assert q.lc.current is State.BACKING_OFF
    q.lc.fire(Trigger.SHUTDOWN)
    assert not broker2.released  # nothing held, nothing to release


def test_zero_release_timeout_releases_nothing() -> None:
    broker, tokens = shared(limit=0)
    p = Process(broker, tokens, release_timeout=0)
    p.want(k(1))
    p.lc.fire(Trigger.START)
    p.lc.fire(Trigger.SHUTDOWN)
    assert not broker.released and broker.subs == k(1)
    assert p.telemetry.named("shutdown.released")[0]["error"] == "timeout"


def test_without_a_list_refusals_are_loud_and_readiness_partial() -> None:
    broker, tokens = shared(lists=False)
    a = Process(broker, tokens, release_on_shutdown=False)
    a.want(k(1, 2, 3, 4, 5))
    a.lc.fire(Trigger.START)
    a.lc.fire(Trigger.SHUTDOWN)
    b = Process(broker, tokens)
    b.want(k(6, 7) | k(1))
    b.lc.fire(Trigger.START)
    r = b.lc.readiness()
    assert r and r.partial and not r.complete and r.refused == k(6, 7)
    assert {key for ref in b.refusals for key in ref.keys} == k(6, 7)
    assert all("e-session-0004" in ref.error for ref in b.refusals)
    errors = [f for e, lvl, f in b.telemetry.records if e == "replay.refused"]
    assert errors and all(
        lvl == logging.ERROR for e, lvl, _ in b.telemetry.records if e == "replay.refused"
    )
    # Nobody wants them any more: no longer reported as refused.
    b.lc.registry.remove(1, 6, 1501)
    b.lc.registry.remove(1, 7, 1501)
    b.lc.sync()
    assert b.lc.readiness().complete


def test_a_failing_refusal_hook_does_not_break_the_replay() -> None:
    broker, tokens = shared(limit=1)
    transport = FakeTransport(broker)
    tel = RecordingTelemetry()

    def boom(r: Refusal) -> None:
        raise RuntimeError("consumer bug")

    lc = Lifecycle(
        registry=SubscriptionRegistry(),
        tokens=tokens,
        transport=transport,
        clock=FakeClock(),
        telemetry=tel,
        on_refused=boom,
    )
    lc.registry.add(1, 1, 1501)
    lc.registry.add(1, 2, 1501)
    lc.fire(Trigger.START)
    assert lc.ready and lc.readiness().partial
    assert tel.named("lifecycle.internal_error")[0]["where"] == "on_refused"


def test_not_ready_readiness_is_falsy() -> None:
    broker, tokens = shared()
    p = Process(broker, tokens)
    r = p.lc.readiness()
    assert not r and not r.partial and not r.complete


def test_a_failing_list_never_keeps_the_stream_down() -> None:
    """The list is hygiene: a failure is reported and the replay goes on; the next connect
    of the same session asks again."""
    broker, tokens = shared()
    p = Process(broker, tokens)
    p.want(k(1))
    real = p.transport.list_subscriptions
    calls = {"n": 0}

    def flaky() -> frozenset[SubKey] | None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise TransportFailure("HTTP 502")
        if calls["n"] == 2:
            raise RuntimeError("port bug")
        return real()

    p.transport.list_subscriptions = flaky  # type: ignore[method-assign]
    p.lc.fire(Trigger.START)
    assert p.lc.current is State.CONNECTED and p.lc.readiness().complete and broker.subs == k(1)
    unlisted = [(lvl, f) for e, lvl, f in p.telemetry.records if e == "session.unlisted"]
    assert unlisted == [(logging.WARNING, {"error": "TransportFailure: HTTP 502"})]
    for _ in range(2):  # a socket reconnect, same session: listed again until it works
        p.transport.connected = False
        p.lc.fire(Trigger.CONNECTION_LOST, reason="transport_error")
        p.clock.fire_next()
        assert p.lc.current is State.CONNECTED
    assert calls["n"] == 3
    assert p.telemetry.named("lifecycle.internal_error")[0]["where"] == "list_subscriptions"
    assert len(p.telemetry.named("session.listed")) == 1


def test_a_rejected_token_while_listing_refreshes_it() -> None:
    broker, tokens = shared()
    p = Process(broker, tokens)
    p.want(k(1))
    real_list = p.transport.list_subscriptions
    calls = {"n": 0}

    def rejecting() -> frozenset[SubKey] | None:
        calls["n"] += 1
        if calls["n"] == 1:
            p.transport.connected = False  # the fake allows one socket at a time
            raise TokenRejected("Invalid Token")
        return real_list()

    p.transport.list_subscriptions = rejecting  # type: ignore[method-assign]
    p.lc.fire(Trigger.START)
    assert p.lc.current is State.CONNECTED and broker.subs == k(1)
    assert broker.logins == 2 and tokens.refreshes == 1 and calls["n"] == 2


ids = st.integers(min_value=1, max_value=12)


@given(
    left=st.sets(ids, max_size=8),
    desired=st.sets(ids, max_size=5),
    keep=st.booleans(),
    lists=st.booleans(),
)
def test_restart_ends_with_server_set_equal_desired(
    left: set[int], desired: set[int], keep: bool, lists: bool
) -> None:
    """Whatever A left (kept or released), B ends with exactly its desired set when the
    server lists; without a list, only A's release can make room, and a refusal is loud."""
    broker, tokens = shared(limit=8, lists=lists)
    a = Process(broker, tokens, release_on_shutdown=not keep)
    a.want(k(*left))
    a.lc.fire(Trigger.START)
    a.lc.fire(Trigger.SHUTDOWN)
    b = Process(broker, tokens)
    b.want(k(*desired))
    b.lc.fire(Trigger.START)
    r = b.lc.readiness()
    assert r.ready
    if lists or not keep:
        assert broker.subs == k(*desired) and r.complete
    else:
        assert k(*desired) - broker.subs == r.refused
        assert r.complete or {key for ref in b.refusals for key in ref.keys} == r.refused
