"""``step_down`` (hot standby: leadership lost): back to idle with the registry kept, the
socket and timer gone, and the session listed again when the process leads once more.
Pure core with fake ports."""

from __future__ import annotations

import pytest

from jainam_fsm.core.machine import State, Trigger, edges_from
from jainam_fsm.core.registry import SubscriptionRegistry
from tests.core.test_session_reuse import Process, k, shared


@pytest.mark.parametrize("state", [s for s in State if s not in (State.IDLE, State.SHUT_DOWN)])
def test_step_down_is_declared_from_every_active_state(state: State) -> None:
    (edge,) = edges_from(state, Trigger.STEP_DOWN)
    assert edge.dest is State.IDLE


def test_step_down_is_refused_in_idle_and_shut_down() -> None:
    assert not edges_from(State.IDLE, Trigger.STEP_DOWN)
    assert not edges_from(State.SHUT_DOWN, Trigger.STEP_DOWN)


def test_a_stepped_down_leader_keeps_its_wants_and_reconciles_when_it_leads_again() -> None:
    broker, tokens = shared()
    a = Process(broker, tokens)
    a.want(k(1, 2, 3))
    assert a.lc.fire(Trigger.START)
    assert a.lc.ready and broker.subs == k(1, 2, 3)

    assert a.lc.fire(Trigger.STEP_DOWN, reason="standby: lease expired")
    assert a.lc.current is State.IDLE
    assert not a.transport.connected  # the socket is closed: no ticks from a follower
    assert set(a.lc.registry) == k(1, 2, 3)  # the wants are kept

    # Another process led meanwhile on the same session and changed what it holds.
    b = Process(broker, tokens)
    b.want(k(3, 4))
    assert b.lc.fire(Trigger.START)
    assert broker.subs == k(3, 4)
    b.lc.fire(Trigger.STEP_DOWN, reason="standby: lease expired")
    assert broker.logins == 1  # one session throughout

    assert a.lc.fire(Trigger.START)  # leads again: lists the session, then replays
    assert a.lc.ready
    assert broker.subs == k(1, 2, 3)
    assert broker.logins == 1


def test_step_down_from_backing_off_cancels_the_retry_timer() -> None:
    broker, tokens = shared()
    broker.down = True
    a = Process(broker, tokens)
    a.want(k(1))
    a.lc.fire(Trigger.START)
    assert a.lc.current is State.BACKING_OFF and a.clock.pending
    assert a.lc.fire(Trigger.STEP_DOWN, reason="standby: database connection lost")
    assert a.lc.current is State.IDLE
    assert not a.clock.pending
    broker.down = False
    assert a.lc.fire(Trigger.START) and a.lc.ready  # a fresh budget of attempts
    assert a.lc.backoff.attempt == 0


def test_consumer_counts_is_a_copy_with_every_consumer() -> None:
    reg = SubscriptionRegistry()
    reg.add(1, 22, 1501, "a")
    reg.add(1, 22, 1501, "a")
    reg.add(1, 22, 1501, "b")
    counts = reg.consumer_counts()
    assert counts == {(1, 22, 1501): {"a": 2, "b": 1}}
    counts[(1, 22, 1501)]["a"] = 9
    assert reg.consumer_counts()[(1, 22, 1501)]["a"] == 2
