"""The pure XTS codec against the captured payloads, the documented samples and bad input."""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jainam_fsm.xts import (
    FULL_FIELDS,
    IGNORED_KINDS,
    IST,
    PARTIAL_FIELDS,
    BroadcastMode,
    DepthLevel,
    ExchangeSegment,
    MarketStatus,
    MessageCode,
    Tick,
    XtsDecoder,
    encode_full,
    encode_listquote,
    encode_partial,
    event_name,
    parse_event_name,
    time_from_wire,
    time_to_wire,
    uses_1980_epoch,
)

FIXTURES = Path(__file__).resolve().parent / "data"
CAPTURED = FIXTURES / "xts-captured-payloads.jsonl"


def captured() -> list[dict[str, str]]:
    with CAPTURED.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def by_label(label: str) -> dict[str, str]:
    (hit,) = [r for r in captured() if r["label"] == label]
    return hit


def ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)  # type: ignore[misc]


def decode_one(event: str, data: object) -> Any:
    dec = XtsDecoder()
    out = dec.decode(event, data)
    return out


# --------------------------------------------------------------------------- codes


def test_segment_and_message_codes() -> None:
    assert ExchangeSegment.NSECM == 1
    assert ExchangeSegment.NSEFO == 2
    assert ExchangeSegment.NSECD == 3
    assert ExchangeSegment.BSECM == 11
    assert ExchangeSegment.BSEFO == 12
    assert ExchangeSegment.MCXFO == 51
    assert [int(s) for s in ExchangeSegment] == [
        1,
        2,
        3,
        4,
        5,
        7,
        11,
        12,
        13,
        14,
        21,
        41,
        42,
        43,
        51,
    ]
    assert MessageCode.TOUCHLINE == 1501 and MessageCode.DEPTH == 1502
    assert MessageCode.INDEX == 1504 and MessageCode.CANDLE == 1505
    assert MessageCode.MARKET_STATUS == 1507 and MessageCode.OPEN_INTEREST == 1510
    assert MessageCode.LTP == 1512 and MessageCode.INSTRUMENT_PROPERTY == 1105
    assert BroadcastMode.FULL == "Full" and BroadcastMode.PARTIAL == "Partial"
    assert [s for s in ExchangeSegment if uses_1980_epoch(s)] == [1, 2, 3]


def test_event_names() -> None:
    assert event_name(1501, BroadcastMode.FULL) == "1501-json-full"
    assert event_name(1502, BroadcastMode.PARTIAL) == "1502-json-partial"
    assert event_name(5018, BroadcastMode.FULL) == "5018-json-full"
    for code in MessageCode:
        for mode in BroadcastMode:
            assert parse_event_name(event_name(code, mode)) == (code, mode)
    assert parse_event_name("1501-JSON-Full") == (1501, BroadcastMode.FULL)
    assert parse_event_name("5018-json-partial") == (5018, BroadcastMode.PARTIAL)
    for bad in (
        "joined",
        "1502-binary-full",
        "xts-binary-packet",
        "1501-json",
        "-json-full",
        "1501-json-fullx",
        "x1501-json-full",
        "",
        "\u0661\u0665\u0660\u0661-json-full",
        None,
        1501,
        b"1",
    ):
        assert parse_event_name(bad) is None, bad


# --------------------------------------------------------------------------- times


def test_time_conversion_matches_fixture_readme() -> None:
    # README: LastTradedTime 1420632949 is 2025-01-06 12:15:49 India time (NSE, 1980 epoch).
    t = time_from_wire(1420632949, 1)
    assert t == ist(2025, 1, 6, 12, 15, 49)
    assert t is not None and t.utcoffset() == timedelta(hours=5, minutes=30)
    assert t == datetime(2025, 1, 6, 6, 45, 49, tzinfo=UTC)
    assert time_to_wire(ist(2025, 1, 6, 12, 15, 49), 1) == 1420632949
    # A 1970-based segment (MCX) reads the same count 10 years earlier, same wall-clock reading.
    assert time_from_wire(1420632949, 51) == ist(2015, 1, 7, 12, 15, 49)
    assert time_to_wire(ist(2015, 1, 7, 12, 15, 49), 51) == 1420632949
    assert time_from_wire(0, 1) is None
    with pytest.raises(ValueError):
        time_from_wire(-5, 1)
    with pytest.raises(ValueError):
        time_to_wire(datetime(2025, 1, 1), 1)  # naive


# --------------------------------------------------------------------------- captured payloads


def test_every_captured_line_decodes() -> None:
    dec = XtsDecoder()
    results = [dec.decode(r["event"], r["data"]) for r in captured()]
    assert len(results) == 8
    assert results[0] is None  # 1105 instrument property: ignored, not an error
    assert all(r is not None for r in results[1:])
    assert dec.stats == {"decoded": 7, "ignored_code": 1}
    assert dec.errors == 0


def test_touchline_flat_shape() -> None:
    r = by_label("touchline, flat shape")
    t = decode_one(r["event"], r["data"])
    assert isinstance(t, Tick)
    assert (t.exchange_segment, t.instrument_id, t.message_code) == (1, 467, 1501)
    assert t.ltp == 610.3 and isinstance(t.ltp, float)
    assert t.ltq == 1
    assert t.total_buy_quantity == 363004 and t.total_sell_quantity == 327007
    assert t.volume == 1983015
    assert t.average_price == 612.81
    assert t.last_traded_time == ist(2025, 1, 6, 12, 15, 49)
    assert t.last_update_time == ist(2025, 1, 6, 12, 15, 49)
    assert t.exchange_time is None
    assert t.percent_change == pytest.approx(-2.038523274478332)
    assert (t.open, t.high, t.low, t.close) == (627.0, 627.0, 605.15, 623.0)
    assert isinstance(t.open, float)
    assert t.total_value_traded is None
    assert t.ask == DepthLevel(610.3, 15, 1)
    assert t.bid == DepthLevel(610.15, 119, 3)
    assert t.bids == () and t.asks == ()
    assert (t.book_type, t.market_type, t.sequence_number) == (1, 1, None)


def test_touchline_nested_shape() -> None:
    r = by_label("touchline, nested Touchline shape")
    t = decode_one(r["event"], r["data"])
    assert isinstance(t, Tick)
    assert (t.exchange_segment, t.instrument_id, t.message_code) == (1, 467, 1501)
    assert t.ltp == 610.25 and t.ltq == 1
    assert t.bid == DepthLevel(610.15, 90, 2)
    assert t.ask == DepthLevel(610.25, 28, 1)
    assert t.total_buy_quantity == 362961 and t.total_sell_quantity == 327122
    assert t.volume == 1983017 and t.average_price == 612.81
    assert t.last_traded_time == ist(2025, 1, 6, 12, 15, 50)
    assert t.last_update_time == ist(2025, 1, 6, 12, 15, 51)
    assert t.exchange_time == ist(2025, 1, 6, 12, 15, 51)
    assert (t.open, t.high, t.low, t.close) == (627.0, 627.0, 605.15, 623.0)
    assert t.sequence_number == 1583105129732134
    assert (t.book_type, t.market_type) == (1, 1)


def test_flat_and_nested_agree_where_fields_overlap() -> None:
    nested_text = by_label("touchline, nested Touchline shape")["data"]
    obj = json.loads(nested_text)
    flat = {k: v for k, v in obj.items() if k != "Touchline"}
    flat.update(obj["Touchline"])
    a = decode_one("1501-json-full", nested_text)
    b = decode_one("1501-json-full", json.dumps(flat))
    assert a == b
    # The two captured shapes share their field set: only values differ.
    c = decode_one("1501-json-full", by_label("touchline, flat shape")["data"])
    assert {f for f, v in c.to_dict().items()} | {"exchange_time", "sequence_number"} == set(
        a.to_dict()
    )


def test_depth_five_levels() -> None:
    r = by_label("market depth, 5 levels")
    t = decode_one(r["event"], r["data"])
    assert isinstance(t, Tick)
    assert (t.exchange_segment, t.instrument_id, t.message_code) == (2, 42489, 1502)
    assert t.bids == (
        DepthLevel(1269.35, 407, 1),
        DepthLevel(1269.3, 814, 1),
        DepthLevel(1269.05, 407, 1),
        DepthLevel(1268.85, 407, 1),
        DepthLevel(1268.7, 407, 1),
    )
    assert [lv.price for lv in t.asks] == [1270.8, 1271.15, 1271.2, 1271.3, 1271.35]
    assert [lv.size for lv in t.asks] == [407] * 5
    assert t.bid == DepthLevel(1269.35, 407, 1) and t.ask == DepthLevel(1270.8, 407, 1)
    assert t.ltp == 1270.2 and t.ltq == 407
    assert t.volume == 1102970 and t.average_price == 1276.29
    assert (t.open, t.high, t.low, t.close) == (1309.95, 1315.75, 1256.0, 1306.3)
    # NSEFO is 1980-based too.
    assert t.exchange_time == ist(2025, 1, 6, 12, 21, 30)
    assert t.last_traded_time == ist(2025, 1, 6, 12, 21, 20)
    assert t.sequence_number == 1583106257997885


def test_candle() -> None:
    r = by_label("candle")
    t = decode_one(r["event"], r["data"])
    assert isinstance(t, Tick)
    assert (t.exchange_segment, t.instrument_id, t.message_code) == (1, 467, 1505)
    # BarTime is 1970-based and reads as India wall clock: 12:02:59 (docs/xts-protocol.md §7).
    assert t.bar_time == ist(2025, 1, 6, 12, 2, 59)
    assert t.bar_volume == 1760422
    assert (t.open, t.high, t.low, t.close) == (606.55, 607.65, 606.5, 607.45)
    assert t.open_interest == 0 and t.sum_qty_price == 0.0
    assert t.ltp is None and t.last_update_time is None


@pytest.mark.parametrize(
    ("label", "lut"),
    [
        ("LTP, short shape", ist(2025, 1, 6, 12, 24, 37)),
        ("LTP, with header fields", ist(2025, 1, 6, 12, 24, 39)),
    ],
)
def test_ltp(label: str, lut: datetime) -> None:
    r = by_label(label)
    t = decode_one(r["event"], r["data"])
    assert isinstance(t, Tick)
    assert (t.exchange_segment, t.instrument_id, t.message_code) == (1, 467, 1512)
    assert t.ltp == 609.45 and t.ltq == 8
    assert t.last_update_time == lut
    assert t.close == 623.0 and t.percent_change == pytest.approx(-2.1749598715890883)
    assert (t.book_type, t.market_type) == (1, 1)
    assert t.open is None and t.bid is None


def test_market_status() -> None:
    r = by_label("market status")
    s = decode_one(r["event"], r["data"])
    assert s == MarketStatus(
        exchange_segment=2,
        trading_session=4,
        market_type=1,
        message="THE REGULAR SEGMENT HAS CLOSED FOR 07 NOV 2024",
        exchange_time=ist(2024, 11, 7, 15, 30, 0),
        sequence_number=1531302407952658,
    )
    assert s.to_dict()["exchange_time"] == "2024-11-07T15:30:00+05:30"


def test_instrument_property_with_nul_characters_is_ignored_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    r = captured()[0]
    assert r["event"] == "1105-json-partial" and "\x00" in r["data"]
    dec = XtsDecoder()
    with caplog.at_level(logging.WARNING, logger="jainam_fsm.xts"):
        assert dec.decode(r["event"], r["data"]) is None
        assert dec.decode("1105-json-full", "{}") is None
    assert dec.stats == {"decoded": 0, "ignored_code": 2}
    assert dec.errors == 0
    assert "ignored_code" in IGNORED_KINDS
    assert not caplog.records  # not a warning


def test_ids_as_strings_and_spelling_variant() -> None:
    obj = json.loads(by_label("LTP, short shape")["data"])
    obj["ExchangeSegment"] = "1"
    obj["ExchangeInstrumentID"] = "22"
    obj["LastTradedQuantity"] = obj.pop("LastTradedQunatity")
    t = decode_one("1512-json-full", json.dumps(obj))
    assert isinstance(t, Tick)
    assert (t.exchange_segment, t.instrument_id) == (1, 22)
    assert t.ltq == 8


def test_1510_open_interest() -> None:
    text = (
        '{"MessageCode":1510,"MessageVersion":0,"ApplicationType":0,"TokenID":0,'
        '"ExchangeSegment":2,"ExchangeInstrumentID":46082,"ExchangeTimeStamp":0,'
        '"XTSMarketType":1,"OpenInterest":1234500}'
    )
    t = decode_one("1510-json-full", text)
    assert t == Tick(2, 46082, 1510, open_interest=1234500, market_type=1)


def test_1504_index_full() -> None:
    text = json.dumps(
        {
            "MessageCode": 1504,
            "ExchangeSegment": 1,
            "ExchangeInstrumentID": 26000,
            "ExchangeTimeStamp": 1420632949,
            "IndexName": "NIFTY 50",
            "IndexValue": 23616.05,
            "OpeningIndex": 24045.8,
            "ClosingIndex": 24004.75,
            "HighIndexValue": 24089.95,
            "LowIndexValue": 23551.9,
            "PercentChange": -1.62,
            "YearlyHigh": 26277.35,
        }
    )
    t = decode_one("1504-json-full", text)
    assert t == Tick(
        1,
        26000,
        1504,
        ltp=23616.05,
        open=24045.8,
        high=24089.95,
        low=23551.9,
        close=24004.75,
        percent_change=-1.62,
        exchange_time=ist(2025, 1, 6, 12, 15, 49),
    )


def test_dict_and_bytes_payloads_are_tolerated() -> None:
    text = by_label("candle")["data"]
    expected = decode_one("1505-json-full", text)
    assert decode_one("1505-json-full", json.loads(text)) == expected
    assert decode_one("1505-json-full", text.encode()) == expected
    assert decode_one("1505-json-full", bytearray(text.encode())) == expected


def test_to_dict_is_json_serialisable() -> None:
    t = decode_one("1502-json-full", by_label("market depth, 5 levels")["data"])
    d = t.to_dict()
    assert d["last_traded_time"] == "2025-01-06T12:21:20+05:30"
    assert d["bids"][1] == {"price": 1269.3, "size": 814, "orders": 1}
    assert "open_interest" not in d and "bar_time" not in d
    assert json.loads(json.dumps(d, allow_nan=False)) == d


# --------------------------------------------------------------------------- partial format


NOTES_1501 = (
    "t:1_22,ltp:1567.95,ltq:20,tb:1428,ts:0,v:253453,ap:1576.2,ltt:1205682110,lut:1205682251,"
    "pc:0,o:1599.9,h:1607.25,l:1552.7,c:1567.95,vp:177838490,ai:0|1428|1567.95|10,"
    "bi:0|14|2408.90|2"
)


def test_partial_touchline_notes_sample() -> None:
    t = decode_one("1501-json-partial", NOTES_1501)
    assert t == Tick(
        1, 22, 1501,
        ltp=1567.95, ltq=20, total_buy_quantity=1428, total_sell_quantity=0, volume=253453,
        average_price=1576.2,
        last_traded_time=time_from_wire(1205682110, 1),
        last_update_time=time_from_wire(1205682251, 1),
        percent_change=0.0, open=1599.9, high=1607.25, low=1552.7, close=1567.95,
        total_value_traded=177838490.0,
        ask=DepthLevel(1567.95, 1428, 10),
        bid=DepthLevel(2408.90, 14, 2),
    )  # fmt: skip


def test_partial_merges_changed_fields_onto_last_state() -> None:
    dec = XtsDecoder()
    first = dec.decode("1501-json-partial", NOTES_1501)
    second = dec.decode("1501-json-partial", "t:1_22,ltp:1568.5,ltq:5,bi:,ai:")
    assert isinstance(first, Tick) and isinstance(second, Tick)
    assert second == dataclasses.replace(first, ltp=1568.5, ltq=5)
    third = dec.decode("1501-json-partial", "t:1_22,bi:0|20|1568.00|3,v:253458")
    assert third == dataclasses.replace(second, bid=DepthLevel(1568.0, 20, 3), volume=253458)
    # Another instrument starts from nothing.
    other = dec.decode("1501-json-partial", "t:1_23,ltp:10")
    assert other == Tick(1, 23, 1501, ltp=10.0)
    # reset() (on reconnect) forgets the state.
    dec.reset()
    assert dec.decode("1501-json-partial", "t:1_22,ltp:1569") == Tick(1, 22, 1501, ltp=1569.0)
    assert dec.stats == {"decoded": 5}


def test_partial_depth_groups() -> None:
    dec = XtsDecoder()
    bi = "|".join(f"{i}|{10 + i}|{2408.90 - i / 10:.2f}|{i + 1}" for i in range(5))
    ai = "|".join(f"{i}|{20 + i}|{2409.50 + i / 10:.2f}|{i + 2}" for i in range(5))
    t = dec.decode("1502-json-partial", f"t:2_42489,ltp:2409.1,ltq:3,bi:{bi},ai:{ai}")
    assert isinstance(t, Tick)
    assert t.bids == tuple(DepthLevel(round(2408.90 - i / 10, 2), 10 + i, i + 1) for i in range(5))
    assert t.asks[4] == DepthLevel(2409.9, 24, 6)
    assert t.bid == t.bids[0] and t.ask == t.asks[0]
    assert t.ltp == 2409.1
    # Only level 2 of the bids changes; asks unchanged (empty field).
    u = dec.decode("1502-json-partial", "t:2_42489,bi:2|99|2408.70|7,ai:")
    assert isinstance(u, Tick)
    assert u.bids == (*t.bids[:2], DepthLevel(2408.7, 99, 7), *t.bids[3:])
    assert u.asks == t.asks and u.ltp == 2409.1
    # Best level change moves bid too.
    v = dec.decode("1502-json-partial", "t:2_42489,bi:0|1|2409.00|1")
    assert isinstance(v, Tick) and v.bid == DepthLevel(2409.0, 1, 1) == v.bids[0]


def test_partial_other_codes() -> None:
    dec = XtsDecoder()
    assert dec.decode("1512-json-partial", "t:1_2885,ltp:2570.8,ltq:25,lut:1317813273,bt:1,mt:1") == Tick(
        1, 2885, 1512, ltp=2570.8, ltq=25, last_update_time=time_from_wire(1317813273, 1),
        book_type=1, market_type=1,
    )  # fmt: skip
    assert dec.decode("1505-json-partial", "t:1_467,o:606.55,h:607.65,l:606.5,c:607.45,bt:1736164979,bv:1760422,pv:0") == Tick(
        1, 467, 1505, open=606.55, high=607.65, low=606.5, close=607.45,
        bar_time=ist(2025, 1, 6, 12, 2, 59), bar_volume=1760422, sum_qty_price=0.0,
    )  # fmt: skip
    assert dec.decode("1510-json-partial", "t:2_46082,o:1234500") == Tick(
        2, 46082, 1510, open_interest=1234500
    )
    assert dec.decode("1504-json-partial", "t:1_26000,ltp:23616.05,pc:-1.62") == Tick(
        1, 26000, 1504, ltp=23616.05, percent_change=-1.62
    )
    # An index keyed by name has no instrument id: counted as ignored, not as an error.
    assert dec.decode("1504-json-partial", "t:1_NIFTY 50,ltp:23616.05") is None
    # MCX (51) counts from 1970.
    t = dec.decode("1512-json-partial", "t:51_1,ltp:1,lut:1736164979")
    assert isinstance(t, Tick) and t.last_update_time == ist(2025, 1, 6, 12, 2, 59)
    assert dec.stats == {"decoded": 5, "ignored_index_name": 1}
    assert dec.errors == 0


def test_snapshot_seeds_partial_state() -> None:
    dec = XtsDecoder()
    snap = dec.decode_snapshot(by_label("touchline, nested Touchline shape")["data"])
    assert isinstance(snap, Tick) and snap.instrument == (1, 467)
    t = dec.decode("1501-json-partial", "t:1_467,ltp:611")
    assert t == dataclasses.replace(snap, ltp=611.0)
    assert dec.decode_snapshot(by_label("candle")["data"], code=1505) is not None
    assert dec.decode_snapshot("[1]") is None
    assert dec.decode_snapshot('{"MessageCode":9999}') is None
    assert dec.stats == {"decoded": 3, "not_an_object": 1, "unknown_code": 1}


# --------------------------------------------------------------------------- bad input

GOOD_LTP = by_label("LTP, short shape")["data"]


def _ltp_with(**changes: object) -> str:
    obj = json.loads(GOOD_LTP)
    for k, v in changes.items():
        if v is ...:
            obj.pop(k)
        else:
            obj[k] = v
    return json.dumps(obj)


BAD_INPUTS: list[tuple[str, str, object]] = [
    ("invalid_json", "1501-json-full", '{"MessageCode":1501,'),
    ("invalid_json", "1501-json-full", '{"LastTradedPrice": NaN}'),
    ("invalid_json", "1501-json-full", "[" * 10_000 + "]" * 10_000),
    ("invalid_json", "1501-json-full", ""),
    ("not_an_object", "1501-json-full", "[1, 2]"),
    ("missing_id", "1512-json-full", _ltp_with(ExchangeInstrumentID=...)),
    ("missing_id", "1512-json-full", _ltp_with(ExchangeSegment=None)),
    ("missing_id", "1501-json-partial", "ltp:1.5,ltq:2"),
    ("bad_id", "1512-json-full", _ltp_with(ExchangeInstrumentID="abc")),
    ("bad_id", "1512-json-full", _ltp_with(ExchangeSegment=-1)),
    ("bad_id", "1512-json-full", _ltp_with(ExchangeInstrumentID=[1])),
    ("bad_id", "1501-json-partial", "t:1-22,ltp:1"),
    ("bad_number", "1512-json-full", _ltp_with(LastTradedPrice="abc")),
    ("bad_number", "1512-json-full", _ltp_with(LastTradedPrice=True)),
    ("bad_number", "1512-json-full", _ltp_with(LastTradedPrice={"x": 1})),
    # orjson refuses numbers a double / 64-bit integer cannot hold: not JSON we accept.
    ("invalid_json", "1512-json-full", GOOD_LTP.replace("609.45", "1e999")),
    ("bad_number", "1512-json-full", _ltp_with(LastTradedQunatity=1.5)),
    ("invalid_json", "1512-json-full", _ltp_with(LastTradedPrice=10**400)),
    ("bad_number", "1512-json-full", _ltp_with(LastUpdateTime=-3)),
    ("bad_number", "1501-json-partial", "t:1_22,ltp:abc"),
    ("bad_number", "1501-json-partial", "t:1_22,ltp:inf"),
    ("bad_depth", "1501-json-partial", "t:1_22,bi:0|1|2"),
    ("bad_depth", "1502-json-partial", "t:1_22,bi:7|1|2.5|1"),
    (
        "bad_depth",
        "1502-json-full",
        json.dumps({"ExchangeSegment": 2, "ExchangeInstrumentID": 5, "Bids": [{"Size": 1}]}),
    ),
    (
        "bad_depth",
        "1502-json-full",
        json.dumps({"ExchangeSegment": 2, "ExchangeInstrumentID": 5, "Bids": "x"}),
    ),
    ("bad_value", "1507-json-full", json.dumps({"exchangeSegment": 2, "message": 5})),
    ("unknown_code", "9999-json-full", GOOD_LTP),
    ("unknown_code", "5018-json-partial", "t:1_22"),
    ("unknown_event", "1502-binary-full", GOOD_LTP),
    ("unknown_event", "joined", GOOD_LTP),
    ("unknown_event", ["not", "hashable"], GOOD_LTP),
    ("code_mismatch", "1501-json-full", GOOD_LTP),
    ("nul_character", "1512-json-full", GOOD_LTP[:-1] + "\x00}"),
    ("nul_character", "1512-json-partial", "t:1_22,ltp:1\x00"),
    ("nul_character", "1507-json-full", json.dumps({"exchangeSegment": 2, "message": "a\x00b"})),
    ("oversize", "1512-json-full", '{"x":"' + "a" * 2_000_000 + '"}'),
    ("oversize", "1512-json-full", b"x" * 2_000_000),
    ("not_a_string", "1512-json-full", 42),
    ("not_a_string", "1512-json-full", None),
    ("not_a_string", "1512-json-full", ["1512"]),
    ("not_a_string", "1512-json-partial", {"t": "1_22"}),
    ("bad_encoding", "1512-json-full", b"\xff\xfe{}"),
    ("malformed_partial", "1512-json-partial", "t:1_22,ltp"),
    ("malformed_partial", "1512-json-partial", ""),
    ("unsupported_partial", "1507-json-partial", "t:2_0,x:1"),
]


@pytest.mark.parametrize(
    ("kind", "event", "data"),
    BAD_INPUTS,
    ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(BAD_INPUTS)],
)
def test_bad_input_is_counted_by_kind(kind: str, event: Any, data: object) -> None:
    dec = XtsDecoder()
    assert dec.decode(event, data) is None
    assert dec.stats == {"decoded": 0, kind: 1}
    assert dec.errors == 1


def test_each_bad_kind_logged_once_and_truncated(caplog: pytest.LogCaptureFixture) -> None:
    dec = XtsDecoder()
    huge_bad = "{" + "x" * 60_000  # invalid JSON, under the size limit
    with caplog.at_level(logging.DEBUG, logger="jainam_fsm.xts"):
        for _ in range(3):
            for kind, event, data in BAD_INPUTS:
                assert dec.decode(event, data) is None
            assert dec.decode("1501-json-full", huge_bad) is None
        # Good input keeps decoding after all of that.
        assert dec.decode("1512-json-full", GOOD_LTP) is not None
    kinds = {k for k, _, _ in BAD_INPUTS}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert all(r.name == "jainam_fsm.xts" for r in warnings)
    assert len(warnings) == len(kinds)  # once per kind, not per payload
    for kind in kinds:
        assert sum(f"({kind})" in r.getMessage() for r in warnings) == 1
        assert dec.stats[kind] == 3 * sum(k == kind for k, _, _ in BAD_INPUTS) + (
            3 if kind == "invalid_json" else 0
        )
    assert dec.stats["decoded"] == 1
    assert max(len(r.getMessage()) for r in caplog.records) < 700


def test_internal_errors_are_counted_not_raised(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jainam_fsm.xts import decode as decode_module

    def boom(*_: object) -> None:
        raise KeyError("unexpected")

    monkeypatch.setattr(decode_module, "_full_candle", boom)
    dec = XtsDecoder()
    with caplog.at_level(logging.WARNING, logger="jainam_fsm.xts"):
        assert dec.decode("1505-json-full", by_label("candle")["data"]) is None
        assert dec.decode("1505-json-full", by_label("candle")["data"]) is None
    assert dec.stats == {"decoded": 0, "internal_error": 2}
    assert len(caplog.records) == 1 and caplog.records[0].exc_info is not None


def test_max_payload_is_configurable() -> None:
    text = by_label("market depth, 5 levels")["data"]
    dec = XtsDecoder(max_payload=1000)
    assert len(text) > 1000
    assert dec.decode("1502-json-full", text) is None
    assert dec.stats == {"decoded": 0, "oversize": 1}
    with pytest.raises(ValueError):
        XtsDecoder(max_payload=0)


def test_partial_state_is_bounded() -> None:
    dec = XtsDecoder(max_instruments=3)
    for i in range(10):
        assert dec.decode("1512-json-partial", f"t:1_{i},ltp:{i}") is not None
    # The oldest instruments were forgotten: a delta for them starts from nothing.
    assert dec.decode("1512-json-partial", "t:1_0,ltq:1") == Tick(1, 0, 1512, ltq=1)
    assert dec.decode("1512-json-partial", "t:1_9,ltq:1") == Tick(1, 9, 1512, ltp=9.0, ltq=1)


# --------------------------------------------------------------------------- encoding


@pytest.mark.parametrize("index", range(1, 8))
def test_captured_payloads_round_trip_through_the_encoder(index: int) -> None:
    r = captured()[index]
    t = decode_one(r["event"], r["data"])
    assert decode_one(r["event"], encode_full(t)) == t
    assert XtsDecoder().decode_snapshot(encode_listquote(t)) == t
    if isinstance(t, Tick) and t.message_code in (1501, 1502):
        assert decode_one(r["event"], encode_full(t, flat=True)) == t
    if isinstance(t, Tick):
        partial = encode_partial(t)
        want = Tick(
            **{f: getattr(t, f) for f in ("exchange_segment", "instrument_id", "message_code")},
            **{f: getattr(t, f) for f in PARTIAL_FIELDS[t.message_code]},
        )
        if t.message_code == 1502:
            want = dataclasses.replace(want, bid=t.bids[0], ask=t.asks[0])
        assert decode_one(event_name(t.message_code, BroadcastMode.PARTIAL), partial) == want


def test_nested_encoding_reproduces_the_capture_exactly() -> None:
    for label in (
        "touchline, nested Touchline shape",
        "market depth, 5 levels",
        "candle",
        "LTP, with header fields",
    ):
        r = by_label(label)
        t = decode_one(r["event"], r["data"])
        assert encode_full(t) == r["data"], label
    flat = by_label("touchline, flat shape")
    t = decode_one(flat["event"], flat["data"])
    assert json.loads(encode_full(t, flat=True)) == json.loads(flat["data"])


def test_encode_partial_writes_only_changes() -> None:
    t1 = decode_one("1501-json-partial", NOTES_1501)
    assert encode_partial(t1) == NOTES_1501.replace("2408.90", "2408.9")
    t2 = dataclasses.replace(t1, ltp=1568.0, bid=DepthLevel(1568.0, 3, 1))
    assert encode_partial(t2, t1) == "t:1_22,ltp:1568,bi:0|3|1568|1"
    assert encode_partial(t1, t1) == "t:1_22"
    d1 = Tick(
        2,
        5,
        1502,
        bids=tuple(DepthLevel(10.0 - i, i + 1, 1) for i in range(5)),
        asks=tuple(DepthLevel(11.0 + i, i + 1, 1) for i in range(5)),
    )
    d2 = dataclasses.replace(d1, bids=(*d1.bids[:3], DepthLevel(6.5, 9, 2), d1.bids[4]))
    assert encode_partial(d2, d1) == "t:2_5,bi:3|9|6.5|2"
    with pytest.raises(ValueError):
        encode_partial(Tick(2, 5, 1507))
    with pytest.raises(ValueError):
        encode_partial(d2, Tick(2, 6, 1502))


def test_field_tables_cover_the_record() -> None:
    names = {f.name for f in dataclasses.fields(Tick)} - {
        "exchange_segment",
        "instrument_id",
        "message_code",
        "symbol",  # not on the wire: the adapter stamps it from the instrument master
    }
    assert set().union(*FULL_FIELDS.values()) == names
    assert set(FULL_FIELDS) == set(PARTIAL_FIELDS) == {1501, 1502, 1504, 1505, 1510, 1512}
    for code, fields in PARTIAL_FIELDS.items():
        assert fields <= FULL_FIELDS[code] | {"bid", "ask"}, code
