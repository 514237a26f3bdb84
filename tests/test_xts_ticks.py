"""The tick records' public behaviour, pinned: ticks built by both decoders' fast paths behave
exactly like ticks built by the ordinary constructor (immutability, equality, hashing,
``dataclasses.replace``, ``to_dict``, pickling, copying, repr, ``vars``, weak references)."""

from __future__ import annotations

import base64
import copy
import dataclasses
import pickle
import weakref
from datetime import datetime
from typing import Any

import orjson
import pytest

from jainam_fsm.xts import TICK_FIELDS, DepthLevel, Tick, XtsDecoder, encode_full, encode_partial
from jainam_fsm.xts.binary import BinaryDecoder
from jainam_fsm.xts.binary_encode import encode_event, encode_tick
from jainam_fsm.xts.ticks import _make_level, _make_tick
from jainam_fsm.xts.timeconv import IST, time_from_wire

SEG, IID = 2, 53216


def reference_1501() -> Tick:
    """A full 1501 tick built by the ordinary (generated) constructor."""
    when = time_from_wire(1_420_632_949, SEG)
    return Tick(
        exchange_segment=SEG,
        instrument_id=IID,
        message_code=1501,
        ltp=1567.5,
        ltq=25,
        last_traded_time=when,
        last_update_time=when,
        exchange_time=when,
        open=1550.0,
        high=1570.25,
        low=1549.0,
        close=1555.0,
        volume=253_458,
        average_price=1560.75,
        total_buy_quantity=1200,
        total_sell_quantity=1300,
        total_value_traded=None,
        percent_change=0.8,
        bid=DepthLevel(1567.0, 20, 3),
        ask=DepthLevel(1568.0, 7, 1),
        book_type=1,
        market_type=1,
        sequence_number=42,
    )


def built_ticks() -> dict[str, Tick]:
    """The reference tick as each fast path builds it."""
    ref = reference_1501()
    out: dict[str, Tick] = {}
    for layout in ("A", "B"):
        for compress in (False, True):
            got = BinaryDecoder().decode(
                encode_event([encode_tick(ref, layout=layout, compress=compress)])
            )
            assert len(got) == 1
            out[f"binary {layout} {'deflate' if compress else 'raw'}"] = got[0]
    json_tick = XtsDecoder().decode("1501-json-full", encode_full(ref))
    assert isinstance(json_tick, Tick)
    out["json full"] = json_tick
    dec = XtsDecoder()
    partial = dec.decode("1501-json-partial", encode_partial(ref))
    assert isinstance(partial, Tick)
    out["json partial"] = partial
    values = {name: getattr(ref, name) for name in TICK_FIELDS}
    out["_make_tick"] = _make_tick(values)
    return out


CASES = sorted(built_ticks())


@pytest.fixture(scope="module")
def ticks() -> dict[str, Tick]:
    return built_ticks()


def same_values(a: Tick, b: Tick) -> None:
    for name in TICK_FIELDS:
        assert getattr(a, name) == getattr(b, name), name


@pytest.mark.parametrize("case", CASES)
def test_fast_paths_build_the_constructor_tick(ticks: dict[str, Tick], case: str) -> None:
    ref = reference_1501()
    tick = ticks[case]
    expected = ref
    if case == "json partial":  # the partial format carries no sequence number or exchange time
        expected = dataclasses.replace(ref, sequence_number=None, exchange_time=None)
    assert type(tick) is Tick
    assert type(tick.bid) is DepthLevel
    same_values(tick, expected)
    assert tick == expected
    assert not tick != expected  # noqa: SIM202 - __ne__ is under test too
    assert hash(tick) == hash(expected)
    assert repr(tick) == repr(expected)
    assert tick.to_dict() == expected.to_dict()
    assert tick.instrument == (SEG, IID)


@pytest.mark.parametrize("case", CASES)
def test_ticks_are_immutable(ticks: dict[str, Tick], case: str) -> None:
    tick = ticks[case]
    with pytest.raises(dataclasses.FrozenInstanceError):
        tick.ltp = 1.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del tick.ltp  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        tick.unknown = 1  # type: ignore[attr-defined]
    assert tick.bid is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        tick.bid.price = 1.0  # type: ignore[misc]
    assert tick.ltp == 1567.5


@pytest.mark.parametrize("case", CASES)
def test_replace_pickle_copy_vars_weakref(ticks: dict[str, Tick], case: str) -> None:
    tick = ticks[case]
    moved = dataclasses.replace(tick, ltp=1570.0)
    assert type(moved) is Tick and moved.ltp == 1570.0 and moved != tick
    assert dataclasses.replace(moved, ltp=tick.ltp) == tick
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        back = pickle.loads(pickle.dumps(tick, protocol))
        assert back == tick and hash(back) == hash(tick) and type(back) is Tick
        assert back.last_traded_time == tick.last_traded_time
    assert copy.copy(tick) == tick and copy.deepcopy(tick) == tick
    assert dataclasses.asdict(tick)["bid"] == {"price": 1567.0, "size": 20, "orders": 3}
    assert dataclasses.astuple(tick)[:3] == (SEG, IID, 1501)
    assert dataclasses.is_dataclass(tick)
    assert [f.name for f in dataclasses.fields(tick)] == list(TICK_FIELDS)
    assert list(vars(tick)) == list(TICK_FIELDS)
    assert vars(tick)["ltp"] == 1567.5
    assert weakref.ref(tick)() is tick
    as_json = orjson.loads(orjson.dumps(tick))  # orjson serialises dataclasses natively
    assert list(as_json) == list(TICK_FIELDS)
    assert as_json["bid"] == {"price": 1567.0, "size": 20, "orders": 3}
    assert as_json["last_traded_time"] == "2025-01-06T12:15:49+05:30"


def test_equality_and_ordering_are_the_dataclass_ones() -> None:
    tick = reference_1501()
    values = tuple(getattr(tick, name) for name in TICK_FIELDS)
    assert tick != values and values != tick  # not a tuple
    assert tick != object()
    with pytest.raises(TypeError):
        _ = tick < tick  # type: ignore[operator]
    with pytest.raises(TypeError):
        iter(tick)  # type: ignore[call-overload]
    assert {tick: 1}[dataclasses.replace(tick)] == 1
    assert DepthLevel(1.0, 2, 3) == _make_level(1.0, 2, 3)
    assert hash(DepthLevel(1.0, 2, 3)) == hash(_make_level(1.0, 2, 3))
    assert DepthLevel(1.0, 2, 3) != (1.0, 2, 3)


def test_defaults_and_keywords() -> None:
    tick = Tick(1, 22, 1512)
    assert tick.ltp is None and tick.bids == () and tick.asks == ()
    assert tick == Tick(exchange_segment=1, instrument_id=22, message_code=1512)
    assert repr(tick).startswith("Tick(exchange_segment=1, instrument_id=22, message_code=1512")
    assert tick.to_dict() == {"exchange_segment": 1, "instrument_id": 22, "message_code": 1512}
    with pytest.raises(TypeError):
        Tick(1, 22)  # type: ignore[call-arg]


def test_times_are_aware_india_datetimes(ticks: dict[str, Tick]) -> None:
    for tick in ticks.values():
        when: Any = tick.last_traded_time
        assert isinstance(when, datetime)
        assert when.utcoffset() == IST.utcoffset(None)
        assert when.isoformat() == "2025-01-06T12:15:49+05:30"


# Pickles of ``Tick(2, 53216, 1501, ltp=1567.5, bid=DepthLevel(1567.0, 20, 3), bids=(bid,))``
# made by jainam-fsm before the records had slots (c97629f), protocols 0, 2 and 5 (base64).
OLD_PICKLES = {
    0: (
        "Y2NvcHlfcmVnCl9yZWNvbnN0cnVjdG9yCnAwCihjamFpbmFtX2ZzbS54dHMudGlja3MKVGljawpwMQpjX19idWls"
        "dGluX18Kb2JqZWN0CnAyCk50cDMKUnA0CihkcDUKVmV4Y2hhbmdlX3NlZ21lbnQKcDYKSTIKc1ZpbnN0cnVtZW50"
        "X2lkCnA3Ckk1MzIxNgpzVm1lc3NhZ2VfY29kZQpwOApJMTUwMQpzVmx0cApwOQpGMTU2Ny41CnNWbHRxCnAxMApO"
        "c1ZsYXN0X3RyYWRlZF90aW1lCnAxMQpOc1ZsYXN0X3VwZGF0ZV90aW1lCnAxMgpOc1ZleGNoYW5nZV90aW1lCnAx"
        "MwpOc1ZvcGVuCnAxNApOc1ZoaWdoCnAxNQpOc1Zsb3cKcDE2Ck5zVmNsb3NlCnAxNwpOc1Z2b2x1bWUKcDE4Ck5z"
        "VmF2ZXJhZ2VfcHJpY2UKcDE5Ck5zVnRvdGFsX2J1eV9xdWFudGl0eQpwMjAKTnNWdG90YWxfc2VsbF9xdWFudGl0"
        "eQpwMjEKTnNWdG90YWxfdmFsdWVfdHJhZGVkCnAyMgpOc1ZwZXJjZW50X2NoYW5nZQpwMjMKTnNWYmlkCnAyNApn"
        "MAooY2phaW5hbV9mc20ueHRzLnRpY2tzCkRlcHRoTGV2ZWwKcDI1CmcyCk50cDI2ClJwMjcKKGRwMjgKVnByaWNl"
        "CnAyOQpGMTU2Ny4wCnNWc2l6ZQpwMzAKSTIwCnNWb3JkZXJzCnAzMQpJMwpzYnNWYXNrCnAzMgpOc1ZiaWRzCnAz"
        "MwooZzAKKGcyNQpnMgpOdHAzNApScDM1CihkcDM2CmcyOQpGMTU2Ny4wCnNnMzAKSTIwCnNnMzEKSTMKc2J0cDM3"
        "CnNWYXNrcwpwMzgKKHRzVm9wZW5faW50ZXJlc3QKcDM5Ck5zVmJhcl90aW1lCnA0MApOc1ZiYXJfdm9sdW1lCnA0"
        "MQpOc1ZzdW1fcXR5X3ByaWNlCnA0MgpOc1Zib29rX3R5cGUKcDQzCk5zVm1hcmtldF90eXBlCnA0NApOc1ZzZXF1"
        "ZW5jZV9udW1iZXIKcDQ1Ck5zYi4="
    ),
    2: (
        "gAJjamFpbmFtX2ZzbS54dHMudGlja3MKVGljawpxACmBcQF9cQIoWBAAAABleGNoYW5nZV9zZWdtZW50cQNLAlgN"
        "AAAAaW5zdHJ1bWVudF9pZHEETeDPWAwAAABtZXNzYWdlX2NvZGVxBU3dBVgDAAAAbHRwcQZHQJh+AAAAAABYAwAA"
        "AGx0cXEHTlgQAAAAbGFzdF90cmFkZWRfdGltZXEITlgQAAAAbGFzdF91cGRhdGVfdGltZXEJTlgNAAAAZXhjaGFu"
        "Z2VfdGltZXEKTlgEAAAAb3BlbnELTlgEAAAAaGlnaHEMTlgDAAAAbG93cQ1OWAUAAABjbG9zZXEOTlgGAAAAdm9s"
        "dW1lcQ9OWA0AAABhdmVyYWdlX3ByaWNlcRBOWBIAAAB0b3RhbF9idXlfcXVhbnRpdHlxEU5YEwAAAHRvdGFsX3Nl"
        "bGxfcXVhbnRpdHlxEk5YEgAAAHRvdGFsX3ZhbHVlX3RyYWRlZHETTlgOAAAAcGVyY2VudF9jaGFuZ2VxFE5YAwAA"
        "AGJpZHEVY2phaW5hbV9mc20ueHRzLnRpY2tzCkRlcHRoTGV2ZWwKcRYpgXEXfXEYKFgFAAAAcHJpY2VxGUdAmHwA"
        "AAAAAFgEAAAAc2l6ZXEaSxRYBgAAAG9yZGVyc3EbSwN1YlgDAAAAYXNrcRxOWAQAAABiaWRzcR1oFimBcR59cR8o"
        "aBlHQJh8AAAAAABoGksUaBtLA3VihXEgWAQAAABhc2tzcSEpWA0AAABvcGVuX2ludGVyZXN0cSJOWAgAAABiYXJf"
        "dGltZXEjTlgKAAAAYmFyX3ZvbHVtZXEkTlgNAAAAc3VtX3F0eV9wcmljZXElTlgJAAAAYm9va190eXBlcSZOWAsA"
        "AABtYXJrZXRfdHlwZXEnTlgPAAAAc2VxdWVuY2VfbnVtYmVycShOdWIu"
    ),
    5: (
        "gAWVJgIAAAAAAACMFGphaW5hbV9mc20ueHRzLnRpY2tzlIwEVGlja5STlCmBlH2UKIwQZXhjaGFuZ2Vfc2VnbWVu"
        "dJRLAowNaW5zdHJ1bWVudF9pZJRN4M+MDG1lc3NhZ2VfY29kZZRN3QWMA2x0cJRHQJh+AAAAAACMA2x0cZROjBBs"
        "YXN0X3RyYWRlZF90aW1llE6MEGxhc3RfdXBkYXRlX3RpbWWUTowNZXhjaGFuZ2VfdGltZZROjARvcGVulE6MBGhp"
        "Z2iUTowDbG93lE6MBWNsb3NllE6MBnZvbHVtZZROjA1hdmVyYWdlX3ByaWNllE6MEnRvdGFsX2J1eV9xdWFudGl0"
        "eZROjBN0b3RhbF9zZWxsX3F1YW50aXR5lE6MEnRvdGFsX3ZhbHVlX3RyYWRlZJROjA5wZXJjZW50X2NoYW5nZZRO"
        "jANiaWSUaACMCkRlcHRoTGV2ZWyUk5QpgZR9lCiMBXByaWNllEdAmHwAAAAAAIwEc2l6ZZRLFIwGb3JkZXJzlEsD"
        "dWKMA2Fza5ROjARiaWRzlGgZKYGUfZQoaBxHQJh8AAAAAABoHUsUaB5LA3VihZSMBGFza3OUKYwNb3Blbl9pbnRl"
        "cmVzdJROjAhiYXJfdGltZZROjApiYXJfdm9sdW1llE6MDXN1bV9xdHlfcHJpY2WUTowJYm9va190eXBllE6MC21h"
        "cmtldF90eXBllE6MD3NlcXVlbmNlX251bWJlcpROdWIu"
    ),
}


@pytest.mark.parametrize("protocol", sorted(OLD_PICKLES))
def test_pickles_from_before_slots_still_load(protocol: int) -> None:
    level = DepthLevel(1567.0, 20, 3)
    expected = Tick(2, 53216, 1501, ltp=1567.5, bid=level, bids=(level,))
    tick = pickle.loads(base64.b64decode(OLD_PICKLES[protocol]))
    assert type(tick) is Tick and type(tick.bid) is DepthLevel
    assert tick == expected and repr(tick) == repr(expected)


def test_pickles_without_the_symbol_field_load_with_symbol_none() -> None:
    import pickle

    tick = Tick(1, 2885, 1501, ltp=1.5)
    # A pickle made before Tick had `symbol`: the slot state has one value fewer.
    reduced = list(tick.__reduce_ex__(2))
    reduced[2] = tuple(reduced[2])[:-1]
    restored = copy_from_reduce(reduced)
    assert restored == tick and restored.symbol is None
    assert pickle.loads(pickle.dumps(tick)).symbol is None


def copy_from_reduce(reduced: list[object]) -> Tick:
    func, args, state = reduced[0], reduced[1], reduced[2]
    obj = func(*args)  # type: ignore[operator]
    obj.__setstate__(state)
    return obj  # type: ignore[no-any-return]
