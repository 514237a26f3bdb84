"""The KiteTicker-style callbacks: ``on_ticks`` bursts in order, the lifecycle hooks in order
with the ticks on the delivery thread, and callbacks that raise or dawdle never stopping it.

Real adapter against the real simulator on 127.0.0.1 (both Engine.IO dialects)."""

# ruff: noqa: F811  (the harness fixture is imported, then requested by name)
from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from typing import Any

import pytest

from jainam_fsm.streaming import StreamingAdapter
from jainam_fsm.streaming.delivery import Control, Delivery
from jainam_fsm.xts.ticks import Tick
from tests.test_adapter_support import (
    FAST_BACKOFF,
    A,
    B,
    Harness,
    adapter_threads,
    harness,  # noqa: F401  (fixture)
    token_factory,
    wait_for,
)


class Recorder:
    """Every callback, in the order the consumer saw them, with the thread it ran on."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.threads: set[str] = set()
        self.lock = threading.Lock()

    def _add(self, name: str, value: Any) -> None:
        with self.lock:
            self.threads.add(threading.current_thread().name)
            self.calls.append((name, value))

    def kwargs(self) -> dict[str, Any]:
        return {
            "on_ticks": lambda ticks: self._add("ticks", list(ticks)),
            "on_connect": lambda: self._add("connect", None),
            "on_close": lambda reason: self._add("close", reason),
            "on_error": lambda error: self._add("error", error),
            "on_reconnect": lambda attempt, delay: self._add("reconnect", (attempt, delay)),
            "on_noreconnect": lambda reason: self._add("noreconnect", reason),
        }

    def names(self) -> list[str]:
        with self.lock:
            return [n for n, _ in self.calls if n != "ticks"]

    def ticks(self) -> list[Tick]:
        with self.lock:
            return [t for n, v in self.calls if n == "ticks" for t in v]

    def count(self, name: str) -> int:
        return self.names().count(name)


def make(harness: Harness, **kwargs: Any) -> StreamingAdapter:
    overrides = kwargs.pop("config", {})
    adapter = StreamingAdapter(
        harness.config(**overrides),
        token_source=token_factory(harness.store, seen=harness.tokens),
        **kwargs,
    )
    harness.adapters.append(adapter)
    return adapter


def test_batches_in_order_and_hooks_in_order_with_them(harness: Harness) -> None:
    rec = Recorder()
    adapter = make(harness, **rec.kwargs())
    adapter.subscribe(*A)
    adapter.subscribe(*B)
    adapter.connect()
    assert adapter.wait_ready(10)
    wait_for(lambda: rec.count("connect") == 1 and len(rec.ticks()) >= 10, what="connect, ticks")
    harness.sim.sever()
    wait_for(lambda: rec.count("connect") == 2, timeout=15, what="the second on_connect")
    n = len(rec.ticks())
    wait_for(lambda: len(rec.ticks()) >= n + 5, what="ticks after the reconnect")
    adapter.shutdown()
    names = rec.names()
    # one close per connect, the failure reported, the reconnect announced, shutdown last
    assert names[0] == "connect"
    assert names[-1] == "close"
    assert rec.calls[-1] == ("close", "shutdown() called")
    lost = names.index("close")
    assert names[lost + 1 : lost + 3] == ["error", "reconnect"]
    assert names.count("close") == names.count("connect") == 2
    attempt, delay = next(v for n, v in rec.calls if n == "reconnect")
    assert attempt == 1 and delay >= 0
    assert rec.threads == {"jainam-delivery"}
    # batches: never empty, and every instrument's ticks in sequence order across them
    assert all(v for n, v in rec.calls if n == "ticks")
    for inst in (A, B):
        seqs = [
            t.sequence_number for t in rec.ticks() if (t.exchange_segment, t.instrument_id) == inst
        ]
        assert seqs == sorted(seqs)
        assert len(seqs) >= 3
    assert adapter.stats()["ticks_delivered"] >= len(rec.ticks())


def test_noreconnect_when_attempts_are_spent(harness: Harness) -> None:
    rec = Recorder()
    exhausted: list[str] = []
    adapter = make(
        harness,
        config={"backoff": replace(FAST_BACKOFF, max_attempts=2)},
        on_exhausted=exhausted.append,
        **rec.kwargs(),
    )
    adapter.subscribe(*A)
    adapter.connect()
    assert adapter.wait_ready(10)
    harness.sim.go_down()
    try:
        wait_for(lambda: rec.count("noreconnect") == 1, timeout=20, what="on_noreconnect")
    finally:
        harness.sim.come_up()
    reason = next(v for n, v in rec.calls if n == "noreconnect")
    assert "2 attempts spent" in reason
    assert exhausted == [reason]  # the old name still works
    assert [v[0] for n, v in rec.calls if n == "reconnect"] == [1, 2]
    assert rec.count("close") == 1  # the connection that was up
    assert rec.count("error") >= 2


def test_raising_and_slow_callbacks_never_stop_delivery(
    harness: Harness, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("jainam_fsm.streaming.hooks.SLOW_CALLBACK", 0.05)
    seen: list[int] = []
    slow_once = threading.Event()

    def on_ticks(ticks: list[Tick]) -> None:
        seen.extend(t.instrument_id for t in ticks)
        if not slow_once.is_set():
            slow_once.set()
            time.sleep(0.2)
        raise ValueError("consumer bug")

    def on_connect() -> None:
        raise RuntimeError("hook bug")

    caplog.set_level(logging.ERROR, logger="jainam_fsm.streaming")
    adapter = make(harness, on_ticks=on_ticks, on_connect=on_connect)
    adapter.subscribe(*A)
    adapter.connect()
    assert adapter.wait_ready(10)
    wait_for(
        lambda: adapter.stats()["callback_errors_by_kind"].get("on_ticks", 0) >= 5,
        what="several raising bursts",
    )
    stats = adapter.stats()
    assert stats["callback_errors_by_kind"]["on_connect"] == 1
    assert stats["callbacks_slow_by_kind"].get("on_ticks", 0) >= 1
    assert stats["callback_errors"] >= 6
    assert "jainam-delivery" in adapter_threads()
    n = len(seen)
    wait_for(lambda: len(seen) > n, what="ticks still delivered")
    raised = [r for r in caplog.records if "raised ValueError" in r.getMessage()]
    assert len(raised) == 1  # logged once per kind and exception type


def test_inline_hooks_run_on_the_io_thread(harness: Harness) -> None:
    rec = Recorder()
    adapter = make(harness, config={"delivery": "inline"}, **rec.kwargs())
    adapter.subscribe(*A)
    adapter.connect()
    assert adapter.wait_ready(10)
    wait_for(lambda: rec.count("connect") == 1 and len(rec.ticks()) >= 3, what="ticks")
    adapter.shutdown()
    wait_for(lambda: rec.count("close") == 1, what="on_close at shutdown")
    assert rec.threads == {"jainam-io"}


def test_on_tick_and_on_ticks_together(harness: Harness) -> None:
    batches: list[list[Tick]] = []
    singles: list[Tick] = []
    adapter = make(harness, on_ticks=batches.append, on_tick=singles.append)
    adapter.subscribe(*A)
    adapter.connect()
    assert adapter.wait_ready(10)
    wait_for(lambda: len(singles) >= 5, what="ticks")
    adapter.shutdown()
    assert [t for b in batches for t in b] == singles


class _Mark(Control):
    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n


def test_delivery_evicts_ticks_never_control_items() -> None:
    got: list[list[object]] = []
    d: Delivery[object] = Delivery(got.append, capacity=3, batched=True)
    mark = _Mark(0)
    d.put(1)
    d.put_control(mark)
    d.put_many([2, 3, 4, 5])  # capacity 3 (the control item counts): 1, 2, 3 go
    assert d.dropped == 3
    d.put_many(list(range(10, 20)))  # larger than the queue: its newest are kept
    assert d.depth() == 3
    assert d.dropped == 13
    d.start()
    d.stop(drain=True)
    assert got and [x for b in got for x in b] == [mark, 18, 19]


def test_delivery_stop_without_drain_keeps_control_items() -> None:
    got: list[object] = []
    d: Delivery[object] = Delivery(got.append, capacity=10)
    mark = _Mark(1)
    d.put(1)
    d.put_control(mark)
    d.put(2)
    d.stop(drain=False)
    d.start()
    wait_for(lambda: got == [mark], what="the control item")
