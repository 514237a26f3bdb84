"""Property tests of the binary XTS codec.

* The decoder never raises: random bytes, random bodies behind valid framing, mutated vectors.
* Round trip: ``decode(encode_tick(t)) == [t]`` in both layouts, raw and compressed, with
  extended properties and older message versions.
* Equivalence (issue 11 item 2): for random market states, the JSON encoding (``encode_full``,
  decoded by :class:`XtsDecoder`) and the binary encodings (layout A and B, raw and compressed,
  1-3 packets per event, with or without the ``0x04`` prefix) decode to equal ticks. The states
  set only the fields the JSON message of their code carries (:data:`FULL_FIELDS`); binary
  carries all of them. Fields one flavour lacks: binary 1510 also carries the sequence number
  and the underlying (the JSON 1510 does not; the underlying has no :class:`Tick` field), and
  binary has no 1504/1505/1507/1512 bodies at all.
"""

from __future__ import annotations

import json
import struct
from datetime import datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jainam_fsm.simulator.market import Market
from jainam_fsm.xts import (
    FULL_FIELDS,
    DepthLevel,
    ExchangeSegment,
    Tick,
    XtsDecoder,
    encode_full,
    time_from_wire,
)
from jainam_fsm.xts.binary import BinaryDecoder
from jainam_fsm.xts.binary_encode import encode_event, encode_tick, opaque_packet
from jainam_fsm.xts.timeconv import MAX_WIRE_SECONDS

VECTORS = [
    bytes.fromhex(json.loads(line)["hex"])
    for line in (Path(__file__).resolve().parent / "data" / "xts-binary-vectors.jsonl")
    .read_text("utf-8")
    .splitlines()
    if line.strip()
]

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ_HEAVY = settings(FUZZ, max_examples=150)

I16 = 2**15 - 1
I32 = 2**31 - 1


def check(dec: BinaryDecoder, ticks: list[Tick], calls: int) -> None:
    """Well-formed ticks only (strict JSON, no NaN), every call and tick accounted for."""
    for tick in ticks:
        assert isinstance(tick, Tick)
        json.dumps(tick.to_dict(), allow_nan=False)
        assert tick.exchange_segment > 0 and tick.instrument_id >= 0
    stats = dec.stats()
    assert stats["events"] == calls
    assert stats["packets"] >= stats["decoded"]


# ------------------------------------------------------------------------------ never raises


@FUZZ
@given(data=st.binary(max_size=600))
def test_random_bytes_never_raise(data: bytes) -> None:
    dec = BinaryDecoder()
    check(dec, dec.decode(data), 1)
    check(dec, dec.decode(b"\x04" + data), 2)
    check(dec, dec.decode(bytearray(b"\x00" + data)), 3)
    assert isinstance(dec.decode_messages(data), list)


SIZES = [180, 204, 368, 432, 61, 69, 62, 70, 40, 27, 0, 186]


@st.composite
def framed_packets(draw: st.DrawFn) -> bytes:
    """A packet with valid framing around a random body of a plausible size."""
    code = draw(st.sampled_from([1501, 1502, 1510, 1512, 1105, 0]))
    size = draw(st.sampled_from(SIZES) | st.integers(0, 500))
    seg = draw(st.sampled_from([1, 2, 11, 0, -1]))
    inst = draw(st.integers(-5, 70_000))
    version = draw(st.sampled_from([4, 4, 3, 0, 9]))
    body = draw(st.binary(min_size=size, max_size=size))
    head = struct.pack("<HHHQqihiQ", code, version, 0, 0, draw(st.integers(0, 9)), 0, seg, inst, 0)
    if draw(st.booleans()):  # honest common header, random rest
        payload = (head + body[len(head) :])[:size] if size >= 40 else body
    else:
        payload = body
    if draw(st.booleans()):
        payload = bytearray(payload)
        for pos, value in draw(st.lists(st.tuples(st.integers(0, 999), st.integers(0, 255)))):
            if payload:
                payload[pos % len(payload)] = value
        payload = bytes(payload)
    return struct.pack("<BHhihhH", 0, code, seg, inst, 1, 1, len(payload)) + payload


@FUZZ
@given(packets=st.lists(framed_packets(), min_size=1, max_size=4), prefix=st.booleans())
def test_random_bodies_behind_valid_framing_never_raise(packets: list[bytes], prefix: bool) -> None:
    dec = BinaryDecoder()
    ticks = dec.decode(encode_event(packets, eio3_prefix=prefix))
    check(dec, ticks, 1)
    assert dec.stats()["packets"] == len(packets)  # framing held throughout
    raw = BinaryDecoder().decode_messages(encode_event(packets))
    assert len(raw) == len(ticks)


mutation = st.tuples(
    st.sampled_from(["set", "insert", "delete", "cut"]), st.integers(0, 2000), st.integers(0, 255)
)


@FUZZ
@given(
    index=st.integers(0, len(VECTORS) - 1),
    mutations=st.lists(mutation, min_size=1, max_size=6),
    tail=st.sampled_from([b"", VECTORS[0], VECTORS[1]]),
)
def test_mutated_vectors_never_raise(
    index: int, mutations: list[tuple[str, int, int]], tail: bytes
) -> None:
    data = bytearray(VECTORS[index])
    for op, pos, value in mutations:
        if not data:
            break
        at = pos % len(data)
        if op == "set":
            data[at] = value
        elif op == "insert":
            data.insert(at, value)
        elif op == "delete":
            del data[at]
        else:
            del data[at:]
    dec = BinaryDecoder()
    check(dec, dec.decode(bytes(data) + tail), 1)
    check(dec, dec.decode(memoryview(data)), 2)


# ------------------------------------------------------------------------------ random ticks

finite = st.floats(allow_nan=False, allow_infinity=False)
prices = st.one_of(finite, st.sampled_from([0.0, 1271.75, 23512.4, 0.05]))
optional_prices = st.one_of(st.none(), prices)
# Exchange times of the NSE segments need a 1980-based count >= 1 (1970-based for the rest).
wire_seconds = st.integers(1, MAX_WIRE_SECONDS)
segments = st.sampled_from([int(s) for s in ExchangeSegment])


def levels(qty: st.SearchStrategy[int]) -> st.SearchStrategy[DepthLevel]:
    return st.builds(DepthLevel, price=prices, size=qty, orders=st.integers(0, I32))


@st.composite
def ticks(draw: st.DrawFn, code: int, *, big: bool = False) -> Tick:
    """A tick of ``code`` setting exactly the fields the JSON full message carries.

    ``big`` allows quantities only layout B can carry (64-bit)."""
    seg = draw(segments)
    u32 = st.integers(0, 2**63 - 1 if big else 2**32 - 1)
    i32 = st.integers(0, 2**63 - 1 if big else I32)

    def when() -> datetime | None:
        return time_from_wire(draw(wire_seconds), seg)

    fields = FULL_FIELDS[code]
    values: dict[str, Any] = {
        "ltp": draw(optional_prices),
        "ltq": draw(i32),
        "last_traded_time": when(),
        "last_update_time": when(),
        "exchange_time": when(),
        "open": draw(optional_prices),
        "high": draw(optional_prices),
        "low": draw(optional_prices),
        "close": draw(optional_prices),
        "volume": draw(u32),
        "average_price": draw(optional_prices),
        "total_buy_quantity": draw(u32),
        "total_sell_quantity": draw(u32),
        "total_value_traded": draw(optional_prices),
        "percent_change": draw(optional_prices),
        "bid": draw(levels(i32)),
        "ask": draw(levels(i32)),
        "bids": tuple(draw(st.lists(levels(i32), max_size=5))),
        "asks": tuple(draw(st.lists(levels(i32), max_size=5))),
        "open_interest": draw(i32),
        "book_type": draw(st.integers(0, I16)),
        "market_type": draw(st.integers(0, I16)),
        "sequence_number": draw(st.integers(1, 2**63 - 1)),
    }
    kept = {k: v for k, v in values.items() if k in fields}
    return Tick(seg, draw(st.integers(0, I32)), code, **kept)


any_tick = st.sampled_from([1501, 1502, 1510]).flatmap(ticks)


def primed(layout: str) -> BinaryDecoder:
    """A decoder that has seen one 1501 of ``layout``, as any real connection soon has: the
    rare 1502/1510 lengths that fit both layouts then resolve to the connection's layout."""
    dec = BinaryDecoder()
    assert len(dec.decode(encode_tick(Tick(1, 1, 1501), layout=layout))) == 1  # type: ignore[arg-type]
    return dec


def json_decode(tick: Tick) -> Tick | None:
    result = XtsDecoder().decode(f"{tick.message_code}-json-full", encode_full(tick))
    assert result is None or isinstance(result, Tick)
    return result


@FUZZ_HEAVY
@given(
    tick=st.sampled_from([1501, 1502, 1510]).flatmap(lambda c: ticks(c, big=True)),
    compress=st.booleans(),
    level=st.integers(0, 9),
    properties=st.lists(st.tuples(st.text(max_size=200), st.text(max_size=5)), max_size=3),
)
def test_round_trip_layout_b(
    tick: Tick, compress: bool, level: int, properties: list[tuple[str, str]]
) -> None:
    packet = encode_tick(
        tick, layout="B", compress=compress, level=level, extended_properties=properties
    )
    dec = primed("B")
    assert dec.decode(packet) == [tick]
    assert dec.errors == 0


@FUZZ_HEAVY
@given(tick=any_tick, header=st.sampled_from(["net", "jsb", "pyb"]), layout=st.sampled_from("AB"))
def test_round_trip_older_versions(tick: Tick, header: str, layout: str) -> None:
    packet = encode_tick(tick, layout=layout, message_version=2, legacy_header=header)  # type: ignore[arg-type]
    expected = tick if header == "net" else Tick(**{**vars(tick), "sequence_number": None})
    assert primed(layout).decode(packet) == [expected]


# ------------------------------------------------------------------------------ equivalence


@FUZZ_HEAVY
@given(
    states=st.lists(any_tick, min_size=1, max_size=3),
    layout=st.sampled_from("AB"),
    compressed=st.lists(st.booleans(), min_size=3, max_size=3),
    prefix=st.booleans(),
)
def test_json_and_binary_encodings_decode_to_equal_ticks(
    states: list[Tick], layout: str, compressed: list[bool], prefix: bool
) -> None:
    from_json = [json_decode(t) for t in states]
    event = encode_event(
        [
            encode_tick(t, layout=layout, compress=c)  # type: ignore[arg-type]
            for t, c in zip(states, compressed, strict=False)
        ],
        eio3_prefix=prefix,
    )
    dec = primed(layout)
    assert dec.decode(event) == from_json == states
    assert dec.errors == 0


@FUZZ_HEAVY
@given(
    seed=st.integers(0, 2**32),
    instruments=st.lists(
        st.tuples(st.sampled_from([1, 2, 3, 11, 51]), st.integers(1, 99_999)),
        min_size=1,
        max_size=3,
    ),
    steps=st.integers(0, 50),
    codes=st.lists(st.sampled_from([1501, 1502, 1510]), min_size=3, max_size=3),
    layout=st.sampled_from("AB"),
    compressed=st.lists(st.booleans(), min_size=3, max_size=3),
)
def test_simulator_market_states_decode_equally(
    seed: int,
    instruments: list[tuple[int, int]],
    steps: int,
    codes: list[int],
    layout: str,
    compressed: list[bool],
) -> None:
    """The simulator's own market walk: what it would send as JSON and as binary agree."""
    market = Market(seed)
    now = 1_739_163_395.0
    states = []
    for instrument, code in zip(instruments, codes, strict=False):
        walk = market.walk(instrument, now)
        for i in range(steps):
            walk.step(now + i)
        states.append(walk.tick(code))
    event = encode_event(
        encode_tick(t, layout=layout, compress=c)  # type: ignore[arg-type]
        for t, c in zip(states, compressed, strict=False)
    )
    from_json = [json_decode(t) for t in states]
    assert primed(layout).decode(event) == from_json


def test_binary_1510_carries_what_json_does_not() -> None:
    tick = Tick(2, 53216, 1510, open_interest=7, market_type=1, sequence_number=42)
    (from_binary,) = BinaryDecoder().decode(encode_tick(tick))
    assert from_binary.sequence_number == 42
    assert json_decode(tick) == Tick(2, 53216, 1510, open_interest=7, market_type=1)


def test_opaque_packets_between_ticks_change_nothing() -> None:
    tick = Tick(1, 2885, 1501, ltp=1271.75, ltq=1, volume=1, total_buy_quantity=1,
                total_sell_quantity=1, book_type=1, market_type=1,
                bid=DepthLevel(1.0, 1, 1), ask=DepthLevel(2.0, 1, 1))  # fmt: skip
    event = encode_event(
        [opaque_packet(1512, 1, 2885, 45), encode_tick(tick), opaque_packet(1512, 1, 2885, 45)]
    )
    dec = BinaryDecoder()
    assert dec.decode(event) == [tick]
    assert dec.skipped == {(1512, 45): 2}
