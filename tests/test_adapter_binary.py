"""The adapter on the binary market-data API, against the simulator's binary flavour, over real
sockets: every packet's tick delivered with the exact values emitted, LTP wants served by 1501,
snapshots from the quotes endpoint, 1505 candles as JSON on the same socket, ``api="auto"``,
and a binary feed read as JSON reported as undecodable.

Every test runs against both Engine.IO dialects (``sim_eio``). The simulator records every
tick it emits (``Simulator.emitted_log``); after it is stalled, what
the adapter delivered per (segment, instrument, code) must equal that record, in order.
"""

# ruff: noqa: F811  (the harness fixture is imported, then requested by name)
from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from jainam_fsm.simulator import SimulatorThread
from jainam_fsm.simulator.config import BinaryKnobs
from jainam_fsm.streaming import StreamingAdapter
from jainam_fsm.xts.ticks import Tick
from tests.conftest import TEST_CONFIG
from tests.test_adapter_support import (
    Harness,
    RecordingTelemetry,
    harness,  # noqa: F401  (fixture)
    wait_for,
)

Key = tuple[int, int, int]

#: 1501 for two instruments, 1502 for one, 1510 for an F&O one.
SUBS: tuple[Key, ...] = ((1, 22, 1501), (1, 467, 1501), (1, 2885, 1502), (2, 35001, 1510))


class KeyLog:
    """``on_tick``: delivered ticks per (segment, instrument, code), in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.ticks: dict[Key, list[Tick]] = {}

    def __call__(self, tick: Tick) -> None:
        key = (tick.exchange_segment, tick.instrument_id, tick.message_code)
        with self._lock:
            self.ticks.setdefault(key, []).append(tick)

    def of(self, key: Key) -> list[Tick]:
        with self._lock:
            return list(self.ticks.get(key, ()))

    def count(self, key: Key) -> int:
        with self._lock:
            return len(self.ticks.get(key, ()))


def binary_harness(tmp: Path, knobs: BinaryKnobs | None = None, **sim: Any) -> Harness:
    config = replace(TEST_CONFIG, api="binary", binary=knobs or BinaryKnobs(), **sim)
    return Harness(SimulatorThread(config).start(), tmp)


@pytest.fixture
def make_harness(tmp_path: Path, sim_eio: int) -> Iterator[Any]:
    """Binary-flavour simulators in the dialect under test (``sim_eio``: 4, then 3 as the real
    servers speak)."""
    made: list[Harness] = []

    def make(knobs: BinaryKnobs | None = None, **sim: Any) -> Harness:
        tmp = tmp_path / str(len(made))
        tmp.mkdir()
        h = binary_harness(tmp, knobs, eio=sim_eio, **sim)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()
        h.sim.stop()


def emitted(h: Harness, key: Key) -> list[Tick]:
    return h.sim.emitted(*key)


def emitted_counts(h: Harness) -> dict[Key, int]:
    return h.sim.emitted_counts()


def stream(h: Harness, log: KeyLog, subs: tuple[Key, ...], **cfg: Any) -> StreamingAdapter:
    adapter = h.adapter(log, **cfg)
    for key in subs:
        adapter.subscribe(*key)
    adapter.connect()
    assert adapter.wait_ready(10), adapter.stats()
    return adapter


def stall_and_settle(
    h: Harness, log: KeyLog, keys: tuple[Key, ...], served: dict[Key, Key]
) -> None:
    """Stall the simulator, then wait until every emitted tick of each key was delivered."""
    h.sim.stall()

    def settled() -> bool:
        counts = emitted_counts(h)
        return all(log.count(served.get(k, k)) >= counts.get(k, 0) for k in keys)

    wait_for(settled, timeout=10, what="every emitted tick delivered")


@pytest.mark.parametrize(
    "knobs",
    [
        BinaryKnobs(layout="B", compressed_share=0.5, packets_per_event=3),
        BinaryKnobs(
            layout="A",
            compressed_share=0.5,
            packets_per_event=4,
            nan_total_value_traded=True,
            extended_properties=2,
            opaque_share=0.3,
        ),
    ],
    ids=["B-half-compressed-3-per-event", "A-everything"],
)
def test_every_packet_is_delivered_with_the_exact_values_emitted(
    make_harness: Any, knobs: BinaryKnobs, sim_eio: int
) -> None:
    """The "done when" of the binary API: 1501/1502/1510, half the packets compressed, several
    packets per event; every packet's tick reaches the consumer, exactly, in order."""
    h = make_harness(knobs)
    log = KeyLog()
    # No quotes snapshot here: what is delivered must be exactly what the socket carried.
    adapter = stream(h, log, SUBS, snapshot_on_already=False)
    assert adapter.stats()["api"] == "binary"
    assert adapter.stats()["eio"] == sim_eio  # the dialect found in the open packet
    wait_for(lambda: all(log.count(k) >= 6 for k in SUBS), timeout=15, what="ticks of every key")
    stall_and_settle(h, log, SUBS, {})
    for key in SUBS:
        sent = emitted(h, key)
        assert sent, key
        assert log.of(key) == sent, key  # exact values, in order, nothing extra
    assert set(log.ticks) == set(SUBS)
    opaque = h.sim._sync(h.sim.simulator.emitted_log.opaque_counts)
    skipped = {f"{c}/{n}": k for (c, n), k in opaque.items()}
    # An event of opaque packets only may still be on its way after the last tick.
    wait_for(lambda: adapter.stats()["binary_skipped"] == skipped, what="every opaque packet")
    stats = adapter.stats()
    binary = stats["binary_decode"]
    delivered = sum(len(v) for v in log.ticks.values())
    assert binary["decoded"] == delivered
    assert 0 < binary["compressed"] < binary["packets"]
    assert binary["packets"] > binary["events"]  # several packets per event
    assert (sum(opaque.values()) > 0) == bool(knobs.opaque_share)
    # An event holding only opaque 1512 packets decodes to nothing (counted, never a stall here).
    assert (stats["events_undecodable"] > 0) <= bool(knobs.opaque_share)
    assert stats["undecodable_stalls"] == 0
    assert stats["ticks_filtered"] == 0 and stats["ticks_code_unserved"] == 0


def test_ltp_want_is_served_by_1501_with_a_quotes_snapshot(make_harness: Any) -> None:
    h = make_harness(BinaryKnobs(compressed_share=0.5, packets_per_event=2))
    log = KeyLog()
    adapter = stream(h, log, ((1, 22, 1512),))
    assert h.server_set() == {(1, 22, 1501)}  # no public 1512 layout: 1501 carries the LTP
    wait_for(lambda: log.count((1, 22, 1512)) >= 5, what="LTP ticks")
    stall_and_settle(h, log, ((1, 22, 1501),), {(1, 22, 1501): (1, 22, 1512)})
    got = log.of((1, 22, 1512))
    sent = [replace(t, message_code=1512) for t in emitted(h, (1, 22, 1501))]
    stats = adapter.stats()
    # The binary subscribe answer has no snapshot: one came from /instruments/quotes (JSON),
    # unless a live tick overtook it while the request was in flight.
    assert stats["snapshot_refills"] == 1
    snapshots = 1 - stats["snapshots_skipped"]
    assert len(got) == len(sent) + snapshots
    assert got[snapshots:] == sent
    if snapshots:
        assert got[0].ltp is not None and got[0].message_code == 1512
    assert stats["ticks_other_code"] == len(got)
    assert all(t.ltp is not None for t in got)


def test_unsubscribing_ltp_keeps_the_servers_1501_while_it_is_wanted(make_harness: Any) -> None:
    h = make_harness()
    log = KeyLog()
    adapter = stream(h, log, ((1, 22, 1501), (1, 22, 1512)), snapshot_on_already=False)
    assert h.server_set() == {(1, 22, 1501)}
    wait_for(lambda: log.count((1, 22, 1501)) >= 2, what="1501 ticks")
    adapter.unsubscribe(1, 22, 1512)
    assert adapter.wait_ready(10)
    assert h.server_set() == {(1, 22, 1501)}
    n = log.count((1, 22, 1501))
    wait_for(lambda: log.count((1, 22, 1501)) > n + 2, what="1501 ticks go on")
    adapter.unsubscribe(1, 22, 1501)
    assert adapter.wait_ready(10)
    wait_for(lambda: h.server_set() == set(), what="the server's 1501 released")


def test_candles_arrive_as_json_on_the_binary_socket(make_harness: Any) -> None:
    h = make_harness()
    log = KeyLog()
    adapter = stream(h, log, ((1, 22, 1505), (1, 22, 1501)), snapshot_on_already=False)
    wait_for(lambda: log.count((1, 22, 1505)) >= 2, timeout=15, what="candles")
    stall_and_settle(h, log, ((1, 22, 1505), (1, 22, 1501)), {})
    assert log.of((1, 22, 1505)) == emitted(h, (1, 22, 1505))
    assert log.of((1, 22, 1501)) == emitted(h, (1, 22, 1501))
    assert adapter.stats()["decode_errors"]["decoded"] >= log.count((1, 22, 1505))


def test_auto_finds_the_binary_api_and_a_restart_skips_the_probe(make_harness: Any) -> None:
    h = make_harness()
    root = h.sim.root_url  # no path: the prefix is left to the API
    tel, log = RecordingTelemetry(), KeyLog()
    adapter = stream(h, log, ((1, 22, 1501),), base_url=root, api="auto", telemetry=tel)
    wait_for(lambda: log.count((1, 22, 1501)) >= 3, what="ticks after the probe")
    found = tel.of("connection.api_detected")
    assert [(e["api"], e["prefix"]) for e in found] == [("binary", "/apibinarymarketdata")]
    assert adapter.stats()["api"] == "binary"
    assert adapter.stats()["logins"] == 1
    adapter.shutdown()
    # A later start reuses the stored token: no login at all, and the API is known at once.
    tel2, log2 = RecordingTelemetry(), KeyLog()
    again = stream(h, log2, ((1, 22, 1501),), base_url=root, api="auto", telemetry=tel2)
    wait_for(lambda: log2.count((1, 22, 1501)) >= 3, what="ticks on the second start")
    assert again.stats()["logins"] == 0
    assert again.stats()["api"] == "binary"
    why = [e["why"] for e in tel2.of("connection.api_detected")]
    assert why == ["recorded with the stored token"]


def test_auto_on_a_json_server_stays_json(harness: Harness) -> None:
    tel, log = RecordingTelemetry(), KeyLog()
    adapter = stream(
        harness, log, ((1, 22, 1501),), base_url=harness.sim.root_url, api="auto", telemetry=tel
    )
    wait_for(lambda: log.count((1, 22, 1501)) >= 3, what="JSON ticks")
    assert adapter.stats()["api"] == "json"
    assert [e["api"] for e in tel.of("connection.api_detected")] == ["json"]


def test_a_binary_feed_read_as_json_is_reported_undecodable(make_harness: Any) -> None:
    """The failure the issue reports: pointed at the binary prefix but reading JSON, the old
    adapter sat `connected` with zero ticks forever. Now it says why, loudly, every stall."""
    h = make_harness()
    tel, log = RecordingTelemetry(), KeyLog()
    adapter = stream(h, log, ((1, 22, 1501),), api="json", telemetry=tel, stall_timeout=0.5)
    assert adapter.config.prefix == "/apibinarymarketdata"  # from the simulator's URL
    wait_for(lambda: tel.count("connection.undecodable"), timeout=10, what="undecodable")
    report = tel.of("connection.undecodable")[0]
    events = report["events"]
    assert isinstance(events, dict) and events.get("xts-binary-packet", 0) > 0
    assert report["api"] == "json"
    level = next(lv for e, lv, _ in tel.events if e == "connection.undecodable")
    assert level == logging.ERROR
    assert log.ticks == {}
    assert adapter.stats()["undecodable_stalls"] >= 1


def test_corrupt_packets_are_counted_and_the_stream_goes_on(make_harness: Any) -> None:
    """Every corrupt kind the simulator can send (bad flag, cut short, not DEFLATE, wrong
    inflated size, a size no layout fits) is counted by kind, never raised, never a stall; the
    exact-values guarantee holds for every good packet around them."""
    h = make_harness(BinaryKnobs(compressed_share=0.5))
    log = KeyLog()
    adapter = stream(h, log, ((1, 22, 1501), (1, 2885, 1502)), snapshot_on_already=False)
    wait_for(lambda: log.count((1, 22, 1501)) >= 3, what="ticks before the garbage")
    sent = h.sim.send_malformed(10)
    assert sent >= 10
    n = log.count((1, 22, 1501))
    wait_for(lambda: log.count((1, 22, 1501)) > n + 3, what="ticks after the garbage")
    stall_and_settle(h, log, ((1, 22, 1501), (1, 2885, 1502)), {})
    for key in ((1, 22, 1501), (1, 2885, 1502)):
        assert log.of(key) == emitted(h, key), key
    stats = adapter.stats()
    binary = stats["binary_decode"]
    corrupt = h.sim._sync(h.sim.simulator.emitted_log.corrupt_counts)
    assert sum(corrupt.values()) == sent and len(corrupt) >= 4
    for kind, count in corrupt.items():
        assert binary.get(kind) == count, (kind, binary)  # each one counted, by its kind
    assert stats["stalls"] == 0 and stats["state"] == "connected"


def test_the_login_free_probe_tells_the_apis_apart(make_harness: Any, harness: Harness) -> None:
    """``serves_prefix`` (used by ``api="auto"`` with a stored token that has no record): an
    empty login request, answered without logging anyone in."""
    import asyncio

    from jainam_fsm.transport.rest import XtsRestClient

    binary = make_harness()

    async def probe(root: str, prefix: str) -> bool:
        async with XtsRestClient(root, prefix=prefix, timeout=3.0) as rest:
            return await rest.serves_prefix()

    async def all_probes() -> list[bool]:
        return [
            await probe(harness.sim.root_url, "/apimarketdata"),
            await probe(binary.sim.root_url, "/apimarketdata"),
            await probe(binary.sim.root_url, "/apibinarymarketdata"),
        ]

    assert asyncio.run(all_probes()) == [True, False, True]
    assert harness.sim.stats()["logins"] == 0 and binary.sim.stats()["logins"] == 0
