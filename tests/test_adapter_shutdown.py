"""Shutdown of the real adapter: idempotent, from every state and from a tick callback, fast
during a long backoff wait, and leaving no thread, socket or file descriptor behind.
"""

# ruff: noqa: F811  (the harness fixture is imported, then requested by name)
from __future__ import annotations

import os
import threading
import time

import pytest

from jainam_fsm.core.backoff import BackoffPolicy
from jainam_fsm.core.machine import State
from jainam_fsm.streaming import AdapterShutDown, StreamingAdapter
from jainam_fsm.xts.ticks import Tick
from tests.test_adapter_support import (
    A,
    B,
    Harness,
    adapter_threads,
    harness,  # noqa: F401  (fixture)
    wait_for,
)

UNIVERSE = [(1, 22), (1, 467), (1, 2885), (1, 1594), (1, 11536), (1, 26000)]
#: A bound, not a benchmark: shutdown must not wait for a backoff delay or a slow request.
FAST = 2.0


def assert_shut_down(adapter: StreamingAdapter, h: Harness) -> None:
    assert adapter.state() is State.SHUT_DOWN
    assert len(adapter.registry) == 0
    assert adapter_threads() == []
    wait_for(lambda: h.sim.stats()["connected_sockets"] == 0, what="socket closed")
    # Idempotent, and fast the second time.
    started = time.monotonic()
    adapter.shutdown()
    adapter.shutdown()
    assert time.monotonic() - started < FAST
    with pytest.raises(AdapterShutDown):
        adapter.connect()
    with pytest.raises(AdapterShutDown):
        adapter.subscribe(*A)


def timed_shutdown(adapter: StreamingAdapter) -> float:
    started = time.monotonic()
    adapter.shutdown()
    return time.monotonic() - started


def test_shutdown_from_idle_never_connected(harness: Harness) -> None:
    adapter = harness.adapter()
    adapter.subscribe(*A)
    assert timed_shutdown(adapter) < FAST
    assert_shut_down(adapter, harness)
    assert harness.sim.stats()["logins"] == 0


def test_shutdown_when_connected(harness: Harness) -> None:
    adapter = harness.adapter()
    adapter.subscribe(*A)
    adapter.subscribe(*B)
    adapter.connect()
    assert adapter.wait_ready(10)
    assert harness.sim.stats()["connected_sockets"] == 1
    assert adapter_threads()
    assert timed_shutdown(adapter) < FAST
    assert_shut_down(adapter, harness)


def test_shutdown_while_authenticating_with_a_slow_server(harness: Harness) -> None:
    harness.sim.set_rest_delay(20.0)  # the login hangs
    adapter = harness.adapter(request_timeout=30.0)
    adapter.subscribe(*A)
    adapter.connect()
    assert adapter.wait_state(State.AUTHENTICATING, 5)
    wait_for(lambda: harness.sim.stats()["rest_in_flight"] == 1, what="login in flight")
    assert timed_shutdown(adapter) < FAST
    assert_shut_down(adapter, harness)
    harness.sim.set_rest_delay(0)


def test_shutdown_in_the_middle_of_a_30_s_backoff_wait(harness: Harness) -> None:
    policy = BackoffPolicy(initial=30.0, max_delay=30.0, max_attempts=3)
    adapter = harness.adapter(backoff=policy)
    adapter.subscribe(*A)
    adapter.connect()
    assert adapter.wait_ready(10)
    harness.sim.sever()
    assert adapter.wait_state(State.BACKING_OFF, 5)
    assert timed_shutdown(adapter) < FAST
    assert_shut_down(adapter, harness)
    assert adapter.stats()["socket_connects"] == 1


def test_shutdown_when_exhausted(harness: Harness) -> None:
    harness.sim.reject_credentials()
    adapter = harness.adapter()
    adapter.subscribe(*A)
    adapter.connect()
    assert adapter.wait_state(State.EXHAUSTED, 10)
    assert timed_shutdown(adapter) < FAST
    assert_shut_down(adapter, harness)


def test_shutdown_from_inside_a_tick_callback(harness: Harness) -> None:
    seen: list[Tick] = []
    adapter: StreamingAdapter | None = None
    returned = threading.Event()

    def on_tick(tick: Tick) -> None:
        seen.append(tick)
        if len(seen) == 1:
            assert adapter is not None
            adapter.shutdown()  # must not deadlock by joining its own thread
            returned.set()

    adapter = harness.adapter(on_tick)
    # Several instruments: their subscribe snapshots arrive together, so more ticks are
    # already queued (in the same delivery batch) when the callback shuts down.
    for inst in UNIVERSE:
        adapter.subscribe(*inst)
    adapter.connect()
    assert returned.wait(10)
    wait_for(lambda: adapter_threads() == [], what="adapter threads to end")
    assert len(seen) == 1  # nothing delivered after the shutdown
    assert_shut_down(adapter, harness)


def test_concurrent_shutdowns_all_return(harness: Harness) -> None:
    adapter = harness.adapter()
    adapter.subscribe(*A)
    adapter.connect()
    assert adapter.wait_ready(10)
    threads = [threading.Thread(target=adapter.shutdown) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(FAST * 2)
        assert not t.is_alive()
    assert_shut_down(adapter, harness)


def test_context_manager_shuts_down(harness: Harness) -> None:
    with harness.adapter() as adapter:
        adapter.subscribe(*A)
        adapter.connect()
        assert adapter.wait_ready(10)
    assert_shut_down(adapter, harness)


def _fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_100_connect_shutdown_cycles_leak_no_thread_or_fd(harness: Harness) -> None:
    def cycle() -> None:
        adapter = harness.adapter()
        adapter.subscribe(*A)
        adapter.connect()
        assert adapter.wait_ready(10)
        adapter.shutdown()
        harness.adapters.remove(adapter)

    cycle()  # warm up: lazily created things (the SQLite file, imports, DNS caches)
    wait_for(lambda: harness.sim.stats()["connected_sockets"] == 0, what="warm-up socket closed")
    threads, fds = threading.active_count(), _fd_count()
    for _ in range(100):
        cycle()
    wait_for(lambda: harness.sim.stats()["connected_sockets"] == 0, what="last socket closed")
    assert adapter_threads() == []
    assert threading.active_count() - threads <= 2, [t.name for t in threading.enumerate()]
    assert _fd_count() - fds <= 2
    stats = harness.sim.stats()
    assert stats["logins"] == 1  # the stored token was reused 100 times
    assert stats["socket_connects"] == 101


def test_shutdown_while_a_subscribe_request_hangs(harness: Harness) -> None:
    adapter = harness.adapter(request_timeout=30.0)
    adapter.subscribe(*A)
    adapter.connect()
    assert adapter.wait_ready(10)
    harness.sim.set_rest_delay(20.0)
    adapter.subscribe(*B)
    wait_for(lambda: harness.sim.stats()["rest_in_flight"] == 1, what="subscribe in flight")
    assert timed_shutdown(adapter) < FAST
    assert_shut_down(adapter, harness)
    harness.sim.set_rest_delay(0)


def test_shutdown_from_the_on_exhausted_hook(harness: Harness) -> None:
    """The hook runs on the supervisor thread: shutdown there must not join itself."""
    returned = threading.Event()
    adapter: StreamingAdapter | None = None

    def on_exhausted(reason: str) -> None:
        assert adapter is not None
        adapter.shutdown()
        returned.set()

    harness.sim.reject_credentials()
    adapter = harness.adapter(on_exhausted=on_exhausted)
    adapter.subscribe(*A)
    adapter.connect()
    assert returned.wait(10)
    wait_for(lambda: adapter_threads() == [], what="adapter threads to end")
    assert_shut_down(adapter, harness)
