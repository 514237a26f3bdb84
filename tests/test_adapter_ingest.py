"""The tick path (streaming/ingest.py) with the real registry and the real decoders, no socket.

The end-to-end behaviour (over real sockets against the simulator) is in the other
``test_adapter_*`` files; these pin the routing rules of one event at a time.
"""

from __future__ import annotations

from jainam_fsm.core.registry import SubscriptionRegistry
from jainam_fsm.streaming.ingest import Ingest
from jainam_fsm.xts.encode import encode_full, encode_listquote
from jainam_fsm.xts.ticks import DepthLevel, MarketStatus, Tick

SEG, IID = 1, 2885


def _depth(ltp: float = 101.5) -> Tick:
    return Tick(
        SEG,
        IID,
        1502,
        ltp=ltp,
        ltq=5,
        volume=1000,
        bid=DepthLevel(101.0, 10, 2),
        ask=DepthLevel(102.0, 7, 1),
        bids=(DepthLevel(101.0, 10, 2),),
        asks=(DepthLevel(102.0, 7, 1),),
    )


def _touchline(code: int = 1501, ltp: float = 101.5, iid: int = IID) -> Tick:
    return Tick(
        SEG,
        iid,
        code,
        ltp=ltp,
        ltq=5,
        volume=1000,
        bid=DepthLevel(101.0, 10, 2),
        ask=DepthLevel(102.0, 7, 1),
    )


def _setup(*wants: tuple[int, int, int]) -> tuple[Ingest, list[Tick | MarketStatus]]:
    registry = SubscriptionRegistry()
    for key in wants:
        registry.add(*key)
    out: list[Tick | MarketStatus] = []
    ingest = Ingest(registry, out.append)
    ingest.connecting()
    return ingest, out


def test_wanted_tick_is_delivered_and_counts_as_progress() -> None:
    ingest, out = _setup((SEG, IID, 1501))
    ingest.on_data("1501-json-full", encode_full(_touchline()))
    assert [t.ltp for t in out if isinstance(t, Tick)] == [101.5]
    assert ingest.wanted == 1


def test_unwanted_instrument_is_filtered_and_is_no_progress() -> None:
    ingest, out = _setup((SEG, IID, 1501))
    ingest.on_data("1501-json-full", encode_full(_touchline(iid=22)))
    assert out == []
    assert ingest.wanted == 0
    assert ingest.stats()["ticks_filtered"] == 1


def test_depth_tick_serves_an_ltp_want_under_the_wanted_code() -> None:
    """Jainam reportedly answers an LTP (1512) want with 1502: it carries the LTP."""
    ingest, out = _setup((SEG, IID, 1512))
    ingest.on_data("1502-json-full", encode_full(_depth(ltp=99.25)))
    assert len(out) == 1
    tick = out[0]
    assert isinstance(tick, Tick)
    assert (tick.message_code, tick.ltp) == (1512, 99.25)
    assert tick.bids  # the rest of what arrived is kept
    assert ingest.stats()["ticks_other_code"] == 1
    assert ingest.wanted == 1


def test_touchline_serves_an_ltp_want_but_not_a_depth_want() -> None:
    ingest, out = _setup((SEG, IID, 1512))
    ingest.on_data("1501-json-full", encode_full(_touchline()))
    assert [(t.message_code, t.ltp) for t in out if isinstance(t, Tick)] == [(1512, 101.5)]

    ingest, out = _setup((SEG, IID, 1502))
    ingest.on_data("1501-json-full", encode_full(_touchline()))
    assert out == []  # a touchline has no depth ladder: counted, not delivered
    stats = ingest.stats()
    assert stats["ticks_code_unserved"] == 1
    assert stats["ticks_filtered"] == 0
    assert ingest.wanted == 0


def test_the_richest_wanted_code_is_served_first() -> None:
    ingest, out = _setup((SEG, IID, 1512), (SEG, IID, 1501))
    ingest.on_data("1502-json-full", encode_full(_depth()))
    assert [t.message_code for t in out if isinstance(t, Tick)] == [1501]


def test_registry_changes_reach_the_other_code_index() -> None:
    registry = SubscriptionRegistry()
    out: list[Tick | MarketStatus] = []
    ingest = Ingest(registry, out.append)
    ingest.on_data("1502-json-full", encode_full(_depth()))
    assert out == [] and ingest.stats()["ticks_filtered"] == 1
    registry.add(SEG, IID, 1512)
    ingest.on_data("1502-json-full", encode_full(_depth()))
    assert [t.message_code for t in out if isinstance(t, Tick)] == [1512]
    registry.remove(SEG, IID, 1512)
    ingest.on_data("1502-json-full", encode_full(_depth()))
    assert len(out) == 1 and ingest.stats()["ticks_filtered"] == 2


def test_undecodable_events_are_counted_by_name_until_wanted_data() -> None:
    ingest, _ = _setup((SEG, IID, 1501))
    ingest.on_data("1501-json-full", "{not json")
    ingest.on_data("xts-binary-packet", b"\x00\x01")  # JSON flavour: binary is not understood
    ingest.on_data("xts-binary-packet", b"\x00\x01")
    assert ingest.undecodable() == {"1501-json-full": 1, "xts-binary-packet": 2}
    assert ingest.stats()["events_undecodable"] == 3
    ingest.on_data("1501-json-full", encode_full(_touchline(iid=22)))  # unwanted: no reset
    assert ingest.undecodable()
    ingest.on_data("1501-json-full", encode_full(_touchline()))
    assert ingest.undecodable() == {}
    assert ingest.stats()["events_undecodable"] == 3  # the total stays


def test_binary_garbage_is_undecodable_too() -> None:
    ingest, out = _setup((SEG, IID, 1501))
    ingest.on_binary(b"\x07garbage")
    ingest.on_binary(b"")
    assert out == []
    assert ingest.undecodable() == {"xts-binary-packet": 2}


def test_snapshot_is_skipped_when_live_data_overtook_it_and_parsed_once() -> None:
    ingest, out = _setup((SEG, IID, 1501), (SEG, 22, 1501))
    ingest.begin(1501, [(SEG, IID), (SEG, 22)])
    ingest.on_data("1501-json-full", encode_full(_touchline(ltp=105.0)))  # live, during the request
    ingest.deliver(
        1501,
        [
            encode_listquote(_touchline(ltp=100.0)),
            encode_listquote(_touchline(ltp=50.0, iid=22)),
            "{broken",
        ],
    )
    ingest.end(1501, [(SEG, IID), (SEG, 22)])
    assert [(t.instrument_id, t.ltp) for t in out if isinstance(t, Tick)] == [
        (IID, 105.0),
        (22, 50.0),
    ]
    assert ingest.stats()["snapshots_skipped"] == 2  # the overtaken one and the broken one


def test_snapshot_of_another_code_serves_an_ltp_want() -> None:
    """Binary API: an LTP want is subscribed as 1501; its quotes snapshot arrives as 1501."""
    ingest, out = _setup((SEG, IID, 1512))
    ingest.begin(1501, [(SEG, IID)])
    ingest.deliver(1501, [encode_listquote(_touchline(ltp=77.0))])
    ingest.end(1501, [(SEG, IID)])
    assert [(t.message_code, t.ltp) for t in out if isinstance(t, Tick)] == [(1512, 77.0)]
