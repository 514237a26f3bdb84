"""Scenario tests of the lifecycle with fake ports and a fake clock (no sleeping)."""

from __future__ import annotations

import logging

import pytest

from jainam_fsm.core.backoff import BackoffPolicy
from jainam_fsm.core.lifecycle import Lifecycle
from jainam_fsm.core.machine import State, Trigger
from tests.core.fakes import make_rig


def lc_of(rig) -> Lifecycle:  # type: ignore[no-untyped-def]
    return rig.lifecycle  # type: ignore[no-any-return]


def test_start_reuses_token_connects_and_replays() -> None:
    rig = make_rig()
    lc = lc_of(rig)
    lc.registry.add(1, 2885, 1501)
    lc.registry.add(1, 22, 1512)
    assert lc.fire(Trigger.START)
    assert lc.current is State.CONNECTED and lc.ready
    assert rig.broker.subs == {(1, 2885, 1501), (1, 22, 1512)}
    assert rig.broker.logins == 1
    moves = [(r["source"], r["dest"]) for r in rig.telemetry.named("lifecycle.transition")]
    assert moves == [("idle", "authenticating"), ("authenticating", "connected")]


def test_backoff_schedule_then_exhausted_and_revive() -> None:
    rig = make_rig()
    lc = lc_of(rig)
    lc.fire(Trigger.START)
    rig.broker.down = True
    rig.transport.connected = False
    lc.fire(Trigger.CONNECTION_LOST, reason="transport_error")
    delays = []
    while lc.current is State.BACKING_OFF:
        delays.append(rig.clock.next_due() - rig.clock.now)  # type: ignore[operator]
        rig.clock.fire_next()
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]
    assert lc.current is State.EXHAUSTED
    assert rig.exhausted and "10 attempts spent" in rig.exhausted[0]
    crit = [r for r in rig.telemetry.records if r[1] == logging.CRITICAL]
    assert len(crit) == 1 and crit[0][0] == "lifecycle.exhausted"
    opens = rig.broker.opens
    assert not rig.clock.pending
    rig.clock.advance(3600)
    assert rig.broker.opens == opens  # no further attempt
    rig.broker.down = False
    assert lc.fire(Trigger.REVIVE)
    assert lc.current is State.CONNECTED and lc.backoff.attempt == 0


def test_attempt_counter_resets_only_after_replay() -> None:
    rig = make_rig()
    lc = lc_of(rig)
    lc.registry.add(1, 1, 1501)
    lc.fire(Trigger.START)
    rig.transport.connected = False
    lc.fire(Trigger.CONNECTION_LOST, reason="transport_error")
    assert lc.backoff.attempt == 1
    # The socket comes up but the replay fails: the counter must not reset.
    original = rig.transport.subscribe
    lc.registry.add(1, 2, 1501)

    def failing(code, instruments):  # type: ignore[no-untyped-def]
        rig.transport.connected = False
        raise __import__("jainam_fsm.errors").errors.TransportFailure("reset by peer")

    rig.transport.subscribe = failing  # type: ignore[method-assign]
    rig.clock.fire_next()
    assert lc.current is State.BACKING_OFF and lc.backoff.attempt == 2
    rig.transport.subscribe = original  # type: ignore[method-assign]
    rig.clock.fire_next()
    assert lc.current is State.CONNECTED and lc.backoff.attempt == 0


def test_token_rejected_refreshes_exactly_once_then_backs_off() -> None:
    rig = make_rig()
    lc = lc_of(rig)
    lc.fire(Trigger.START)
    assert rig.broker.logins == 1
    # Server invalidates; every new token is rejected too (a lying server).
    rig.transport.connected = False
    rig.broker.invalidate()
    real_login = rig.broker.login

    def login_then_invalidate() -> str:
        tok = real_login()
        rig.broker.valid_token = None
        return tok

    rig.broker.login = login_then_invalidate  # type: ignore[method-assign]
    lc.fire(Trigger.CONNECTION_LOST, reason="server_disconnect")
    rig.clock.fire_next()
    # retry: stored token rejected at socket -> one refresh (login) -> rejected again -> back off
    assert lc.current is State.BACKING_OFF
    assert rig.broker.logins == 2
    assert rig.tokens.refreshes == 1


def test_credentials_rejected_goes_straight_to_exhausted() -> None:
    rig = make_rig()
    lc = lc_of(rig)
    rig.broker.credentials_ok = False
    lc.fire(Trigger.START)
    assert lc.current is State.EXHAUSTED
    assert rig.exhausted == ["credentials_rejected"]
    assert rig.broker.opens == 0 and not rig.clock.pending


def test_shutdown_mid_backoff_cancels_timer_and_clears_registry() -> None:
    rig = make_rig()
    lc = lc_of(rig)
    lc.registry.add(1, 1, 1501)
    lc.fire(Trigger.START)
    rig.transport.connected = False
    lc.fire(Trigger.CONNECTION_LOST, reason="stall")
    assert rig.clock.pending
    assert lc.fire(Trigger.SHUTDOWN)
    assert lc.current is State.SHUT_DOWN
    assert not rig.clock.pending and len(lc.registry) == 0
    assert not lc.fire(Trigger.SHUTDOWN)  # terminal: refused, state unchanged
    assert not lc.fire(Trigger.START)
    assert lc.current is State.SHUT_DOWN


def test_jitter_stays_within_bounds() -> None:
    rig = make_rig(policy=BackoffPolicy(jitter=1.0), rand=lambda: 0.999)
    lc = lc_of(rig)
    lc.fire(Trigger.START)
    rig.transport.connected = False
    lc.fire(Trigger.CONNECTION_LOST, reason="transport_error")
    (rec,) = rig.telemetry.named("reconnect.scheduled")
    assert 0 <= rec["delay"] <= 1.0  # type: ignore[operator]


def test_unknown_trigger_is_refused() -> None:
    rig = make_rig()
    lc = lc_of(rig)
    assert not lc.fire("bogus")
    assert lc.current is State.IDLE


@pytest.mark.parametrize("keep", [False, True])
def test_new_session_reconciles_everything(keep: bool) -> None:
    rig = make_rig()
    rig.broker.keep_subscriptions_on_login = keep
    lc = lc_of(rig)
    for i in range(120):
        lc.registry.add(2, i, 1502)
    lc.fire(Trigger.START)
    assert all(len(ins) <= 50 for _, ins in rig.broker.subscribe_requests)
    rig.broker.invalidate()
    rig.transport.connected = False
    lc.fire(Trigger.CONNECTION_LOST, reason="server_disconnect")
    rig.clock.fire_next()
    assert lc.ready
    assert rig.broker.subs == set(lc.registry.keys())
    assert rig.broker.duplicate_requests == []
    replays = rig.telemetry.named("replay")
    if keep:
        assert replays[-1]["already"] == 120
    else:
        assert replays[-1]["subscribed"] == 120


def test_limit_refusal_splits_the_batch_so_what_fits_is_subscribed() -> None:
    from jainam_fsm.errors import SubscriptionRejected

    rig = make_rig()
    lc = lc_of(rig)
    limit = 7
    real = rig.transport.subscribe

    def limited(code, instruments):  # type: ignore[no-untyped-def]
        if len(rig.broker.subs) + len(instruments) > limit:
            rig.broker.subscribe_requests.append((code, tuple(instruments)))
            raise SubscriptionRejected("Subscription limit exceeded", code="e-session-0004")
        return real(code, instruments)

    rig.transport.subscribe = limited  # type: ignore[method-assign]
    for i in range(10):
        lc.registry.add(1, i, 1501)
    lc.fire(Trigger.START)
    assert lc.ready
    assert len(rig.broker.subs) == limit
    assert len(lc.refused_subscriptions) == 3
    assert lc.refused_subscriptions.isdisjoint(rig.broker.subs)
    assert len(rig.broker.subscribe_requests) <= 2 * 10
    (rec,) = [r for r in rig.telemetry.named("replay") if r["reason"] == "connect"]
    assert rec["subscribed"] == 7 and rec["refused"] == 3


def test_refused_subscriptions_are_retried_when_room_is_freed() -> None:
    from jainam_fsm.errors import SubscriptionRejected

    rig = make_rig()
    lc = lc_of(rig)
    real = rig.transport.subscribe

    def limited(code, instruments):  # type: ignore[no-untyped-def]
        if len(rig.broker.subs) + len(instruments) > 3:
            raise SubscriptionRejected("Subscription limit exceeded", code="e-session-0004")
        return real(code, instruments)

    rig.transport.subscribe = limited  # type: ignore[method-assign]
    for i in range(4):
        lc.registry.add(1, i, 1501)
    lc.fire(Trigger.START)
    assert len(rig.broker.subs) == 3 and len(lc.refused_subscriptions) == 1
    (refused,) = lc.refused_subscriptions
    other = next(k for k in rig.broker.subs if k != refused)
    lc.registry.remove(*other)
    assert lc.sync()
    assert rig.broker.subs == set(lc.registry.keys())  # the freed slot went to the refused one
    assert lc.refused_subscriptions == frozenset()


def test_foreign_exception_text_stays_out_of_telemetry() -> None:
    rig = make_rig()
    lc = lc_of(rig)

    def boom(token):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret=hunter2-do-not-log")

    rig.transport.open = boom  # type: ignore[method-assign]
    lc.fire(Trigger.START)
    assert lc.current is State.BACKING_OFF
    assert "hunter2" not in repr(rig.telemetry.records)
    assert rig.telemetry.named("lifecycle.internal_error")[0]["error"] == "RuntimeError"


def test_a_refusal_is_reported_once_per_replay_even_when_retried() -> None:
    from jainam_fsm.errors import SubscriptionRejected

    rig = make_rig()
    lc = lc_of(rig)
    real = rig.transport.subscribe

    def limited(code, instruments):  # type: ignore[no-untyped-def]
        if len(rig.broker.subs) + len(instruments) > 2:
            raise SubscriptionRejected("Subscription limit exceeded", code="e-session-0004")
        return real(code, instruments)

    rig.transport.subscribe = limited  # type: ignore[method-assign]
    lc.registry.add(1, 1, 1501)
    lc.registry.add(1, 2, 1501)
    lc.fire(Trigger.START)
    # one unsubscribe and two new wants in one replay: the freed slot is retried in-replay
    lc.registry.remove(1, 1, 1501)
    lc.registry.add(1, 3, 1501)
    lc.registry.add(1, 4, 1501)
    assert lc.sync()
    last = rig.telemetry.named("replay")[-1]
    refused_records = [r for r in rig.telemetry.named("replay.refused")]
    assert last["refused"] == len(lc.refused_subscriptions) == 1
    assert sum(int(r["instruments"]) for r in refused_records) == 1  # type: ignore[call-overload]
    assert rig.broker.subs == set(lc.registry.keys()) - lc.refused_subscriptions
