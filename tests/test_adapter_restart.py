"""Restarts on a reused session (issue 12 item 1), over real sockets against the simulator.

A new adapter on the same token store reuses the stored token, so it joins the *same* XTS
session as the previous process: whatever that process left subscribed takes room there.
"""

from __future__ import annotations

import logging
import threading

import pytest

from jainam_fsm.core.ports import Refusal
from jainam_fsm.core.registry import SubKey
from tests.test_adapter_support import Harness, RecordingTelemetry, TickLog, harness, wait_for

__all__ = ["harness"]

#: Five instruments for adapter A, five others for adapter B (any subscribed id gets a walk).
FIRST = [(1, 22), (1, 467), (1, 2885), (1, 1594), (1, 11536)]
SECOND = [(1, 26000), (2, 35001), (2, 46082), (1, 3045), (1, 1333)]


def _keys(insts: list[tuple[int, int]]) -> set[SubKey]:
    return {(s, i, 1501) for s, i in insts}


@pytest.mark.parametrize("harness", [{"subscription_limit": 5}], indirect=True)
def test_a_crashed_process_leftovers_are_listed_and_removed(harness: Harness) -> None:
    """The audit's scenario, with A leaving its subscriptions behind (as a crash would):
    B lists the session, unsubscribes A's five and subscribes its own five."""
    a = harness.adapter(keep_server_subscriptions=True)
    a.connect()
    for seg, iid in FIRST:
        a.subscribe(seg, iid)
    assert a.wait_ready(15)
    assert harness.server_set() == _keys(FIRST)
    a.shutdown()
    assert harness.server_set() == _keys(FIRST)  # kept: the opt-out works
    logins = harness.sim.stats()["logins"]

    ticks = TickLog()
    tel = RecordingTelemetry()
    refusals: list[Refusal] = []
    b = harness.adapter(ticks, telemetry=tel, on_refused=refusals.append)
    for seg, iid in SECOND:
        b.subscribe(seg, iid)
    b.connect()
    ready = b.wait_ready(15)
    assert ready and ready.complete and not ready.partial
    assert harness.sim.stats()["logins"] == logins  # same session: the stored token reused
    assert harness.server_set() == _keys(SECOND)
    assert b.stats()["refused_subscriptions"] == 0 and not refusals
    assert tel.of("session.listed")[0]["undesired"] == 5
    for inst in SECOND:
        wait_for(ticks.has(2, inst), what=f"ticks of {inst}")
    assert ticks.instruments() <= set(SECOND)


@pytest.mark.parametrize("harness", [{"subscription_limit": 5}], indirect=True)
def test_a_clean_shutdown_releases_its_subscriptions(harness: Harness) -> None:
    """With the list switched off, the shutdown unsubscribe alone leaves room for B."""
    tel_a = RecordingTelemetry()
    a = harness.adapter(telemetry=tel_a, list_subscriptions=False)
    a.connect()
    for seg, iid in FIRST:
        a.subscribe(seg, iid)
    assert a.wait_ready(15)
    assert harness.server_set() == _keys(FIRST)
    a.shutdown()
    assert harness.server_set() == set()
    assert tel_a.of("shutdown.released") == [{"released": 5, "left": 0}]

    ticks = TickLog()
    b = harness.adapter(ticks, list_subscriptions=False)
    for seg, iid in SECOND:
        b.subscribe(seg, iid)
    b.connect()
    ready = b.wait_ready(15)
    assert ready.complete
    assert harness.server_set() == _keys(SECOND)
    for inst in SECOND:
        wait_for(ticks.has(2, inst), what=f"ticks of {inst}")


@pytest.mark.parametrize(
    "harness", [{"subscription_limit": 5, "subscription_list": False}], indirect=True
)
def test_refusals_are_loud_when_nothing_can_heal_them(harness: Harness) -> None:
    """No list on the server and A kept its subscriptions: B cannot know what holds the
    room. It says so: ERROR telemetry, the hook, and a partial readiness."""
    a = harness.adapter(keep_server_subscriptions=True)
    a.connect()
    for seg, iid in FIRST:
        a.subscribe(seg, iid)
    assert a.wait_ready(15)
    a.shutdown()

    tel = RecordingTelemetry()
    refusals: list[Refusal] = []
    threads: list[str] = []

    def hook(r: Refusal) -> None:
        refusals.append(r)
        threads.append(threading.current_thread().name)

    b = harness.adapter(telemetry=tel, on_refused=hook)
    b.connect()
    for seg, iid in SECOND:
        b.subscribe(seg, iid)
    b.subscribe(*FIRST[0])  # one that the session has: it is not refused
    ready = wait_for(lambda: (r := b.wait_ready(1)) and r.refused == _keys(SECOND) and r)
    assert ready and ready.partial and not ready.complete
    assert {k for r in refusals for k in r.keys} == _keys(SECOND)
    assert all("e-session-0004" in r.error for r in refusals)
    assert set(threads) == {"jainam-supervisor"}
    errors = [f for e, lvl, f in tel.events if e == "replay.refused" and lvl == logging.ERROR]
    assert sum(int(f["instruments"]) for f in errors) >= 5  # type: ignore[call-overload]
    assert b.stats()["refused_subscriptions"] == 5


def test_shutdown_release_is_bounded_when_the_server_is_slow(harness: Harness) -> None:
    """A server that answers slower than the bound: shutdown does not wait for it."""
    tel = RecordingTelemetry()
    a = harness.adapter(telemetry=tel, request_timeout=1.0)
    a.connect()
    a.subscribe(*FIRST[0])
    assert a.wait_ready(15)
    harness.sim.set_rest_delay(30.0)
    a.shutdown(timeout=10)
    released = tel.of("shutdown.released")
    assert released and released[0]["released"] == 0 and released[0]["left"] == 1
    assert "error" in released[0]
    harness.sim.set_rest_delay(0.0)
