"""The core's part of named causes: reading a cause off an exception chain, and what the
lifecycle does about a permanent one (fake ports, fake clock)."""

from __future__ import annotations

import logging

from jainam_fsm.core.backoff import BackoffPolicy
from jainam_fsm.core.causes import PERMANENT, Cause, cause_in, cause_of, is_permanent
from jainam_fsm.core.lifecycle import Lifecycle
from jainam_fsm.core.machine import State, Trigger
from jainam_fsm.errors import TokenUnavailable, TransportFailure
from tests.core.fakes import Rig, make_rig


def test_cause_of_walks_the_chain() -> None:
    inner = TransportFailure("login failed", cause=Cause.DNS)
    try:
        try:
            raise inner
        except TransportFailure as exc:
            raise TokenUnavailable(f"login failed: {exc}") from exc
    except TokenUnavailable as outer:
        assert cause_of(outer) is Cause.DNS
    assert cause_of(TransportFailure("x")) is Cause.OTHER
    assert cause_of(ValueError("x")) is Cause.OTHER
    assert cause_of(None) is Cause.OTHER


def test_permanent_set_and_reason_tags() -> None:
    assert {
        Cause.TLS_VERIFY,
        Cause.SCHEME_MISMATCH,
        Cause.NOT_SOCKETIO,
        Cause.NOT_XTS,
    } == PERMANENT
    assert not is_permanent(None) and not is_permanent(Cause.TIMEOUT)
    assert is_permanent("tls_verify")
    assert cause_in("3 attempts spent; last: connect_failed [refused]: x") is Cause.REFUSED
    assert cause_in("a [note] then replay_failed [timeout]: y") is Cause.TIMEOUT
    assert cause_in("credentials_rejected") is None
    assert cause_in("unclosed [bracket") is None


def _failing(cause: Cause | None, **policy: object) -> tuple[Rig, Lifecycle]:
    rig = make_rig(policy=BackoffPolicy(**policy))  # type: ignore[arg-type]
    lc: Lifecycle = rig.lifecycle  # type: ignore[assignment]
    rig.broker.down = True
    rig.broker.down_cause = cause
    return rig, lc


def _run_out(rig: Rig, lc: Lifecycle) -> None:
    while lc.current is State.BACKING_OFF:
        rig.clock.fire_next()


def test_permanent_cause_is_error_then_gives_up_on_confirmation() -> None:
    rig, lc = _failing(Cause.TLS_VERIFY)
    lc.fire(Trigger.START)
    assert lc.current is State.BACKING_OFF
    ((_, level, fields),) = [r for r in rig.telemetry.records if r[0] == "reconnect.scheduled"]
    assert level == logging.ERROR and fields["cause"] == "tls_verify" and fields["permanent"]
    rig.clock.fire_next()
    assert lc.current is State.EXHAUSTED and rig.broker.opens == 2
    assert lc.exhausted_cause is Cause.TLS_VERIFY
    assert rig.exhausted[0].startswith("permanent failure [tls_verify] on 2 attempts in a row")
    assert "connect_failed [tls_verify]" in rig.exhausted[0]
    (rec,) = rig.telemetry.named("lifecycle.exhausted")
    assert rec["cause"] == "tls_verify" and rec["permanent"] is True
    # revive: a fresh streak, so one more confirming retry before giving up again
    assert lc.fire(Trigger.REVIVE)
    assert lc.current is State.BACKING_OFF and lc.exhausted_cause is None


def test_transient_cause_spends_the_budget() -> None:
    rig, lc = _failing(Cause.REFUSED, max_attempts=4)
    lc.fire(Trigger.START)
    _run_out(rig, lc)
    assert lc.current is State.EXHAUSTED and rig.broker.opens == 5
    assert rig.exhausted[0].startswith("4 attempts spent; last: connect_failed [refused]: ")
    levels = [lvl for e, lvl, _ in rig.telemetry.records if e == "reconnect.scheduled"]
    assert levels == [logging.WARNING] * 4
    assert lc.exhausted_cause is Cause.REFUSED


def test_permanent_attempts_above_the_budget_keeps_backing_off_loudly() -> None:
    rig, lc = _failing(Cause.NOT_SOCKETIO, max_attempts=3, permanent_attempts=5)
    lc.fire(Trigger.START)
    _run_out(rig, lc)
    assert rig.broker.opens == 4
    assert rig.exhausted[0].startswith("3 attempts spent; last: connect_failed [not_socketio]")
    levels = [lvl for e, lvl, _ in rig.telemetry.records if e == "reconnect.scheduled"]
    assert levels == [logging.ERROR] * 3


def test_a_transient_failure_breaks_the_streak() -> None:
    rig, lc = _failing(Cause.SCHEME_MISMATCH, max_attempts=10)
    lc.fire(Trigger.START)  # permanent, streak 1
    rig.broker.down_cause = Cause.TIMEOUT
    rig.clock.fire_next()  # transient: streak 0
    rig.broker.down_cause = Cause.SCHEME_MISMATCH
    rig.clock.fire_next()  # streak 1 again: backs off
    assert lc.current is State.BACKING_OFF
    rig.clock.fire_next()  # streak 2: gives up
    assert lc.current is State.EXHAUSTED and rig.broker.opens == 4


def test_permanent_attempts_one_gives_up_at_the_first_failure() -> None:
    rig, lc = _failing(Cause.NOT_XTS, permanent_attempts=1)
    lc.fire(Trigger.START)
    assert lc.current is State.EXHAUSTED and rig.broker.opens == 1
    assert not rig.telemetry.named("reconnect.scheduled")


def test_success_resets_the_streak() -> None:
    rig, lc = _failing(Cause.TLS_VERIFY)
    lc.fire(Trigger.START)  # streak 1
    rig.broker.down = False
    rig.clock.fire_next()
    assert lc.current is State.CONNECTED
    rig.broker.down = True
    rig.transport.connected = False
    lc.fire(Trigger.CONNECTION_LOST, reason="server_disconnect")
    rig.clock.fire_next()  # permanent again, but streak 1 after the success: backs off
    assert lc.current is State.BACKING_OFF
