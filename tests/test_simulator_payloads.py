"""Simulator payloads against the real captures and the codec's decoder.

The captured payloads (``tests/data/xts-captured-payloads.jsonl``) are the closest thing to
the real server: the simulator's payloads must have the same shape, and the codec must decode
everything the simulator sends without a single error.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from jainam_fsm.simulator import Simulator
from jainam_fsm.xts.decode import XtsDecoder
from jainam_fsm.xts.encode import PARTIAL_FIELDS
from jainam_fsm.xts.ticks import Tick
from tests.conftest import XtsProbe

SimFactory = Callable[..., Awaitable[Simulator]]

FIXTURES = Path(__file__).resolve().parent / "data"
CAPTURED = [
    json.loads(line)
    for line in (FIXTURES / "xts-captured-payloads.jsonl").read_text().splitlines()
    if line.strip()
]


def shape(value: Any) -> Any:
    """The structure of a JSON value: keys and kinds, not values."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def captured(label_part: str) -> dict[str, Any]:
    (line,) = [c for c in CAPTURED if label_part in c["label"]]
    return line


@pytest.mark.parametrize(
    "label",
    ["nested Touchline", "market depth", "candle", "LTP, with header"],
)
async def test_full_payloads_have_the_captured_shape(xts: XtsProbe, label: str) -> None:
    real = captured(label)
    code = int(real["event"].split("-")[0])
    token = await xts.login()
    await xts.subscribe(token, code, (2, 42489))
    rec = await xts.connect(token)
    (ours, *_) = await rec.wait_count(real["event"], 1)
    assert isinstance(ours, str)
    real_obj, our_obj = json.loads(real["data"]), json.loads(ours)
    assert list(our_obj) == list(real_obj)  # same keys, same order
    assert shape(our_obj) == shape(real_obj)


async def test_snapshots_have_the_socket_shape(xts: XtsProbe) -> None:
    token = await xts.login()
    _, body = await xts.subscribe(token, 1501, (1, 467))
    snapshot = json.loads(body["result"]["listQuotes"][0])
    assert shape(snapshot) == shape(json.loads(captured("nested Touchline")["data"]))


@pytest.mark.parametrize("code", [1501, 1502, 1504, 1505, 1510, 1512])
@pytest.mark.parametrize("mode", ["Full", "Partial"])
async def test_codec_decodes_everything_the_simulator_sends(
    xts: XtsProbe, code: int, mode: str
) -> None:
    token = await xts.login()
    instruments = [(1, 22), (2, 35001), (11, 500325)]
    _, body = await xts.subscribe(token, code, *instruments)
    rec = await xts.connect(token, mode)
    event = f"{code}-json-{mode.lower()}"
    payloads = await rec.wait_count(event, 9)
    decoder = XtsDecoder()
    for snapshot in body["result"]["listQuotes"]:
        assert isinstance(decoder.decode_snapshot(snapshot), Tick)
    decoder.reset()  # a partial stream starts complete, without the snapshots' help
    ticks = [decoder.decode(event, p) for p in payloads]
    assert decoder.errors == 0, decoder.stats
    assert all(isinstance(t, Tick) for t in ticks)
    assert {t.instrument for t in ticks if isinstance(t, Tick)} == set(instruments)
    assert all(t.message_code == code for t in ticks if isinstance(t, Tick))


async def test_partial_stream_decodes_to_the_full_stream(xts: XtsProbe) -> None:
    token = await xts.login()
    await xts.subscribe(token, 1501, (1, 22))
    await xts.subscribe(token, 1502, (2, 35001))
    full = await xts.connect(token, "Full")
    partial = await xts.connect(token, "Partial")
    await partial.wait_count("1502-json-partial", 12)
    full_dec, part_dec = XtsDecoder(), XtsDecoder()
    for code, inst_event in [(1501, "1501"), (1502, "1502")]:
        by_volume: dict[int, Tick] = {}
        for raw in full.of(f"{inst_event}-json-full"):
            tick = full_dec.decode(f"{inst_event}-json-full", raw)
            assert isinstance(tick, Tick) and tick.volume is not None
            by_volume[tick.volume] = tick
        matched = 0
        for raw in partial.of(f"{inst_event}-json-partial"):
            tick = part_dec.decode(f"{inst_event}-json-partial", raw)
            assert isinstance(tick, Tick) and tick.volume is not None
            twin = by_volume.get(tick.volume)  # the volume grows every step: it names the step
            if twin is None:
                continue
            matched += 1
            for name in PARTIAL_FIELDS[code]:
                assert getattr(tick, name) == getattr(twin, name), (code, name)
        assert matched >= 5
    assert full_dec.errors == 0 and part_dec.errors == 0


async def test_exchange_times_use_each_segments_epoch(xts: XtsProbe) -> None:
    """NSE segments count from 1980, others from 1970; both decode to 'now' in India."""
    token = await xts.login()
    await xts.subscribe(token, 1512, (1, 22), (11, 500325))
    rec = await xts.connect(token)
    payloads = await rec.wait_count("1512-json-full", 6)
    decoder = XtsDecoder()
    raw_by_segment: dict[int, int] = {}
    for raw in payloads:
        tick = decoder.decode("1512-json-full", raw)
        assert isinstance(tick, Tick) and tick.last_update_time is not None
        assert abs(tick.last_update_time.timestamp() - time.time()) < 10
        raw_by_segment[tick.exchange_segment] = json.loads(raw)["LastUpdateTime"]
    # same instant, two epochs ten years apart (both read on an Indian wall clock)
    assert abs((raw_by_segment[11] - raw_by_segment[1]) - 315_532_800) < 5
