"""Inline delivery: the tick callback runs on the I/O thread (no hand-off, no queue)."""

# ruff: noqa: F811  (the harness fixture is imported, then requested by name)
from __future__ import annotations

import threading

from jainam_fsm.xts.ticks import Tick
from tests.test_adapter_support import (
    A,
    B,
    Harness,
    adapter_threads,
    harness,  # noqa: F401  (fixture)
    wait_for,
)


def test_inline_delivery_in_order_on_the_io_thread_and_survives_a_sever(harness: Harness) -> None:
    seen: dict[tuple[int, int], list[int | None]] = {}
    threads: set[str] = set()

    def on_tick(t: Tick) -> None:
        threads.add(threading.current_thread().name)
        seen.setdefault((t.exchange_segment, t.instrument_id), []).append(t.sequence_number)

    adapter = harness.adapter(on_tick, delivery="inline")
    adapter.subscribe(*A)
    adapter.subscribe(*B)
    adapter.connect()
    assert adapter.wait_ready(10)
    wait_for(lambda: len(seen.get(A, [])) >= 3 and len(seen.get(B, [])) >= 3, what="ticks")
    assert "jainam-delivery" not in adapter_threads()  # no delivery thread in inline mode
    harness.sim.sever()
    n = len(seen[A])
    wait_for(lambda: len(seen[A]) >= n + 3, timeout=10, what="ticks after the sever")
    assert threads == {"jainam-io"}
    for inst in (A, B):
        assert seen[inst] == sorted(seen[inst])  # in order
    assert adapter.stats()["ticks_delivered"] >= 6


def test_inline_callback_can_shut_the_adapter_down(harness: Harness) -> None:
    done = threading.Event()
    box: list[object] = []

    def on_tick(t: Tick) -> None:
        if not box:
            box.append(t)
            adapter.shutdown()
            done.set()

    adapter = harness.adapter(on_tick, delivery="inline")
    adapter.subscribe(*A)
    adapter.connect()
    assert done.wait(10)
    wait_for(lambda: not adapter_threads(), timeout=10, what="threads joined")
    assert adapter.state().value == "shut_down"
