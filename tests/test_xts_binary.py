"""The binary XTS codec: every fixture vector decodes exactly, broken input is counted, the
encoder writes the vectors byte for byte and round-trips ticks."""

from __future__ import annotations

import json
import logging
import math
import os
import struct
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from jainam_fsm.xts import DepthLevel, Tick, XtsDecoder, time_from_wire
from jainam_fsm.xts.binary import BinaryDecoder
from jainam_fsm.xts.binary_encode import (
    CORRUPT_KINDS,
    corrupt_packet,
    encode_event,
    encode_payload,
    encode_tick,
    frame_packet,
    opaque_packet,
)

VECTORS = [
    json.loads(line)
    for line in (Path(__file__).resolve().parent / "data" / "xts-binary-vectors.jsonl")
    .read_text("utf-8")
    .splitlines()
    if line.strip()
]
BY_NAME = {v["name"].split()[0]: v for v in VECTORS}


def data(name: str) -> bytes:
    return bytes.fromhex(BY_NAME[name]["hex"])


def level(row: dict[str, Any]) -> DepthLevel:
    return DepthLevel(price=row["price"], size=row["size"], orders=row["orders"])


def expected_tick(m: dict[str, Any]) -> Tick:
    """The Tick a vector's message must decode to, built from the vector's wire values."""
    seg = m["exchange_segment"]

    def when(v: int) -> Any:
        return time_from_wire(v, seg)

    common: dict[str, Any] = {
        "exchange_segment": seg,
        "instrument_id": m["instrument_id"],
        "message_code": m["message_code"],
        "exchange_time": when(m["exchange_timestamp"]),
        "sequence_number": m["sequence"],
    }
    if m["message_code"] == 1510:
        return Tick(**common, open_interest=m["open_interest"], market_type=1)
    if m["message_code"] == 1502:
        bids = tuple(level(r) for r in m["bids"])
        asks = tuple(level(r) for r in m["asks"])
        # The 1502 vectors list only part of the touchline; the rest is V1's (notes: "touchline
        # = V1's"), checked here through V1's message.
        v1 = BY_NAME["V1"]["messages"][0]
        touch = expected_tick({**v1, **m, "message_code": 1501})
        return replace(touch, message_code=1502, bids=bids, asks=asks)
    return Tick(
        **common,
        ltp=m["ltp"],
        ltq=m["ltq"],
        last_traded_time=when(m["ltt"]),
        last_update_time=when(m["last_update_time"]),
        open=m["open"],
        high=m["high"],
        low=m["low"],
        close=m["close"],
        volume=m["volume"],
        average_price=m["atp"],
        total_buy_quantity=m["total_buy_qty"],
        total_sell_quantity=m["total_sell_qty"],
        total_value_traded=m["total_value_traded"],
        percent_change=m["percent_change"],
        bid=level(m["bid"]),
        ask=level(m["ask"]),
        book_type=m["book_type"],
        market_type=m["market_type"],
    )


# ------------------------------------------------------------------------------ the vectors


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_raw_values_are_exact(vector: dict[str, Any]) -> None:
    dec = BinaryDecoder()
    got = dec.decode_messages(bytes.fromhex(vector["hex"]))
    assert len(got) == len(vector["messages"])
    for message, expected in zip(got, vector["messages"], strict=True):
        for key, value in expected.items():  # every field the vector lists, exactly
            assert message[key] == value, key
    assert dec.errors == 0


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_ticks_are_exact(vector: dict[str, Any]) -> None:
    dec = BinaryDecoder()
    ticks = dec.decode(bytes.fromhex(vector["hex"]))
    assert ticks == [expected_tick(m) for m in vector["messages"]]
    stats = dec.stats()
    assert stats["decoded"] == len(ticks) and stats["events"] == 1
    assert stats["packets"] == len(ticks) and dec.errors == 0
    assert dec.skipped == {}


def test_vector_times_are_the_documented_wall_clock() -> None:
    (tick,) = BinaryDecoder().decode(data("V1"))
    assert tick.exchange_time is not None and tick.last_traded_time is not None
    assert tick.exchange_time.isoformat() == "2025-02-10T10:26:35+05:30"
    assert tick.last_traded_time.isoformat() == "2025-02-10T10:26:34+05:30"


def test_1980_base_is_switchable() -> None:
    (tick,) = BinaryDecoder(epoch_1980_segments=frozenset()).decode(data("V1"))
    assert tick.exchange_time is not None
    assert tick.exchange_time.year == 2015  # the same count read from 1970


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "words"])
def test_buffer_kinds(kind: str) -> None:
    raw = data("V6")
    buf: Any = {
        "bytes": raw,
        "bytearray": bytearray(raw),
        "memoryview": memoryview(raw),
        "words": memoryview(raw[:-4]).cast("B", (67, 4)),  # 2-D view of 268 bytes
    }[kind]
    if kind == "words":  # a non-byte shape is cast to bytes; V6 minus 4 bytes: 1st packet only
        ticks = BinaryDecoder().decode(buf)
        assert [t.message_code for t in ticks] == [1501]
        return
    ticks = BinaryDecoder().decode(buf)
    assert [t.message_code for t in ticks] == [1501, 1510]
    if kind == "bytearray":
        buf.append(0)  # the decoder released its view: the caller may resize


# ------------------------------------------------- negative cases (docs/xts-protocol.md §10.9)


def stats_after(*events: Any) -> tuple[list[Tick], BinaryDecoder]:
    dec = BinaryDecoder()
    ticks: list[Tick] = []
    for ev in events:
        ticks += dec.decode(ev)
    return ticks, dec


def test_flag_2_is_counted_and_loses_the_rest_of_the_event() -> None:
    v1 = data("V1")
    ticks, dec = stats_after(v1 + b"\x02" + v1[1:] + v1)
    assert len(ticks) == 1
    assert dec.stats()["bad_flag"] == 1 and dec.errors == 1


def test_payload_size_beyond_the_buffer_is_counted() -> None:
    v1 = data("V1")
    ticks, dec = stats_after(v1 + v1[:-1], v1[:10], b"\x01" + v1[1:15])
    assert len(ticks) == 1
    assert dec.stats()["truncated"] == 3


def test_wrong_inflated_length_is_counted_and_framing_holds() -> None:
    v2 = data("V2")
    short = v2[:13] + struct.pack("<H", 203) + v2[15:]  # claims 203, inflates to 204
    long_ = v2[:13] + struct.pack("<H", 205) + v2[15:]
    ticks, dec = stats_after(encode_event([short, long_, v2]))
    assert len(ticks) == 1 and ticks[0].instrument_id == 53216
    assert dec.stats()["bad_inflated_length"] == 2


def test_bad_deflate_is_counted_and_framing_holds() -> None:
    v2 = data("V2")
    broken = v2[:17] + b"\xff" * (len(v2) - 17)
    cut = v2[:15] + struct.pack("<H", 60) + v2[17:77]  # a stream cut short
    ticks, dec = stats_after(encode_event([broken, cut, v2]))
    assert len(ticks) == 1
    assert dec.stats()["bad_deflate"] == 2


def test_1501_of_179_bytes_is_skipped_by_size() -> None:
    v1 = data("V1")
    bad = v1[:13] + struct.pack("<H", 179) + v1[15:-1]
    ticks, dec = stats_after(bad + v1)
    assert len(ticks) == 1  # framing held: the next packet decodes
    assert dec.skipped == {(1501, 179): 1}
    assert dec.stats()["skipped"] == 1 and dec.errors == 0


def test_nan_total_value_traded_becomes_none() -> None:
    v1 = bytearray(data("V1"))
    tvt = 15 + 164
    assert struct.unpack_from("<d", v1, tvt)[0] == 5375887740.14
    v1[tvt : tvt + 8] = bytes.fromhex("000000000000f87f")
    ticks, dec = stats_after(bytes(v1))
    assert len(ticks) == 1 and ticks[0].total_value_traded is None
    assert ticks[0].ltp == 1271.75
    json.dumps(ticks[0].to_dict(), allow_nan=False)
    assert dec.stats()["nonfinite"] == 1 and dec.errors == 0


def test_extended_properties_shift_the_body() -> None:
    v1 = data("V1")
    payload = bytearray(v1[15:])
    payload[22:26] = struct.pack("<i", 1)
    payload[26:26] = bytes.fromhex("010161010162")  # key "a", value "b"
    shifted = v1[:13] + struct.pack("<H", len(payload)) + bytes(payload)
    assert len(payload) == 186
    assert BinaryDecoder().decode(shifted) == BinaryDecoder().decode(v1)
    # The encoder writes the same bytes.
    (tick,) = BinaryDecoder().decode(v1)
    assert encode_tick(tick, layout="A", extended_properties=[("a", "b")]) == shifted


def test_bad_extended_properties_are_counted() -> None:
    v1 = data("V1")
    payload = bytearray(v1[15:])
    payload[22:26] = struct.pack("<i", 1)
    payload[26:26] = b"\x01\xff\xff\xff\xff\x7f"  # a string "longer" than the payload
    bad = v1[:13] + struct.pack("<H", len(payload)) + bytes(payload)
    ticks, dec = stats_after(bad + v1)
    assert len(ticks) == 1 and dec.stats()["bad_properties"] == 1


def test_header_and_payload_disagreeing_are_counted() -> None:
    v1 = data("V1")
    other_code = v1[:1] + struct.pack("<H", 1502) + v1[3:]
    other_inst = v1[:5] + struct.pack("<i", 2886) + v1[9:]
    ticks, dec = stats_after(encode_event([other_code, other_inst, v1]))
    assert len(ticks) == 1
    # 1502 with 180 bytes does not even look like a common header of 1502: code mismatch.
    assert dec.stats()["code_mismatch"] == 1 and dec.stats()["id_mismatch"] == 1


def test_1512_and_unknown_codes_are_skipped_not_scanned() -> None:
    event = encode_event(
        [
            opaque_packet(1512, 1, 2885, 70),
            opaque_packet(1512, 1, 2885, 70, compress=True),
            opaque_packet(1105, 1, 2885, 12),
            opaque_packet(9999, 2, 1, 0),
            data("V1"),
        ]
    )
    ticks, dec = stats_after(event)
    assert [t.message_code for t in ticks] == [1501]
    assert dec.skipped == {(1512, 70): 2, (1105, 12): 1, (9999, 0): 1}
    assert dec.errors == 0 and dec.stats()["packets"] == 5


def test_skipped_keys_are_bounded() -> None:
    dec = BinaryDecoder()
    for size in range(600):
        dec.decode(opaque_packet(1512, 1, 1, size))
    assert len(dec.skipped) == 513 and dec.skipped[(-1, -1)] == 88
    assert dec.stats()["skipped"] == 600


@pytest.mark.parametrize("kind", CORRUPT_KINDS)
def test_corrupt_packets_are_counted_under_their_kind(kind: str) -> None:
    (tick,) = BinaryDecoder().decode(data("V2"))
    good = encode_tick(tick)
    framing_lost = kind in {"bad_flag", "truncated"}
    # A packet that loses framing can only be recognised as the last of its event.
    tail = [] if kind == "truncated" else [good]
    ticks, dec = stats_after(encode_event([good, corrupt_packet(kind, tick), *tail]), good)
    assert ticks == ([tick, tick] if framing_lost else [tick, tick, tick])
    assert dec.stats()[kind] == 1


def test_not_bytes_and_empty_events_are_counted(caplog: pytest.LogCaptureFixture) -> None:
    dec = BinaryDecoder()
    with caplog.at_level(logging.WARNING, logger="jainam_fsm.xts"):
        for bad in ["00dd05", None, 1501, [b"\x00"], memoryview(b"abcdef")[::2], b""]:
            assert dec.decode(bad) == []  # type: ignore[arg-type]
    stats = dec.stats()
    assert stats["not_bytes"] == 5 and stats["empty_event"] == 1 and stats["events"] == 6
    assert len(caplog.records) == 2  # logged once per kind


def test_large_compressed_payloads_inflate_with_a_bound() -> None:
    blob = os.urandom(3000)  # incompressible: the compressed stream is > 2048 bytes
    packet = frame_packet(1512, 1, 7, blob, compress=True)
    assert len(packet) > 2048 + 17
    lying = packet[:13] + struct.pack("<H", 100) + packet[15:]
    cut = packet[:15] + struct.pack("<H", 2500) + packet[17 : 17 + 2500]
    bomb_body = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = bomb_body.compress(os.urandom(2100) + bytes(60000)) + bomb_body.flush()
    bomb_packet = struct.pack("<BHhihhHH", 1, 1512, 1, 7, 1, 1, 40, len(bomb)) + bomb
    _, dec = stats_after(packet, lying, cut, bomb_packet)
    assert dec.skipped == {(1512, 3000): 1}
    assert dec.stats()["bad_inflated_length"] == 2 and dec.stats()["bad_deflate"] == 1


# ------------------------------------------------------------------- layouts and versions


def test_depth_layout_ambiguity_follows_the_connection() -> None:
    # Layout A, 1 bid and 4 asks, first ask of size 2: read as B (bid count 1 at the same place,
    # ask count = that size 2 at B's position) the length fits as well.
    base = BinaryDecoder().decode(data("V3"))[0]
    tick = replace(base, bids=base.bids[:1], asks=(replace(base.asks[0], size=2), *base.asks[1:4]))
    packet = encode_tick(tick, layout="A")
    fresh = BinaryDecoder()
    assert fresh.decode(packet) != [tick]  # no layout seen yet: Jainam's B is assumed
    assert fresh.stats()["ambiguous_layout"] == 1
    primed = BinaryDecoder()
    primed.decode(data("V1"))  # a 1501 of 180 bytes: this connection sends layout A
    assert primed.layout == "A"
    assert primed.decode(packet) == [tick]
    primed.reset()
    assert primed.layout == "B"


@pytest.mark.parametrize("header", ["net", "jsb", "pyb"])
@pytest.mark.parametrize("layout", ["A", "B"])
@pytest.mark.parametrize("name", ["V1", "V3", "V5"])
def test_older_message_versions(header: str, layout: str, name: str) -> None:
    (tick,) = BinaryDecoder().decode(data(name))
    old = encode_tick(tick, layout=layout, message_version=3, legacy_header=header)  # type: ignore[arg-type]
    dec = BinaryDecoder()
    dec.decode(encode_tick(tick, layout=layout))  # the connection's layout is known
    (got,) = dec.decode(old)
    # 1510 B under JSB's 32-byte header has the length of 1510 A under NET's 40-byte one: the
    # ids at each variant's place settle it.
    assert got == (tick if header == "net" else replace(tick, sequence_number=None))
    assert dec.decode_messages(old)[0]["message_version"] == 3


# ------------------------------------------------------------------------------ the encoder


@pytest.mark.parametrize("name", ["V1", "V3", "V3b", "V4", "V5"])
def test_encoder_writes_the_raw_vectors_byte_for_byte(name: str) -> None:
    vector = BY_NAME[name]
    m = vector["messages"][0]
    (tick,) = BinaryDecoder().decode(data(name))
    kwargs: dict[str, Any] = {"layout": m["layout"]}
    if m["message_code"] == 1510:
        kwargs.update(
            underlying_segment=m["underlying_segment"],
            underlying_instrument_id=m["underlying_instrument_id"],
            underlying_name=m["underlying_name"],
            underlying_total_oi=m["underlying_total_oi"],
        )
    assert encode_tick(tick, **kwargs).hex() == vector["hex"]


def test_encoder_compressed_vector_and_events() -> None:
    v1, v2 = data("V1"), data("V2")
    (t1,), (t2,) = BinaryDecoder().decode(v1), BinaryDecoder().decode(data("V4"))
    (t_b,) = BinaryDecoder().decode(v2)
    packet = encode_tick(t_b, layout="B", compress=True)
    assert packet[:17] == v2[:17] or packet[:15] == v2[:15]  # same header; zlib may differ
    assert zlib.decompress(packet[17:], -15) == zlib.decompress(v2[17:], -15)
    assert encode_event([v1, data("V4")[0:]], eio3_prefix=True) == data("V6")
    assert BinaryDecoder().decode(encode_event([v1, data("V4")], eio3_prefix=True)) == [t1, t2]


def test_encoder_refuses_what_a_layout_cannot_carry() -> None:
    (tick,) = BinaryDecoder().decode(data("V2"))  # volume 5,012,345,675 > 2**32
    assert encode_tick(tick, layout="B")
    with pytest.raises(ValueError, match="layout A cannot carry"):
        encode_tick(tick, layout="A")
    with pytest.raises(ValueError, match="no binary layout"):
        encode_tick(replace(tick, message_code=1512))
    with pytest.raises(ValueError, match="cannot carry"):
        encode_tick(replace(tick, instrument_id=2**31))
    with pytest.raises(ValueError, match="unknown layout"):
        encode_tick(tick, layout="C")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="65535"):
        opaque_packet(1512, 1, 1, 70_000)
    with pytest.raises(ValueError, match="unknown corrupt kind"):
        corrupt_packet("nope", tick)
    with pytest.raises(ValueError, match="127 bytes"):
        encode_payload(replace(tick, message_code=1510), underlying_name="N" * 128)


def test_encoder_unset_fields() -> None:
    bare = Tick(1, 22, 1501, ltp=1991.25)
    (got,) = BinaryDecoder().decode(encode_tick(bare, nan_total_value_traded=True))
    # prices: None -> NaN -> None; quantities/types: 0; times/sequence: 0 -> None; rows: zeros.
    assert got.ltp == 1991.25 and got.open is None and got.total_value_traded is None
    assert got.volume == 0 and got.book_type == 0 and got.last_traded_time is None
    assert got.sequence_number is None and got.bid == DepthLevel(0.0, 0, 0)
    depth = Tick(2, 35001, 1502, bids=(DepthLevel(10.5, 1, 1),), asks=())
    (got,) = BinaryDecoder().decode(encode_tick(depth, layout="A"))
    assert got.bid == DepthLevel(10.5, 1, 1) and got.ask == DepthLevel(0.0, 0, 0)
    assert math.isnan(BinaryDecoder().decode_messages(encode_tick(bare))[0]["open"])


def test_1505_candles_on_the_binary_socket_are_json() -> None:
    """The binary socket carries candles as JSON strings: the JSON decoder handles them."""
    text = (
        '{"MessageCode":1505,"MessageVersion":1,"ApplicationType":0,"TokenID":0,'
        '"ExchangeSegment":1,"ExchangeInstrumentID":467,"BarTime":1736164979,'
        '"BarVolume":1760422,"High":607.65,"Low":606.5,"Open":606.55,"Close":607.45,'
        '"OpenInterest":0,"SumOfQtyInToPrice":0}'
    )
    dec = XtsDecoder()
    full = dec.decode("1505-json-full", text)
    assert isinstance(full, Tick) and full.instrument == (1, 467) and full.close == 607.45
    assert full.bar_time is not None and full.bar_time.isoformat() == "2025-01-06T12:02:59+05:30"
    part = dec.decode(
        "1505-json-partial",
        "t:1_467,o:606.55,h:607.65,l:606.5,c:607.45,bt:1736164979,bv:1760422,pv:0",
    )
    assert isinstance(part, Tick) and part.bar_volume == 1760422
