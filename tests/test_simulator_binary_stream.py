"""The binary flavour's packet maker against the real binary decoder (no sockets: pure core).

The socket-level tests are in ``test_simulator_binary.py``; these pin the packet maker's
promises for every knob combination on many steps of the market walk.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from jainam_fsm.simulator.binary_stream import (
    BINARY_EVENT,
    BINARY_MALFORMED_KINDS,
    BinaryStream,
    Outgoing,
    malformed_event,
)
from jainam_fsm.simulator.config import BinaryKnobs
from jainam_fsm.simulator.emitted import EmittedLog
from jainam_fsm.simulator.market import Market
from jainam_fsm.xts.binary import BinaryDecoder
from jainam_fsm.xts.ticks import Tick

NOW = 1_739_163_395.0


def by_key(ticks: list[Tick]) -> dict[tuple[int, int, int], list[Tick]]:
    out: dict[tuple[int, int, int], list[Tick]] = {}
    for t in ticks:
        out.setdefault((t.exchange_segment, t.instrument_id, t.message_code), []).append(t)
    return out


def recorded(log: EmittedLog) -> dict[tuple[int, int, int], list[Tick]]:
    return {key: log.ticks(key) for key in log.counts()}


ITEMS = [(1501, (1, 22)), (1502, (1, 2885)), (1510, (2, 35001)), (1501, (2, 35001))]


def run_steps(knobs: BinaryKnobs, steps: int = 40) -> tuple[list[Outgoing], EmittedLog]:
    market = Market(7)
    log = EmittedLog(cap=1000)
    stream = BinaryStream(7, knobs, log)
    out: list[Outgoing] = []
    for n in range(steps):
        stream.begin_step()
        items: list[tuple[int, Tick]] = []
        for code, inst in ITEMS:
            walk = market.walk(inst, NOW)
            if code == ITEMS[0][0] and inst == ITEMS[0][1]:
                walk.step(NOW + n)
            items.append((code, walk.tick(code)))
        out += stream.events(items, partial=False, previous={})
    return out, log


KNOBS = [
    BinaryKnobs(layout=layout, compressed_share=share, packets_per_event=ppe, **extra)
    for layout, share, ppe, extra in itertools.product(
        ("A", "B"),
        (0.0, 0.5, 1.0),
        (1, 3),
        (
            {},
            {"nan_total_value_traded": True},
            {"extended_properties": 2},
            {"opaque_share": 0.5},
        ),
    )
]


@pytest.mark.parametrize("knobs", KNOBS, ids=repr)
def test_decoder_returns_exactly_the_recorded_ticks(knobs: BinaryKnobs) -> None:
    events, log = run_steps(knobs)
    decoder = BinaryDecoder()
    decoded: list[Tick] = []
    for ev in events:
        assert ev.event == BINARY_EVENT and isinstance(ev.payload, bytes)
        decoded += decoder.decode(ev.payload)
    assert by_key(decoded) == recorded(log)
    stats = decoder.stats()
    assert decoder.errors == 0, stats
    assert stats["packets"] == len(decoded) + sum(log.opaque_counts().values())
    assert dict(decoder.skipped) == log.opaque_counts()
    if knobs.compressed_share == 0.0:
        assert stats["compressed"] == 0
    elif knobs.compressed_share == 1.0:
        assert stats["compressed"] == stats["packets"] - sum(log.opaque_counts().values())
    else:
        assert 0 < stats["compressed"] < stats["packets"]
    if knobs.nan_total_value_traded:
        assert all(t.total_value_traded is None for t in decoded)
        assert stats["nonfinite"] > 0
    else:
        assert all(t.total_value_traded for t in decoded if t.message_code != 1510)
    if knobs.opaque_share:
        assert log.opaque_counts(), "no opaque packet in 160 packets at share 0.5"
    assert all(
        len(decoder.decode_messages(ev.payload)) <= knobs.packets_per_event * 2 for ev in events
    )


def test_several_packets_per_event_mix_codes_and_instruments() -> None:
    events, _ = run_steps(BinaryKnobs(packets_per_event=4), steps=3)
    decoder = BinaryDecoder()
    first = decoder.decode(events[0].payload)  # type: ignore[arg-type]
    assert [(t.message_code, t.instrument) for t in first] == [(code, inst) for code, inst in ITEMS]
    assert len(events) == 3


def test_opaque_codes_and_candles() -> None:
    market = Market(1)
    log = EmittedLog(cap=10)
    stream = BinaryStream(1, BinaryKnobs(opaque_size=80), log)
    stream.begin_step()
    walk = market.walk((1, 22), NOW)
    items = [(code, walk.tick(code)) for code in (1512, 1504, 1505, 1501)]
    out = stream.events(items, partial=False, previous={})
    assert [o.event for o in out] == [BINARY_EVENT, BINARY_EVENT, "1505-json-full", BINARY_EVENT]
    assert isinstance(out[2].payload, str) and '"MessageCode":1505' in out[2].payload
    decoder = BinaryDecoder()
    assert decoder.decode(out[0].payload) == []  # type: ignore[arg-type]
    assert decoder.decode(out[1].payload) == []  # type: ignore[arg-type]
    assert dict(decoder.skipped) == {(1512, 80): 1, (1504, 80): 1}
    assert log.opaque_counts() == {(1512, 80): 1, (1504, 80): 1}
    assert log.counts() == {(1, 22, 1505): 1, (1, 22, 1501): 1}


def test_same_step_same_bytes_for_every_socket() -> None:
    market = Market(3)
    log = EmittedLog(cap=10)
    stream = BinaryStream(3, BinaryKnobs(compressed_share=0.5), log)
    stream.begin_step()
    tick = market.walk((1, 22), NOW).tick(1501)
    a = stream.events([(1501, tick)], partial=False, previous={})
    b = stream.events([(1501, tick)], partial=False, previous={})
    assert a == b
    assert log.counts() == {(1, 22, 1501): 1}  # recorded once per step, not per socket


@pytest.mark.parametrize("layout", ["A", "B"])
def test_malformed_kinds_are_counted_by_the_decoder_never_raised(layout: str) -> None:
    tick = Market(0).walk((1, 22), NOW).tick(1510)
    decoder = BinaryDecoder()
    for n in range(len(BINARY_MALFORMED_KINDS) * 2):
        _, data = malformed_event(n, tick, layout)
        assert decoder.decode(data) == []
    stats = decoder.stats()
    assert {k: stats.get(k) for k in BINARY_MALFORMED_KINDS} == dict.fromkeys(
        BINARY_MALFORMED_KINDS, 2
    )


def test_emitted_log_is_bounded() -> None:
    log = EmittedLog(cap=3)
    tick = Market(0).walk((1, 22), NOW).tick(1501)
    for n in range(10):
        log.record(replace(tick, ltq=n))
    assert [t.ltq for t in log.ticks((1, 22, 1501))] == [7, 8, 9]
    assert log.counts() == {(1, 22, 1501): 10}
    none = EmittedLog(cap=0)
    none.record(tick)
    assert none.ticks() == [] and none.counts() == {(1, 22, 1501): 1}


def test_knob_validation() -> None:
    for bad in (
        {"layout": "C"},
        {"compressed_share": 1.5},
        {"packets_per_event": 0},
        {"opaque_share": -0.1},
        {"extended_properties": -1},
        {"opaque_size": 10},
    ):
        with pytest.raises(ValueError):
            BinaryKnobs(**bad)  # type: ignore[arg-type]
