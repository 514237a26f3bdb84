"""Liveness that nothing can fool: only decoded data for a wanted instrument keeps a connection
counted as alive. Real adapter, real simulator, real sockets.
"""

# ruff: noqa: F811  (the harness fixture is imported, then requested by name)
from __future__ import annotations

import logging
import threading

from tests.test_adapter_support import (
    A,
    B,
    Harness,
    RecordingTelemetry,
    TickLog,
    harness,  # noqa: F401  (fixture)
    wait_for,
)


def test_undecodable_events_do_not_keep_a_stalled_feed_alive(harness: Harness) -> None:
    """The simulator stops ticking but keeps sending payloads that decode to nothing: the
    watchdog still notices, says what arrived (ERROR ``connection.undecodable``), counts a
    stall and reconnects."""
    tel, ticks = RecordingTelemetry(), TickLog()
    adapter = harness.adapter(ticks, telemetry=tel, stall_timeout=0.5)
    adapter.subscribe(*A)
    adapter.subscribe(*B)
    adapter.connect()
    assert adapter.wait_ready(10)
    wait_for(lambda: ticks.count(A) and ticks.count(B), what="first ticks")
    harness.sim.stall()
    stop = threading.Event()

    def garbage() -> None:
        while not stop.is_set():
            harness.sim.send_malformed(2)
            stop.wait(0.05)

    feeder = threading.Thread(target=garbage, name="test-garbage", daemon=True)
    feeder.start()
    try:
        wait_for(lambda: tel.count("connection.undecodable"), timeout=10, what="undecodable")
    finally:
        stop.set()
        feeder.join(5)
    harness.sim.unstall()
    assert adapter.wait_ready(10)
    report = tel.of("connection.undecodable")[0]
    level = next(lv for e, lv, _ in tel.events if e == "connection.undecodable")
    assert level == logging.ERROR
    events = report["events"]
    assert isinstance(events, dict) and events
    assert all(name.endswith("-json-full") for name in events)
    assert report["undecodable_events"] == sum(events.values())
    assert float(str(report["silent_seconds"])) >= 0.5
    assert tel.count("connection.stalled") == 0  # reported once, as undecodable
    stats = adapter.stats()
    assert stats["stalls"] >= 1 and stats["undecodable_stalls"] >= 1
    assert stats["events_undecodable"] >= sum(events.values())
    reasons = [t["reason"] for t in tel.of("lifecycle.transition") if t["dest"] == "backing_off"]
    assert reasons and reasons[0] == "undecodable"
    n = ticks.count()
    wait_for(lambda: ticks.count() > n, what="ticks after the reconnect")
