"""Subscriptions of the real adapter against the simulator: after every reconnect the server's
set equals the desired set, requests are batched and never duplicated, unsubscribed
instruments stop reaching the consumer at once, and unsubscribing never drops the feed.
"""

# ruff: noqa: F811  (the harness fixture is imported, then requested by name)
from __future__ import annotations

import asyncio
import threading
import time

import pytest

from jainam_fsm.core.machine import State
from jainam_fsm.streaming import AsyncStreamingAdapter
from jainam_fsm.xts.ticks import Tick
from tests.test_adapter_support import (
    A,
    B,
    C,
    D,
    Harness,
    RecordingTelemetry,
    TickLog,
    harness,  # noqa: F401  (fixture)
    keys,
    token_factory,
    wait_for,
)


def test_subscribe_and_unsubscribe_while_connected_are_applied_at_once(harness: Harness) -> None:
    ticks = TickLog()
    adapter = harness.adapter(ticks)
    adapter.subscribe(*A)
    adapter.connect()
    assert adapter.wait_ready(10)
    assert harness.server_set() == keys(A)
    assert adapter.subscribe(*B) is True
    assert adapter.subscribe(*B) is False  # already wanted: no request
    assert adapter.wait_ready(10)
    assert harness.server_set() == keys(A, B)
    assert adapter.unsubscribe(*A) is True
    assert adapter.wait_ready(10)
    assert harness.server_set() == keys(B)
    stats = harness.sim.stats()
    assert (stats["subscribe_requests"], stats["unsubscribe_requests"]) == (2, 1)
    assert stats["already_subscribed"] == 0 and stats["unsubscribe_not_subscribed"] == 0


def test_changes_made_while_down_are_reconciled_on_reconnect(harness: Harness) -> None:
    """Subscribed-while-down gets subscribed; unsubscribed-while-down gets unsubscribed."""
    tel, ticks = RecordingTelemetry(), TickLog()
    adapter = harness.adapter(ticks, telemetry=tel)
    for inst in (A, B, C):
        adapter.subscribe(*inst)
    adapter.connect()
    assert adapter.wait_ready(10)
    harness.sim.go_down()  # the session (and its subscriptions) survives on the server
    assert adapter.wait_state(State.BACKING_OFF, 10)
    adapter.unsubscribe(*B)
    adapter.subscribe(*D)
    before = harness.sim.stats()
    harness.sim.come_up()
    wait_for(lambda: adapter.stats()["socket_connects"] == 2, what="reconnect")
    assert adapter.wait_ready(10)
    assert harness.server_set() == keys(A, C, D)
    after = harness.sim.stats()
    # One request each way, nothing re-sent for A and C.
    assert after["subscribe_requests"] - before["subscribe_requests"] == 1
    assert after["unsubscribe_requests"] - before["unsubscribe_requests"] == 1
    assert after["already_subscribed"] == 0
    replay = [r for r in tel.of("replay") if r["reason"] == "reconnect"]
    assert replay and replay[-1]["subscribed"] == 1 and replay[-1]["unsubscribed"] == 1
    since = time.monotonic()
    wait_for(lambda: ticks.count(D, since) >= 3, what="ticks of the new instrument")
    assert ticks.count(B, since) == 0


def test_a_server_that_forgot_everything_gets_every_subscription_again(harness: Harness) -> None:
    ticks = TickLog()
    adapter = harness.adapter(ticks)
    for inst in (A, B, C):
        adapter.subscribe(*inst)
    adapter.connect()
    assert adapter.wait_ready(10)
    harness.sim.restart()  # sessions and subscriptions gone; the stored token is now invalid
    wait_for(lambda: adapter.stats()["socket_connects"] == 2, what="reconnect")
    assert adapter.wait_ready(10)
    assert harness.server_set() == keys(A, B, C)
    assert harness.sim.stats()["logins"] == 2
    since = time.monotonic()
    for inst in (A, B, C):
        wait_for(ticks.has(2, inst, since), what=f"ticks of {inst}")


@pytest.mark.parametrize("harness", [dict(keep_subscriptions_on_login=True)], indirect=True)
def test_already_subscribed_counts_as_success(harness: Harness) -> None:
    """A new login that keeps the old session's subscriptions answers e-session-0002."""
    tel, ticks = RecordingTelemetry(), TickLog()
    adapter = harness.adapter(ticks, telemetry=tel)
    adapter.subscribe(*A)
    adapter.subscribe(*B)
    adapter.connect()
    assert adapter.wait_ready(10)
    harness.sim.invalidate_tokens(disconnect=True)  # logout event -> one refresh
    wait_for(lambda: harness.sim.stats()["logins"] == 2, what="refresh login")
    wait_for(lambda: adapter.stats()["socket_connects"] == 2, what="reconnect")
    assert adapter.wait_ready(10)
    stats = harness.sim.stats()
    assert stats["already_subscribed"] >= 1
    replay = tel.of("replay")[-1]
    assert replay["already"] == 2 and replay["subscribed"] == 0 and replay["refused"] == 0
    assert adapter.stats()["refused_subscriptions"] == 0
    # e-session-0002 carries no snapshot: one quotes request per batch refilled it
    assert adapter.stats()["snapshot_refills"] >= 1
    assert adapter.state() is State.CONNECTED
    assert harness.server_set() == keys(A, B)
    since = time.monotonic()
    wait_for(lambda: ticks.count(A, since) >= 2 and ticks.count(B, since) >= 2, what="ticks")


@pytest.mark.parametrize("harness", [dict(subscription_limit=500, rate=2.0)], indirect=True)
def test_120_instruments_go_in_batches_of_at_most_50_without_duplicates(
    harness: Harness,
) -> None:
    wanted = [(1, 100_000 + n) for n in range(120)]
    adapter = harness.adapter()
    for inst in wanted:
        adapter.subscribe(*inst)
    adapter.connect()
    assert adapter.wait_ready(10)
    assert harness.server_set() == keys(*wanted)
    stats = harness.sim.stats()
    assert stats["max_subscribe_batch"] <= 50
    assert sorted(stats["subscribe_batch_sizes"]) == [20, 50, 50]
    assert stats["already_subscribed"] == 0

    # Same token after a transport error: the server still has them all, nothing is re-sent.
    harness.sim.sever()
    wait_for(lambda: adapter.stats()["socket_connects"] == 2, what="reconnect")
    assert adapter.wait_ready(10)
    assert harness.sim.stats()["subscribe_requests"] == 3

    # A server that forgot them: all 120 again, still in batches of <= 50.
    harness.sim.restart()
    wait_for(lambda: adapter.stats()["socket_connects"] == 3, what="reconnect after restart")
    assert adapter.wait_ready(10)
    assert harness.server_set() == keys(*wanted)
    stats = harness.sim.stats()
    assert stats["max_subscribe_batch"] <= 50
    assert sorted(stats["subscribe_batch_sizes"]) == [20, 20, 50, 50, 50, 50]

    # Unsubscribing 120 goes in batches too.
    for inst in wanted:
        adapter.unsubscribe(*inst)
    assert adapter.wait_ready(10)
    wait_for(lambda: not harness.server_set(), what="all unsubscribed")
    stats = harness.sim.stats()
    assert stats["max_unsubscribe_batch"] <= 50
    assert sum(stats["unsubscribe_batch_sizes"]) == 120
    assert stats["unsubscribe_not_subscribed"] == 0


def test_no_tick_of_an_unsubscribed_instrument_reaches_the_consumer(harness: Harness) -> None:
    """Even ticks already queued for delivery when unsubscribe() returns are held back.

    The consumer is blocked so the delivery queue fills with ticks of both instruments;
    then B is unsubscribed and the consumer released.
    """
    log = TickLog()
    gate = threading.Event()

    def slow_consumer(tick: Tick) -> None:
        log(tick)  # stamped before blocking: a tick blocked here was delivered earlier
        gate.wait(10)

    adapter = harness.adapter(slow_consumer)
    adapter.subscribe(*A)
    adapter.subscribe(*B)
    adapter.connect()
    assert adapter.wait_ready(10)
    wait_for(lambda: adapter.stats()["queue_depth"] >= 20, what="a backlog of ticks")
    disconnects = (adapter.stats()["socket_disconnects"], harness.sim.stats()["socket_disconnects"])
    assert adapter.unsubscribe(*B) is True
    unsubscribed_at = time.monotonic()
    gate.set()
    wait_for(lambda: log.count(A, unsubscribed_at) >= 20, what="ticks of A keep flowing")
    assert log.count(B, unsubscribed_at) == 0
    assert adapter.wait_ready(10)
    assert harness.server_set() == keys(A)
    assert adapter.stats()["ticks_discarded_unsubscribed"] > 0
    # The feed was never dropped for it.
    assert (
        adapter.stats()["socket_disconnects"],
        harness.sim.stats()["socket_disconnects"],
    ) == disconnects


def test_unsubscribing_never_disconnects_the_feed(harness: Harness) -> None:
    ticks = TickLog()
    adapter = harness.adapter(ticks)
    for inst in (A, B, C):
        adapter.subscribe(*inst)
    adapter.connect()
    assert adapter.wait_ready(10)
    sim_before = harness.sim.stats()
    adapter.unsubscribe(*B)
    assert adapter.wait_ready(10)
    since = time.monotonic()
    wait_for(lambda: ticks.count(A, since) >= 5 and ticks.count(C, since) >= 5, what="ticks")
    assert ticks.count(B, since) == 0
    # Even the last one: the socket stays up, ready for the next subscribe.
    adapter.unsubscribe(*A)
    adapter.unsubscribe(*C)
    assert adapter.wait_ready(10)
    assert harness.server_set() == set()
    adapter.subscribe(*D)
    assert adapter.wait_ready(10)
    since = time.monotonic()
    wait_for(lambda: ticks.count(D, since) >= 3, what="ticks of D")
    sim_after = harness.sim.stats()
    assert sim_after["socket_disconnects"] == sim_before["socket_disconnects"]
    assert sim_after["socket_connects"] == sim_before["socket_connects"] == 1
    stats = adapter.stats()
    assert (stats["socket_connects"], stats["socket_disconnects"]) == (1, 0)
    assert stats["state"] == "connected"


async def test_async_adapter_hands_out_no_tick_of_an_unsubscribed_instrument(
    harness: Harness,
) -> None:
    """The asyncio API has a second queue (on the host loop): same guarantee there."""
    feed = AsyncStreamingAdapter(harness.config(), token_source=token_factory(harness.store))
    async with feed:
        feed.subscribe(*A)
        feed.subscribe(*B)
        assert await feed.wait_ready(10)
        async with asyncio.timeout(10):  # nobody iterates yet: ticks of A and B pile up
            while feed._queue.qsize() < 20:
                await asyncio.sleep(0.01)
        assert feed.unsubscribe(*B) is True
        got: list[tuple[int, int]] = []
        async with asyncio.timeout(10):
            while got.count(A) < 20:
                tick = await feed.__anext__()
                got.append((tick.exchange_segment, tick.instrument_id))
        assert B not in got
        assert feed.stats()["async_queue_discarded_unsubscribed"] > 0


def test_the_server_is_told_only_when_the_last_consumer_leaves(harness: Harness) -> None:
    ticks = TickLog()
    adapter = harness.adapter(ticks)
    assert adapter.subscribe(*A, consumer="chart") is True
    assert adapter.subscribe(*A, consumer="strategy") is False
    adapter.connect()
    assert adapter.wait_ready(10)
    assert adapter.unsubscribe(*A, consumer="chart") is False
    assert adapter.wait_ready(10)
    since = time.monotonic()
    wait_for(lambda: ticks.count(A, since) >= 3, what="ticks for the remaining consumer")
    assert harness.sim.stats()["unsubscribe_requests"] == 0
    assert harness.server_set() == keys(A)
    assert adapter.unsubscribe(*A, consumer="strategy") is True
    assert adapter.wait_ready(10)
    assert harness.server_set() == set()
    assert harness.sim.stats()["unsubscribe_requests"] == 1


@pytest.mark.parametrize("harness", [{"subscription_limit": 500, "rate": 2.0}], indirect=True)
def test_a_burst_of_subscribes_while_connected_sends_each_instrument_once(
    harness: Harness,
) -> None:
    """120 subscribe() calls from 4 threads while connected: no instrument asked twice."""
    adapter = harness.adapter()
    adapter.subscribe(*A)
    adapter.connect()
    assert adapter.wait_ready(10)
    wanted = [(2, 200_000 + n) for n in range(120)]

    def burst(part: list[tuple[int, int]]) -> None:
        for inst in part:
            adapter.subscribe(*inst)

    threads = [threading.Thread(target=burst, args=(wanted[n::4],)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert adapter.wait_ready(10)
    assert harness.server_set() == keys(A, *wanted)
    stats = harness.sim.stats()
    assert stats["max_subscribe_batch"] <= 50
    assert sum(stats["subscribe_batch_sizes"]) == 121  # A, then each of the 120 once
    assert stats["already_subscribed"] == 0


def test_snapshot_never_overtakes_newer_live_ticks(harness: Harness) -> None:
    """Over a slow link the subscribe answer (with its snapshot) arrives after the stream has
    started: the older snapshot must not be delivered after live ticks of that instrument."""
    import asyncio

    seen: dict[tuple[int, int], list[object]] = {}

    def on_tick(t: Tick) -> None:
        # The simulator's SequenceNumber grows with every step of an instrument's walk.
        seen.setdefault((t.exchange_segment, t.instrument_id), []).append(t.sequence_number)

    adapter = harness.adapter(on_tick)
    adapter.subscribe(*A)
    adapter.connect()
    assert adapter.wait_ready(10)
    real = adapter._rest.subscribe

    async def slow_answer(*args: object, **kwargs: object) -> object:
        result = await real(*args, **kwargs)  # type: ignore[arg-type]
        await asyncio.sleep(0.3)  # the answer travels slowly; the stream already flows
        return result

    adapter._rest.subscribe = slow_answer  # type: ignore[method-assign]
    for inst in (B, C, D):
        adapter.subscribe(*inst)
    assert adapter.wait_ready(10)
    wait_for(lambda: all(len(seen.get(i, [])) >= 3 for i in (B, C, D)), what="ticks")
    assert adapter.stats()["snapshots_skipped"] >= 1
    for inst in (B, C, D):
        times = seen[inst]
        assert times == sorted(times), f"{inst} went back in time: {times[:6]}"
