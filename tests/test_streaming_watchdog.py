"""The shell's side of the stall watchdog (streaming/watchdog.py): the ``FeedMonitor`` over the
real tick path, and the dropped-ticks report. No socket: the real ``Ingest`` with the real
decoder, its clock replaced by a manual one, so every time below is exact.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest

from jainam_fsm.core.lifecycle import Lifecycle
from jainam_fsm.core.machine import State
from jainam_fsm.core.registry import SubscriptionRegistry
from jainam_fsm.streaming import ingest as ingest_module
from jainam_fsm.streaming.flavour import Flavour
from jainam_fsm.streaming.ingest import Ingest
from jainam_fsm.streaming.watchdog import DropReporter, TickPathMonitor
from jainam_fsm.xts.encode import encode_full
from jainam_fsm.xts.ticks import DepthLevel, Tick
from tests.core.fakes import (
    FakeBroker,
    FakeClock,
    FakeTokenSource,
    FakeTransport,
    RecordingTelemetry,
)

SEG, IID = 1, 2885


def _tick(iid: int = IID) -> object:
    tick = Tick(
        SEG,
        iid,
        1501,
        ltp=101.5,
        ltq=5,
        volume=1000,
        bid=DepthLevel(101.0, 10, 2),
        ask=DepthLevel(102.0, 7, 1),
    )
    return encode_full(tick)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    clock = FakeClock()
    clock.now = 1000.0
    monkeypatch.setattr(ingest_module, "_monotonic", clock.monotonic)
    return clock


def test_the_monitor_reports_what_the_tick_path_saw(clock: FakeClock) -> None:
    registry = SubscriptionRegistry()
    registry.add(SEG, IID, 1501)
    ingest = Ingest(registry, lambda item: None)
    monitor = TickPathMonitor(
        ingest, Flavour("binary", "/apibinarymarketdata", "/apibinarymarketdata/socket.io")
    )
    ingest.connecting()
    seen = monitor.activity()
    assert (seen.since, seen.wanted, dict(seen.undecodable)) == (1000.0, 0, {})
    assert seen.context == {"api": "binary"}
    clock.now = 1003.0
    ingest.on_data("1501-json-full", _tick(iid=22))  # unwanted: no sign of life
    ingest.on_data("1501-json-full", "{not json")
    seen = monitor.activity()
    assert (seen.since, seen.wanted, dict(seen.undecodable)) == (1000.0, 0, {"1501-json-full": 1})
    clock.now = 1004.5
    ingest.on_data("1501-json-full", _tick())
    seen = monitor.activity()
    assert (seen.since, seen.wanted, dict(seen.undecodable)) == (1004.5, 1, {})
    clock.now = 1010.0
    ingest.connecting()  # a new socket: its own count, silence from its start
    seen = monitor.activity()
    assert (seen.since, seen.wanted) == (1010.0, 0)


def test_the_real_tick_path_drives_the_core_watchdog(clock: FakeClock) -> None:
    """The core's watchdog reading the real ``Ingest`` through the monitor: wanted ticks keep
    the connection, undecodable events make an undecodable stall, on exact (manual) time."""
    broker = FakeBroker()
    registry = SubscriptionRegistry()
    ingest = Ingest(registry, lambda item: None)
    transport = FakeTransport(broker)
    transport_open = transport.open

    def open_socket(token):  # type: ignore[no-untyped-def]
        transport_open(token)
        ingest.connecting()  # as XtsTransport does for every new socket

    transport.open = open_socket  # type: ignore[method-assign]
    telemetry = RecordingTelemetry()
    lc = Lifecycle(
        registry=registry,
        tokens=FakeTokenSource(broker),
        transport=transport,
        clock=clock,
        telemetry=telemetry,
        feed=TickPathMonitor(ingest, Flavour("json", "/apimarketdata", "/apimarketdata/socket.io")),
        stall_timeout=10.0,
    )
    registry.add(SEG, IID, 1501)
    assert lc.connect() and lc.watching
    for _ in range(20):
        clock.advance(9.0)
        ingest.on_data("1501-json-full", _tick())
    assert lc.current is State.CONNECTED and lc.ready
    ingest.on_data("1501-json-full", "{not json")
    clock.advance(10.0)
    assert lc.current is State.BACKING_OFF
    (report,) = telemetry.named("connection.undecodable")
    assert report["events"] == {"1501-json-full": 1} and report["api"] == "json"
    assert report["allowance"] == 10.0 and report["silent_seconds"] == 10.0
    level = next(lv for e, lv, _ in telemetry.records if e == "connection.undecodable")
    assert level == logging.ERROR


@dataclass
class _Queue:
    dropped: int = 0
    capacity: int = 100


def test_dropped_ticks_are_reported_once_per_call_with_what_was_lost_since() -> None:
    queue, telemetry = _Queue(), RecordingTelemetry()
    drops = DropReporter(queue, telemetry)
    drops.report()
    assert telemetry.records == []
    queue.dropped = 7
    drops.report()
    drops.report()  # nothing new: no record
    queue.dropped = 10
    drops.report()
    assert telemetry.named("delivery.dropped") == [
        {"dropped": 7, "total_dropped": 7, "queue_capacity": 100},
        {"dropped": 3, "total_dropped": 10, "queue_capacity": 100},
    ]
    assert {lv for _, lv, _ in telemetry.records} == {logging.WARNING}
