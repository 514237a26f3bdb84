"""Reconnects of the real adapter against the simulator: every kind of link loss, the backoff
schedule, one reconnect loop only, exhaustion and revival.

Every test checks the same invariant at the end: the simulator saw exactly as many socket
connects as the adapter made (python-socketio's own reconnection is off, so a second loop
would show up as extra connects), and never more than one live socket at a time.
"""

# ruff: noqa: F811  (the harness fixture is imported, then requested by name)
from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from typing import Any

import pytest

from jainam_fsm.core.backoff import BackoffPolicy
from jainam_fsm.core.machine import State
from jainam_fsm.streaming import StreamingAdapter
from tests.test_adapter_support import (
    FAST_BACKOFF,
    A,
    B,
    FreezingProxy,
    Harness,
    RecordingTelemetry,
    SocketSampler,
    TickLog,
    harness,  # noqa: F401  (fixture)
    keys,
    wait_for,
)


def transitions(tel: RecordingTelemetry, dest: str | None = None) -> list[dict[str, object]]:
    return [t for t in tel.of("lifecycle.transition") if dest is None or t["dest"] == dest]


def assert_one_loop(h: Harness, adapter: StreamingAdapter, tel: RecordingTelemetry) -> None:
    """The simulator saw only the adapter's own connects, each from one authenticating step."""
    sim = h.sim.stats()
    ours = adapter.stats()
    assert sim["socket_connects"] == ours["socket_connects"]
    assert sim["socket_connects"] <= len(transitions(tel, "authenticating"))
    assert sim["connected_sockets"] == 1


def start_streaming(
    h: Harness, tel: RecordingTelemetry, ticks: TickLog, **cfg: Any
) -> StreamingAdapter:
    adapter = h.adapter(ticks, telemetry=tel, **cfg)
    adapter.subscribe(*A)
    adapter.subscribe(*B)
    adapter.connect()
    assert adapter.wait_ready(10)
    wait_for(lambda: ticks.count(A) and ticks.count(B), what="first ticks")
    return adapter


def ticks_resume(ticks: TickLog, since: float, n: int = 3) -> None:
    for inst in (A, B):
        wait_for(ticks.has(n, inst, since), what=f"ticks of {inst} after reconnect")


def test_reconnects_after_transport_error(harness: Harness) -> None:
    tel, ticks = RecordingTelemetry(), TickLog()
    with SocketSampler(harness.sim) as sampler:
        adapter = start_streaming(harness, tel, ticks)
        assert harness.sim.sever() >= 1
        wait_for(lambda: adapter.stats()["socket_connects"] == 2, what="second socket")
        assert adapter.wait_ready(10)
        ticks_resume(ticks, time.monotonic())
    lost = transitions(tel, "backing_off")
    assert [t["reason"] for t in lost] == ["transport_error"]
    assert harness.server_set() == keys(A, B)
    assert_one_loop(harness, adapter, tel)
    assert sampler.samples > 0 and sampler.max_sockets == 1


def test_reconnects_after_server_disconnect(harness: Harness) -> None:
    tel, ticks = RecordingTelemetry(), TickLog()
    with SocketSampler(harness.sim) as sampler:
        adapter = start_streaming(harness, tel, ticks)
        assert harness.sim.disconnect_all() == 1
        wait_for(lambda: adapter.stats()["socket_connects"] == 2, what="second socket")
        assert adapter.wait_ready(10)
        ticks_resume(ticks, time.monotonic())
    assert [t["reason"] for t in transitions(tel, "backing_off")] == ["server_disconnect"]
    assert harness.server_set() == keys(A, B)
    assert_one_loop(harness, adapter, tel)
    assert sampler.max_sockets == 1


def test_failed_connects_retry_with_policy_delays_until_server_is_back(harness: Harness) -> None:
    tel, ticks = RecordingTelemetry(), TickLog()
    policy = BackoffPolicy(initial=0.05, factor=2.0, max_delay=0.4, max_attempts=30)
    with SocketSampler(harness.sim) as sampler:
        adapter = start_streaming(harness, tel, ticks, backoff=policy)
        port = harness.sim.port
        harness.sim.go_down(1.5)  # comes back by itself, on the same port
        wait_for(lambda: adapter.stats()["socket_connects"] == 2, timeout=15, what="reconnect")
        assert adapter.wait_ready(10)
        ticks_resume(ticks, time.monotonic())
        assert harness.sim.port == port
    scheduled = tel.of("reconnect.scheduled")
    # Several connects failed while the server was down: each one a scheduled retry.
    assert len(scheduled) >= 4
    assert [s["attempt"] for s in scheduled] == list(range(1, len(scheduled) + 1))
    assert [s["delay"] for s in scheduled] == [
        round(policy.base_delay(n), 3) for n in range(1, len(scheduled) + 1)
    ]
    assert all(str(s["reason"]).startswith("connect_failed") for s in scheduled[1:])
    assert adapter.stats()["attempt"] == 0  # reset once connected and reconciled
    assert_one_loop(harness, adapter, tel)
    assert sampler.max_sockets == 1

    # The schedule starts over after a success.
    before = len(scheduled)
    harness.sim.sever()
    wait_for(lambda: adapter.stats()["socket_connects"] == 3, what="third socket")
    assert adapter.wait_ready(10)
    again = tel.of("reconnect.scheduled")[before:]
    assert [(s["attempt"], s["delay"]) for s in again] == [(1, 0.05)]
    assert_one_loop(harness, adapter, tel)


def test_a_storm_of_faults_still_runs_one_loop(harness: Harness) -> None:
    """Faults landing while the adapter is already backing off or reconnecting."""
    tel, ticks = RecordingTelemetry(), TickLog()
    with SocketSampler(harness.sim) as sampler:
        adapter = start_streaming(harness, tel, ticks)
        for round_ in range(3):
            # Two faults back to back: the second one lands while the adapter is backing
            # off or reconnecting (or on the fresh socket), never on a second loop.
            connects = adapter.stats()["socket_connects"]
            harness.sim.sever()
            harness.sim.disconnect_all()
            harness.sim.sever()
            wait_for(
                lambda: adapter.stats()["socket_connects"] > connects,
                what=f"reconnect after round {round_}",
            )
        assert adapter.wait_ready(10)
        ticks_resume(ticks, time.monotonic())
    assert harness.server_set() == keys(A, B)
    assert_one_loop(harness, adapter, tel)
    assert sampler.max_sockets == 1


@pytest.mark.parametrize("harness", [dict(ping_interval=1.0, ping_timeout=1.0)], indirect=True)
def test_reconnects_after_heartbeat_timeout(harness: Harness) -> None:
    """A half-dead link (no data, no Engine.IO pings) is noticed by the heartbeat timeout.

    The simulator cannot stop answering pings by itself (``stall`` keeps pings going), so a
    proxy between the adapter and the simulator black-holes the open connection. The stall
    watchdog is set far out (30 s), so only python-engineio's ping timeout (interval +
    timeout = 2 s) can end the socket.
    """
    proxy = FreezingProxy(harness.sim.port).start()
    try:
        tel, ticks = RecordingTelemetry(), TickLog()
        adapter = start_streaming(
            harness, tel, ticks, base_url=f"http://127.0.0.1:{proxy.port}/apimarketdata"
        )
        assert proxy.freeze() >= 1
        frozen_at = time.monotonic()
        wait_for(lambda: transitions(tel, "backing_off"), timeout=10, what="heartbeat timeout")
        noticed = time.monotonic() - frozen_at
        assert adapter.wait_ready(10)
        ticks_resume(ticks, time.monotonic())
        assert [t["reason"] for t in transitions(tel, "backing_off")] == ["transport_error"]
        assert tel.count("connection.stalled") == 0
        assert noticed < 8.0
        assert harness.server_set() == keys(A, B)
        assert adapter.stats()["socket_connects"] == 2
    finally:
        harness.close()
        proxy.stop()


def test_stalled_feed_is_noticed_by_the_watchdog(harness: Harness) -> None:
    """End to end over real sockets: a feed that stays connected (pings go on) but goes mute
    is found by the lifecycle's stall watchdog, which reconnects; ticks flow again.

    Only the wiring is checked here, with generous deadlines and nothing about timing: the
    policy (when a stall is due, the 1x..8x allowance, wanted data, undecodable events) is
    tested with injected time in tests/core/test_watchdog.py and the property tests.
    """
    tel, ticks = RecordingTelemetry(), TickLog()
    adapter = start_streaming(harness, tel, ticks, stall_timeout=0.5)
    harness.sim.stall()  # sockets stay up and pings go on: only the data watchdog notices
    wait_for(lambda: tel.count("connection.stalled"), timeout=30, what="stall detected")
    harness.sim.unstall()
    assert adapter.wait_ready(30)
    ticks_resume(ticks, time.monotonic())
    lost = transitions(tel, "backing_off")
    assert lost and {t["reason"] for t in lost} == {"stall"}
    stall = tel.of("connection.stalled")[0]
    assert stall["allowance"] == 0.5  # the first socket: 1x
    assert adapter.stats()["stalls"] == len(lost) == tel.count("connection.stalled")
    assert adapter.stats()["undecodable_stalls"] == 0
    assert harness.server_set() == keys(A, B)
    assert_one_loop(harness, adapter, tel)


def test_exhausted_after_attempts_spent_then_revived_by_connect(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="jainam_fsm")
    tel, ticks = RecordingTelemetry(), TickLog()
    reasons: list[str] = []
    called = threading.Event()

    def on_exhausted(reason: str) -> None:
        reasons.append(reason)
        called.set()

    policy = replace(FAST_BACKOFF, max_attempts=3)
    adapter = harness.adapter(ticks, telemetry=tel, on_exhausted=on_exhausted, backoff=policy)
    adapter.subscribe(*A)
    adapter.connect()
    assert adapter.wait_ready(10)
    sim_before = harness.sim.stats()
    harness.sim.go_down()  # until come_up()
    assert adapter.wait_state(State.EXHAUSTED, 10)
    assert called.wait(5)
    assert len(reasons) == 1 and "3 attempts spent" in reasons[0]
    assert adapter.stats()["exhausted_reason"] == reasons[0]
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert critical and all(r.name.startswith("jainam_fsm") for r in critical)
    assert any("exhausted" in r.getMessage() for r in critical)
    scheduled = tel.of("reconnect.scheduled")
    assert [s["attempt"] for s in scheduled] == [1, 2, 3]
    assert len(transitions(tel, "authenticating")) == 1 + 3

    # No further attempt, even once the server is back: the machine waits for connect().
    harness.sim.come_up()
    attempts = len(transitions(tel, "authenticating"))
    deadline = time.monotonic() + 0.6  # 12 x the first delay: a retry would have happened
    while time.monotonic() < deadline:
        assert adapter.state() is State.EXHAUSTED
        assert len(transitions(tel, "authenticating")) == attempts
        time.sleep(0.02)
    now = harness.sim.stats()
    assert now["socket_connects"] == sim_before["socket_connects"]
    assert now["logins"] == sim_before["logins"]
    assert len(reasons) == 1

    adapter.connect()  # revive: a fresh budget of attempts
    assert adapter.wait_ready(10)
    since = time.monotonic()
    wait_for(lambda: ticks.count(A, since) >= 3, what="ticks after revival")
    assert adapter.stats()["exhausted_reason"] is None
    assert harness.sim.stats()["socket_connects"] == sim_before["socket_connects"] + 1
    assert harness.server_set() == keys(A)


def test_repeated_connect_calls_start_no_second_loop(harness: Harness) -> None:
    tel, ticks = RecordingTelemetry(), TickLog()
    policy = BackoffPolicy(initial=1.0, max_delay=1.0, max_attempts=5)
    adapter = harness.adapter(ticks, telemetry=tel, backoff=policy)
    adapter.subscribe(*A)
    callers = [threading.Thread(target=adapter.connect) for _ in range(5)]
    for t in callers:
        t.start()
    for t in callers:
        t.join(5)
    assert adapter.wait_ready(10)
    adapter.connect()
    assert adapter.wait_ready(10)
    stats = harness.sim.stats()
    assert (stats["logins"], stats["socket_connects"]) == (1, 1)
    assert len(transitions(tel, "authenticating")) == 1

    # connect() while backing off neither cuts the wait short nor adds an attempt.
    harness.sim.sever()
    assert adapter.wait_state(State.BACKING_OFF, 5)
    for _ in range(5):
        adapter.connect()
    assert adapter._supervisor.wait_until(adapter._supervisor.idle, 5)
    assert adapter.state() is State.BACKING_OFF
    assert len(transitions(tel, "authenticating")) == 1
    wait_for(lambda: adapter.stats()["socket_connects"] == 2, what="the one scheduled retry")
    assert adapter.wait_ready(10)
    assert len(transitions(tel, "authenticating")) == 2
    assert_one_loop(harness, adapter, tel)
