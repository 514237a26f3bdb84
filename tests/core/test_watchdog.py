"""The stall watchdog as a core timer, with injected time (no sleeping, no timing under load),
and the other lifecycle decisions the core makes: start or revive, the transport's typed link
events, and the ``connected`` sub-state (replaying / ready).

These replace the adapter's timing-based watchdog tests; one real-socket check remains
(tests/test_adapter_reconnect.py::test_stalled_feed_is_noticed_by_the_watchdog).
"""

from __future__ import annotations

import logging

import pytest

from jainam_fsm.core.backoff import BackoffPolicy
from jainam_fsm.core.lifecycle import Lifecycle
from jainam_fsm.core.machine import PHASE_MOVES, Phase, State, Trigger
from jainam_fsm.core.ports import FeedActivity, LinkEvent, LinkKind
from jainam_fsm.core.watchdog import MAX_FACTOR, StallKind, StallWatchdog
from tests.core.fakes import FakeFeed, Rig, make_rig

T = 10.0  # stall_timeout of the rigs below
#: retries after 1 s, always: a stall costs the same short trip each time
QUICK = BackoffPolicy(initial=1.0, factor=1.0, max_delay=1.0, max_attempts=10)


def rig_up(*subs: tuple[int, int, int], **kwargs: object) -> tuple[Rig, Lifecycle, FakeFeed]:
    rig = make_rig(stall_timeout=T, policy=QUICK, **kwargs)
    lc: Lifecycle = rig.lifecycle  # type: ignore[assignment]
    for key in subs or ((1, 22, 1501),):
        lc.registry.add(*key)
    assert lc.connect()
    assert lc.ready
    assert rig.feed is not None
    return rig, lc, rig.feed


def stalls(rig: Rig) -> list[dict[str, object]]:
    return [
        f
        for e, _, f in rig.telemetry.records
        if e.startswith("connection.") and (e in ("connection.stalled", "connection.undecodable"))
    ]


def lost_reasons(rig: Rig) -> list[object]:
    return [
        r["reason"]
        for r in rig.telemetry.named("lifecycle.transition")
        if r["trigger"] == "connection_lost"
    ]


def until_ready_again(rig: Rig, lc: Lifecycle) -> None:
    while not lc.ready:
        assert rig.clock.fire_next()


# -- the policy alone -------------------------------------------------------------------------


def test_silence_reaching_the_allowance_is_a_stall_and_not_a_moment_before() -> None:
    wd = StallWatchdog(T)
    quiet = FeedActivity(since=100.0)
    assert wd.check(109.999, 100.0, quiet) is None
    stall = wd.check(110.0, 100.0, quiet)
    assert stall is not None and stall.kind is StallKind.STALLED
    assert (stall.silent, stall.allowance, stall.next_allowance) == (T, T, 2 * T)
    assert stall.event == "connection.stalled"
    assert stall.fields() == {"silent_seconds": T, "allowance": T, "next_allowance": 2 * T}
    assert (wd.stalls, wd.undecodable_stalls) == (1, 0)


def test_silence_counts_from_the_later_of_watching_and_the_feeds_last_sign_of_life() -> None:
    wd = StallWatchdog(T)
    # watching began after the last tick: silence counts from watching
    assert wd.check(115.0, 106.0, FeedActivity(since=100.0, wanted=1)) is None
    # a tick after watching began: silence counts from the tick
    assert wd.check(115.0, 100.0, FeedActivity(since=106.0, wanted=1)) is None
    assert wd.check(116.0, 100.0, FeedActivity(since=106.0, wanted=1)) is not None


def test_allowance_doubles_on_empty_sockets_up_to_8x_and_resets_on_wanted_data() -> None:
    wd = StallWatchdog(T)
    seen = []
    now = 0.0
    for _ in range(6):
        stall = wd.check(now + wd.allowance, now, FeedActivity(since=now))
        assert stall is not None
        seen.append((stall.allowance, stall.next_allowance))
        now += 1000
    assert seen == [
        (T, 2 * T),
        (2 * T, 4 * T),
        (4 * T, 8 * T),
        (8 * T, 8 * T),
        (8 * T, 8 * T),
        (8 * T, 8 * T),
    ]
    assert wd.factor == MAX_FACTOR
    # wanted data on the socket: the allowance is 1x again, and a stall keeps it there
    stall = wd.check(now + T, now, FeedActivity(since=now, wanted=3))
    assert stall is not None and (stall.allowance, stall.next_allowance) == (T, T)


def test_undecodable_events_make_an_undecodable_stall_that_does_not_double() -> None:
    wd = StallWatchdog(T)
    activity = FeedActivity(since=0.0, undecodable={"xts-binary-packet": 7, "1501-json-full": 2})
    stall = wd.check(T, 0.0, activity)
    assert stall is not None and stall.kind is StallKind.UNDECODABLE
    assert stall.kind.value == "undecodable" and stall.event == "connection.undecodable"
    assert stall.next_allowance == T  # the feed talks: no backing off the watchdog
    fields = stall.fields()
    assert fields["events"] == {"xts-binary-packet": 7, "1501-json-full": 2}
    assert fields["undecodable_events"] == 9
    assert (wd.stalls, wd.undecodable_stalls) == (1, 1)


def test_next_check_is_when_the_silence_reaches_the_allowance() -> None:
    wd = StallWatchdog(T)
    assert wd.next_check(103.0, 100.0, FeedActivity(since=101.0)) == pytest.approx(8.0)
    # never a spinning timer, even at (or past) the deadline
    assert wd.next_check(200.0, 100.0, FeedActivity(since=100.0)) > 0
    wd.factor = 8
    # above 1x a wanted tick could bring the allowance down: poll, not a whole 8x away
    assert wd.next_check(103.0, 100.0, FeedActivity(since=100.0)) == wd.poll == 1.0
    # and with wanted data seen, the deadline is the 1x one
    assert wd.next_check(103.0, 100.0, FeedActivity(since=102.0, wanted=1)) == pytest.approx(9)


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), float("nan"), True, "10"])
def test_timeout_must_be_a_finite_positive_number(bad: object) -> None:
    with pytest.raises(ValueError, match="stall timeout"):
        StallWatchdog(bad)  # type: ignore[arg-type]


# -- the watchdog as a timer of the lifecycle --------------------------------------------------


def test_stalled_feed_is_noticed_exactly_at_the_allowance() -> None:
    """(Was a real-socket timing test.) Silence for ``stall_timeout`` fires connection_lost
    with reason ``stall``, the feed comes back on the next connection."""
    rig, lc, _feed = rig_up()
    assert lc.watching
    rig.clock.advance(T - 0.001)
    assert lc.current is State.CONNECTED and stalls(rig) == []
    rig.clock.advance(0.001)
    assert lc.current is State.BACKING_OFF
    assert lost_reasons(rig) == ["stall"]
    (report,) = stalls(rig)
    assert report == {"silent_seconds": T, "allowance": T, "next_allowance": 2 * T}
    level = next(lv for e, lv, _ in rig.telemetry.records if e == "connection.stalled")
    assert level == logging.WARNING
    assert not lc.watching
    until_ready_again(rig, lc)
    assert lc.watching and rig.broker.subs == {(1, 22, 1501)}
    assert lc.watchdog is not None and lc.watchdog.stalls == 1


def test_wanted_ticks_keep_a_connection_alive_indefinitely() -> None:
    rig, lc, feed = rig_up()
    for _ in range(500):
        rig.clock.advance(T * 0.99)
        feed.tick()
    assert lc.current is State.CONNECTED and stalls(rig) == []
    assert len(rig.clock.pending) == 1  # one watchdog timer, never a pile of them
    rig.clock.advance(T)
    assert lost_reasons(rig) == ["stall"]


def test_quiet_feed_backs_the_watchdog_off_until_data_flows() -> None:
    """(Was tests/test_adapter_reconnect.py::test_quiet_feed_backs_the_watchdog_off_until_data
    _flows, flaky under load: ``[0.3, 0.3, 0.6]`` seen.) A closed market: every connection is
    silent, so each allowance doubles, up to 8x; wanted data brings it back to 1x."""
    rig, lc, feed = rig_up()
    for _ in range(6):
        rig.clock.advance(lc.watchdog.allowance)  # type: ignore[union-attr]
        assert lc.current is State.BACKING_OFF
        until_ready_again(rig, lc)
    allowances = [s["allowance"] for s in stalls(rig)]
    assert allowances == [T, 2 * T, 4 * T, 8 * T, 8 * T, 8 * T]
    assert [s["next_allowance"] for s in stalls(rig)][-1] == 8 * T
    # the market opens: one wanted tick, then silence again
    rig.clock.advance(3.0)
    feed.tick()
    ticked = rig.clock.now
    while lc.current is State.CONNECTED:
        rig.clock.fire_next()
    report = stalls(rig)[-1]
    assert report["allowance"] == T  # data reset the allowance
    # noticed on time: 1x after the tick, not at the old 8x deadline
    assert rig.clock.now == pytest.approx(ticked + T)
    assert report["next_allowance"] == T


def test_undecodable_feed_is_an_error_named_by_its_events_and_reconnects() -> None:
    rig, lc, feed = rig_up()
    feed.tick()
    rig.clock.advance(2.0)
    feed.garbage("1501-json-full", 40)
    feed.garbage("xts-binary-packet", 2)
    rig.clock.advance(T)
    assert lost_reasons(rig) == ["undecodable"]
    records = [(e, lv, f) for e, lv, f in rig.telemetry.records if e == "connection.undecodable"]
    assert len(records) == 1 and stalls(rig) == [records[0][2]]
    _, level, report = records[0]
    assert level == logging.ERROR
    assert report["events"] == {"1501-json-full": 40, "xts-binary-packet": 2}
    assert report["undecodable_events"] == 42
    assert report["api"] == "json"  # the feed monitor's context
    assert report["allowance"] == report["next_allowance"] == T
    assert lc.watchdog is not None
    assert (lc.watchdog.stalls, lc.watchdog.undecodable_stalls) == (1, 1)


def test_nothing_held_by_the_server_is_not_watched_until_something_is() -> None:
    """All subscriptions refused (or none): nothing to hear, so no stall loop. Subscribing
    later starts the silence count then, not at connect."""
    rig = make_rig(stall_timeout=T, policy=QUICK)
    lc: Lifecycle = rig.lifecycle  # type: ignore[assignment]
    assert lc.connect() and lc.ready
    assert not lc.watching and not rig.clock.pending
    rig.clock.advance(10 * T)
    assert lc.current is State.CONNECTED
    lc.registry.add(1, 22, 1501)
    assert lc.sync() and lc.watching
    started = rig.clock.now
    rig.clock.advance(T)
    assert lost_reasons(rig) == ["stall"] and rig.clock.now == started + T
    until_ready_again(rig, lc)
    lc.registry.remove(1, 22, 1501)
    assert lc.sync() and not lc.watching  # the server holds nothing of ours any more


def test_the_watchdog_stops_with_the_connection() -> None:
    rig, lc, _feed = rig_up()
    assert lc.on_link(LinkEvent(LinkKind.LOST, "transport_error"))
    assert lc.current is State.BACKING_OFF and not lc.watching
    assert len(rig.clock.pending) == 1  # the backoff timer only
    rig.broker.down = True
    for _ in range(20):
        rig.clock.fire_next()
    assert stalls(rig) == []
    assert lc.fire(Trigger.SHUTDOWN) and not rig.clock.pending


def test_a_feed_monitor_that_raises_is_reported_and_the_watching_goes_on() -> None:
    rig, lc, feed = rig_up()
    feed.raises = True
    rig.clock.advance(T)
    errors = rig.telemetry.named("lifecycle.internal_error")
    assert errors and errors[0]["where"] == "feed.activity"
    assert lc.current is State.CONNECTED and lc.watching
    feed.raises = False
    rig.clock.advance(1.0)
    assert lost_reasons(rig) == ["stall"]


def test_no_watchdog_without_a_feed_monitor() -> None:
    rig = make_rig()
    lc: Lifecycle = rig.lifecycle  # type: ignore[assignment]
    lc.registry.add(1, 22, 1501)
    assert lc.connect() and lc.ready
    assert lc.watchdog is None and not lc.watching and not rig.clock.pending
    with pytest.raises(ValueError, match="feed and stall_timeout"):
        make_rig(feed=FakeFeed(rig.clock))


# -- connect(): start or revive -----------------------------------------------------------------


def test_connect_starts_from_idle_revives_from_exhausted_and_does_nothing_elsewhere() -> None:
    rig = make_rig(policy=BackoffPolicy(initial=1.0, max_attempts=2))
    lc: Lifecycle = rig.lifecycle  # type: ignore[assignment]
    lc.registry.add(1, 22, 1501)
    assert lc.connect()
    assert lc.current is State.CONNECTED
    assert not lc.connect()  # up: no second loop
    rig.broker.down = True
    lc.on_link(LinkEvent(LinkKind.LOST, "transport_error"))
    assert lc.current is State.BACKING_OFF
    due = rig.clock.next_due()
    assert not lc.connect()  # backing off: the wait is not cut short
    assert rig.clock.next_due() == due and lc.current is State.BACKING_OFF
    while lc.current is State.BACKING_OFF:
        rig.clock.fire_next()
    assert lc.current is State.EXHAUSTED
    rig.broker.down = False
    assert lc.connect()
    assert lc.current is State.CONNECTED and lc.ready
    triggers = [r["trigger"] for r in rig.telemetry.named("lifecycle.transition")]
    assert triggers[0] == "start" and "revive" in triggers
    assert triggers.count("start") == 1 and triggers.count("revive") == 1
    assert lc.fire(Trigger.SHUTDOWN)
    assert not lc.connect() and lc.current is State.SHUT_DOWN


# -- typed link events ---------------------------------------------------------------------------


def test_link_events_fire_their_triggers() -> None:
    rig, lc, _feed = rig_up()
    rig.broker.invalidate()
    rig.transport.connected = False
    assert lc.on_link(LinkEvent(LinkKind.TOKEN_REJECTED, "logout event: session replaced"))
    # refreshed once and back up, on a new token
    assert lc.current is State.CONNECTED and lc.ready and rig.broker.logins == 2
    rig.transport.connected = False
    assert lc.on_link(LinkEvent(LinkKind.LOST, "io_server_disconnect"))
    assert lc.current is State.BACKING_OFF
    moves = [(r["trigger"], r["reason"]) for r in rig.telemetry.named("lifecycle.transition")]
    assert ("token_rejected", "logout event: session replaced") in moves
    assert moves[-1] == ("connection_lost", "io_server_disconnect")
    assert not lc.on_link(LinkEvent(LinkKind.TOKEN_REJECTED, "late"))  # refused here
    assert lc.current is State.BACKING_OFF


# -- the connected sub-state ------------------------------------------------------------------


def test_phase_is_replaying_during_the_replay_then_ready_and_none_elsewhere() -> None:
    rig = make_rig(stall_timeout=T, policy=QUICK)
    lc: Lifecycle = rig.lifecycle  # type: ignore[assignment]
    lc.registry.add(1, 22, 1501)
    seen: list[tuple[State, Phase | None, bool]] = []
    subscribe = rig.transport.subscribe

    def watching_subscribe(code, instruments):  # type: ignore[no-untyped-def]
        seen.append((lc.current, lc.phase, lc.ready))
        return subscribe(code, instruments)

    rig.transport.subscribe = watching_subscribe  # type: ignore[method-assign]
    assert lc.phase is None
    lc.connect()
    assert seen == [(State.CONNECTED, Phase.REPLAYING, False)]
    assert lc.phase is Phase.READY and lc.ready
    lc.on_link(LinkEvent(LinkKind.LOST, "transport_error"))
    assert lc.phase is None and not lc.ready
    until_ready_again(rig, lc)
    assert seen[-1] == (State.CONNECTED, Phase.REPLAYING, False)
    assert lc.phase is Phase.READY


def test_the_phase_has_one_writer_that_refuses_undeclared_moves() -> None:
    _rig, lc, _feed = rig_up()
    assert (Phase.READY, Phase.REPLAYING) not in PHASE_MOVES
    with pytest.raises(AssertionError, match="undeclared phase move"):
        lc._set_phase(Phase.REPLAYING)
    assert lc.phase is Phase.READY
