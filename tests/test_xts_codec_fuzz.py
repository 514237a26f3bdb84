"""Property tests of the XTS codec: the decoder never raises, and encode/decode round-trip."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jainam_fsm.xts import (
    FULL_FIELDS,
    PARTIAL_FIELDS,
    BroadcastMode,
    DepthLevel,
    ExchangeSegment,
    MarketStatus,
    MessageCode,
    Tick,
    XtsDecoder,
    bar_time_from_wire,
    encode_full,
    encode_partial,
    event_name,
    time_from_wire,
)
from jainam_fsm.xts.timeconv import MAX_WIRE_SECONDS

FIXTURES = Path(__file__).resolve().parent / "data"
CAPTURED = [
    json.loads(line)
    for line in (FIXTURES / "xts-captured-payloads.jsonl").read_text("utf-8").splitlines()
    if line.strip()
]

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# The round-trip strategies draw ~30 fields per example: fewer examples keep the file fast.
FUZZ_HEAVY = settings(FUZZ, max_examples=150)

EVENTS = [event_name(c, m) for c in MessageCode for m in BroadcastMode]
any_event = st.sampled_from(EVENTS)


def check_result(decoder: XtsDecoder, result: object, calls: int) -> None:
    """A decode result is "no tick" or a well-formed record; every call is accounted for."""
    assert result is None or isinstance(result, Tick | MarketStatus)
    if result is not None:
        json.dumps(result.to_dict(), allow_nan=False)  # serialisable, strict JSON
    assert sum(decoder.stats.values()) == calls


# --------------------------------------------------------------------------- never raises

texts = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF)),
    st.text(alphabet='t:_,|0123456789.-eE{}[]"abcilnoptuvx \x00', max_size=200),
)


@FUZZ
@given(event=any_event, data=texts)
def test_arbitrary_text_never_raises(event: str, data: str) -> None:
    dec = XtsDecoder()
    check_result(dec, dec.decode(event, data), 1)


@FUZZ
@given(
    event=st.one_of(st.text(max_size=60), any_event), data=st.one_of(st.binary(max_size=300), texts)
)
def test_arbitrary_event_names_and_bytes_never_raise(event: str, data: object) -> None:
    dec = XtsDecoder()
    check_result(dec, dec.decode(event, data), 1)
    check_result(dec, dec.decode_snapshot(data), 2)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["1", "22", "610.3", "", "1e999", "NaN"]),
    lambda children: st.lists(children, max_size=6)
    | st.dictionaries(
        st.sampled_from(
            [
                "MessageCode", "ExchangeSegment", "ExchangeInstrumentID", "Touchline",
                "LastTradedPrice", "LastTradedQunatity", "LastTradedQuantity", "BidInfo",
                "AskInfo", "Bids", "Asks", "Price", "Size", "TotalOrders", "LastUpdateTime",
                "LastTradedTime", "ExchangeTimeStamp", "BarTime", "OpenInterest", "Open",
                "Close", "message", "exchangeSegment", "tradingSession", "maketType",
            ]
        )
        | st.text(max_size=8),
        children,
        max_size=8,
    ),
    max_leaves=30,
)  # fmt: skip


@FUZZ
@given(event=any_event, value=json_values)
def test_arbitrary_json_never_raises(event: str, value: Any) -> None:
    dec = XtsDecoder()
    text = json.dumps(value)  # may contain NaN/Infinity literals: must be rejected, not raise
    check_result(dec, dec.decode(event, text), 1)
    check_result(dec, dec.decode(event, value), 2)  # as an already-parsed object
    check_result(dec, dec.decode_snapshot(text), 3)


full_lines = [r for r in CAPTURED if r["event"].endswith("-json-full")]


@FUZZ_HEAVY
@given(
    index=st.integers(0, len(full_lines) - 1),
    edits=st.lists(st.tuples(st.integers(0, 40), json_values), min_size=1, max_size=4),
    nested=st.booleans(),
)
def test_mutated_real_payloads_never_raise(
    index: int, edits: list[tuple[int, Any]], nested: bool
) -> None:
    line = full_lines[index]
    obj = json.loads(line["data"])
    target = obj.get("Touchline", obj) if nested else obj
    keys = list(target)
    for pos, value in edits:
        target[keys[pos % len(keys)]] = value
    dec = XtsDecoder()
    check_result(dec, dec.decode(line["event"], json.dumps(obj)), 1)


partial_keys = st.sampled_from(
    ["ltp", "ltq", "tb", "ts", "v", "ap", "ltt", "lut", "pc", "o", "h", "l", "c", "vp",
     "bt", "mt", "bv", "pv", "bi", "ai", "t", "yh", "8", ""]
)  # fmt: skip
partial_values = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    st.floats().map(repr),
    st.text(alphabet="0123456789|.-", max_size=40),
    st.lists(st.integers(-2, 9).map(str), max_size=24).map("|".join),
    st.text(max_size=10),
)


@FUZZ
@given(
    event=st.sampled_from([e for e in EVENTS if e.endswith("partial")]),
    packets=st.lists(
        st.tuples(
            st.sampled_from(["1_22", "2_42489", "51_7", "1_x", "", "1_", "_5", "1_22_3"]),
            st.lists(st.tuples(partial_keys, partial_values), max_size=10),
        ),
        min_size=1,
        max_size=5,
    ),
)
def test_arbitrary_partial_packets_never_raise(
    event: str, packets: list[tuple[str, list[tuple[str, str]]]]
) -> None:
    dec = XtsDecoder()
    for n, (t, items) in enumerate(packets, start=1):
        text = ",".join([f"t:{t}", *(f"{k}:{v}" for k, v in items)])
        check_result(dec, dec.decode(event, text), n)


# --------------------------------------------------------------------------- round trip

prices = st.floats(allow_nan=False, allow_infinity=False)
quantities = st.integers(-(2**40), 2**62)
levels = st.builds(DepthLevel, prices, quantities, quantities)
segments = st.sampled_from(list(ExchangeSegment))
wire_seconds = st.integers(1, MAX_WIRE_SECONDS)


def field_strategy(name: str, segment: int) -> st.SearchStrategy[Any]:
    if name in ("last_traded_time", "last_update_time", "exchange_time"):
        return wire_seconds.map(lambda v: time_from_wire(v, segment))
    if name == "bar_time":
        return wire_seconds.map(bar_time_from_wire)
    if name in ("bid", "ask"):
        return levels
    if name in ("bids", "asks"):
        return st.lists(levels, min_size=5, max_size=5).map(tuple)
    if name in ("ltq", "volume", "total_buy_quantity", "total_sell_quantity", "open_interest",
                "bar_volume", "book_type", "market_type", "sequence_number"):  # fmt: skip
        return quantities
    return prices


@st.composite
def ticks(draw: st.DrawFn, codes: list[int], table: Any, optional: bool = True) -> Tick:
    code = draw(st.sampled_from(codes))
    seg = draw(segments)
    values: dict[str, Any] = {}
    for name in sorted(table[code]):
        strategy = field_strategy(name, seg)
        if optional and name not in ("bids", "asks"):
            strategy = st.none() | strategy
        values[name] = draw(strategy)
    tick = Tick(seg, draw(st.integers(0, 2**40)), code, **values)
    if code == 1502 and table is PARTIAL_FIELDS:  # bid/ask travel as level 0 of the ladders
        tick = dataclasses.replace(tick, bid=tick.bids[0], ask=tick.asks[0])
    elif code == 1502:  # a real depth payload always has its touchline best levels
        tick = dataclasses.replace(tick, bid=tick.bid or tick.bids[0], ask=tick.ask or tick.asks[0])
    return tick


@FUZZ_HEAVY
@given(tick=ticks(sorted(FULL_FIELDS), FULL_FIELDS), flat=st.booleans())
def test_full_round_trip(tick: Tick, flat: bool) -> None:
    dec = XtsDecoder()
    text = encode_full(tick, flat=flat)
    assert dec.decode(event_name(tick.message_code, BroadcastMode.FULL), text) == tick
    assert XtsDecoder().decode_snapshot(text) == tick
    assert dec.errors == 0


@FUZZ
@given(
    segment=segments,
    session=st.none() | quantities,
    market_type=st.none() | quantities,
    # Lone surrogates are not valid UTF-8: orjson (rightly) refuses them as invalid JSON.
    message=st.none()
    | st.text(alphabet=st.characters(exclude_characters="\x00", exclude_categories=("Cs",))),
    when=st.none() | wire_seconds,
    seq=st.none() | quantities,
)
def test_market_status_round_trip(
    segment: int, session: int | None, market_type: int | None, message: str | None,
    when: int | None, seq: int | None,
) -> None:  # fmt: skip
    status = MarketStatus(
        segment, session, market_type, message,
        None if when is None else time_from_wire(when, segment), seq,
    )  # fmt: skip
    assert XtsDecoder().decode("1507-json-full", encode_full(status)) == status


@st.composite
def tick_pairs(draw: st.DrawFn) -> tuple[Tick, Tick]:
    """A first partial-mode tick and a later one that changes some fields (never clears one)."""
    first = draw(ticks(sorted(PARTIAL_FIELDS), PARTIAL_FIELDS))
    changes: dict[str, Any] = {}
    for name in sorted(PARTIAL_FIELDS[first.message_code]):
        if not draw(st.booleans()):
            continue
        if name in ("bids", "asks"):
            old = list(getattr(first, name))
            for i in draw(st.lists(st.integers(0, 4), max_size=5)):
                old[i] = draw(levels)
            changes[name] = tuple(old)
        else:
            changes[name] = draw(field_strategy(name, first.exchange_segment))
    second = dataclasses.replace(first, **changes)
    if second.message_code == 1502:
        second = dataclasses.replace(second, bid=second.bids[0], ask=second.asks[0])
    return first, second


@FUZZ_HEAVY
@given(pair=tick_pairs())
def test_partial_round_trip_with_deltas(pair: tuple[Tick, Tick]) -> None:
    first, second = pair
    event = event_name(first.message_code, BroadcastMode.PARTIAL)
    dec = XtsDecoder()
    assert dec.decode(event, encode_partial(first)) == first
    assert dec.decode(event, encode_partial(second, first)) == second
    # Re-sending an unchanged tick is just the key, and changes nothing.
    assert dec.decode(event, encode_partial(second, second)) == second
    assert dec.errors == 0
