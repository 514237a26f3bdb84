"""The data fast path of the Engine.IO seam (streaming/dialect.py, ``socketio_fast_path``).

Three groups: the parser against python-socketio's own packet decoder (captured payloads and
adversarial strings: whatever the fast path takes must be exactly what the library would have
handed the handler, everything else must be left to the library); the library behaviour the
fast path mirrors (fails loudly when a python-socketio/-engineio release changes it); and the
adapter over real sockets, both dialects, both APIs, with the fast path on and off.
"""

# ruff: noqa: F811  (fixtures are imported, then requested by name)

from __future__ import annotations

import asyncio
import inspect
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import engineio
import pytest
import socketio
from socketio import packet as sio_packet

from jainam_fsm.streaming import AdapterConfig, StreamingAdapter
from jainam_fsm.streaming.dialect import DialectClient, FastPath
from jainam_fsm.xts.ticks import Tick
from tests.test_adapter_binary import SUBS, KeyLog, emitted, make_harness, stream  # noqa: F401
from tests.test_adapter_support import Harness, harness, wait_for  # noqa: F401

DATA = Path(__file__).parent / "data" / "xts-captured-payloads.jsonl"
EVENTS = ("1501-json-full", "1502-json-partial", "1105-json-partial", "1512-json-full")


def _fast() -> tuple[FastPath, list[tuple[str, Any]]]:
    client = DialectClient(fast_path=True)
    fast = client.fast_path
    assert fast is not None and client.eio.fast is fast
    got: list[tuple[str, Any]] = []
    for name in EVENTS:
        fast.events[name] = lambda data, name=name: got.append((name, data))
    fast.bind_binary("xts-binary-packet", lambda data: got.append(("xts-binary-packet", data)))
    return fast, got


def _library_view(text: str) -> tuple[str, Any] | None:
    """What python-socketio would call a registered data handler with, or None."""
    try:
        pkt = sio_packet.Packet(encoded_packet=text)
    except Exception:
        return None
    data = pkt.data
    if (
        pkt.packet_type != sio_packet.EVENT
        or pkt.namespace not in (None, "/")
        or pkt.id is not None
        or not isinstance(data, list)
        or len(data) != 2
        or data[0] not in EVENTS
    ):
        return None
    return data[0], data[1]


def _captured() -> list[tuple[str, Any]]:
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    return [(r["event"], r["data"]) for r in rows if "event" in r and "data" in r]


def test_captured_payloads_take_the_fast_path_unchanged() -> None:
    captured = _captured()
    assert captured
    for event, data in captured:
        text = sio_packet.Packet(sio_packet.EVENT, data=[event, data]).encode()
        fast, got = _fast()
        taken = fast.take(text)
        if event in EVENTS and isinstance(data, str):
            assert taken, text[:80]
            assert got == [(event, data)] == [_library_view(text)]
        else:
            assert not taken and not got, text[:80]


@pytest.mark.parametrize(
    "text",
    [
        '2["1501-json-full","{\\"a\\":1}"]',
        '2["1501-json-full","he said \\"hi\\", \\\\ and \\u00e9 \\ud83d\\ude00"]',
        '2["1501-json-full","\\u0000\\u001f\\/"]',
        '2["1501-json-full","ends with ]"]',
        '2["1501-json-full","a\\",\\"b"]',
        '2["1501-json-full","x"  ]',
        '2["1501-json-full",""]',
    ],
)
def test_exact_matches_are_taken_with_the_librarys_value(text: str) -> None:
    fast, got = _fast()
    assert fast.take(text)
    assert got == [_library_view(text)]
    assert fast.taken == 1


@pytest.mark.parametrize(
    "text",
    [
        '2/ns,["1501-json-full","x"]',  # another namespace
        '21["1501-json-full","x"]',  # an ack id
        '2["1501-json-full","x","y"]',  # two arguments
        '2["1501-json-full",{"a":1}]',  # not a string
        '2["1501-json-full",1]',
        '2["1501-json-full"]',  # no argument
        '2["1501-json-full", "x"]',  # not the library's own spacing: left to it
        '2["1501-json-full","x"]\n',
        '2["1501-json-full","x"',  # truncated
        '2["1501-json-full","x]',
        '2["1501-json-full","\\ud800"]',  # lone surrogate: orjson refuses, the library decides
        '2["1501-json-full","\\x"]',  # bad escape
        '2["1501-json-full\\",","x"]',  # escaped quote inside the name
        '2["1501-json-fullx","x"]',  # unknown event
        '2["joined","x"]',
        '2["\\u0031501-json-full","x"]',  # the name spelled with an escape
        "40",
        "41",
        '4{"message":"no"}',
        '3["1501-json-full","x"]',  # an ACK packet
        "2probe",
        "",
        '51-["xts-binary-packet",{"_placeholder":true,"num":1}]',
        '51-/ns,["xts-binary-packet",{"_placeholder":true,"num":0}]',
        '51-1["xts-binary-packet",{"_placeholder":true,"num":0}]',  # an ack id
        '52-["xts-binary-packet",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
    ],
)
def test_anything_else_is_left_to_python_socketio(text: str) -> None:
    fast, got = _fast()
    assert not fast.take(text)
    assert got == [] and fast.taken == 0 and not fast.header_pending


def test_binary_header_is_the_one_python_socketio_encodes() -> None:
    fast, _ = _fast()
    header, attachment = sio_packet.Packet(
        sio_packet.EVENT, data=["xts-binary-packet", b"\x01\x02"]
    ).encode()
    assert header == fast.binary_header and attachment == b"\x01\x02"
    assert fast.take(header) and fast.header_pending


def test_a_handler_error_is_counted_never_raised() -> None:
    fast, _ = _fast()

    def boom(data: str) -> None:
        raise RuntimeError("x")

    fast.events["1501-json-full"] = boom
    assert fast.take('2["1501-json-full","x"]') and fast.errors == 1


def test_off_by_switch() -> None:
    assert DialectClient().fast_path is None and DialectClient().eio.fast is None
    assert AdapterConfig(
        base_url="http://127.0.0.1:1", app_key="k", secret_key="s"
    ).socketio_fast_path
    off = AdapterConfig.from_env(
        {
            "JAINAM_BASE_URL": "http://127.0.0.1:1",
            "JAINAM_APP_KEY": "k",
            "JAINAM_SECRET_KEY": "s",
            "JAINAM_SOCKETIO_FAST_PATH": "0",
        }
    )
    assert off.socketio_fast_path is False


# -- the library behaviour the fast path mirrors ------------------------------------------------


def test_the_library_paths_the_fast_path_mirrors_are_unchanged() -> None:
    receive = inspect.getsource(engineio.AsyncClient._receive_packet)
    # _to_library does exactly this for every message it does not take.
    assert "await self._trigger_event('message', pkt.data, run_async=True)" in receive
    trigger = inspect.getsource(engineio.AsyncClient._trigger_event)
    assert "return task" in trigger  # the task the fast path waits for
    message = inspect.getsource(socketio.AsyncClient._handle_eio_message)
    assert "if self._binary_packet:" in message
    assert "pkt = self.packet_class(encoded_packet=data)" in message
    assert "await self._handle_event(pkt.namespace, pkt.id, pkt.data)" in message
    event = inspect.getsource(socketio.AsyncClient._handle_event)
    assert "await self._trigger_event(data[0], namespace, *data[1:])" in event
    assert DialectClient()._binary_packet is None


# -- over real sockets ---------------------------------------------------------------------------


def _fast_taken(adapter: StreamingAdapter) -> int:
    sio = adapter._transport._sio
    assert sio is not None
    return 0 if sio.fast_path is None else sio.fast_path.taken


JSON_SUBS = ((1, 22, 1501), (1, 467, 1501), (1, 2885, 1502))


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "library"])
def test_json_ticks_are_exactly_those_emitted(harness: Harness, fast: bool) -> None:
    log = KeyLog()
    adapter = stream(harness, log, JSON_SUBS, snapshot_on_already=False, socketio_fast_path=fast)
    wait_for(lambda: all(log.count(k) >= 6 for k in JSON_SUBS), timeout=15, what="ticks")
    harness.sim.stall()
    counts = harness.sim.emitted_counts()
    wait_for(
        lambda: all(log.count(k) >= counts.get(k, 0) for k in JSON_SUBS),
        timeout=10,
        what="every emitted tick",
    )
    for key in JSON_SUBS:
        got, sent = log.of(key), emitted(harness, key)
        # The subscribe answer's snapshot first, then exactly what the socket carried.
        assert len(got) - len(sent) in (0, 1), key
        assert got[len(got) - len(sent) :] == sent, key
    assert (_fast_taken(adapter) > 0) is fast
    assert adapter.stats()["events_undecodable"] == 0


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "library"])
def test_binary_ticks_are_exactly_those_emitted(make_harness: Any, fast: bool) -> None:
    h = make_harness()
    log = KeyLog()
    adapter = stream(h, log, SUBS, snapshot_on_already=False, socketio_fast_path=fast)
    wait_for(lambda: all(log.count(k) >= 6 for k in SUBS), timeout=15, what="ticks")
    h.sim.stall()
    counts = h.sim.emitted_counts()
    wait_for(
        lambda: all(log.count(k) >= counts.get(k, 0) for k in SUBS),
        timeout=10,
        what="every emitted tick",
    )
    for key in SUBS:
        assert log.of(key) == emitted(h, key), key
    assert (_fast_taken(adapter) > 0) is fast


def test_partial_mode_gives_the_same_ticks_on_both_paths(harness: Harness) -> None:
    """Partial events merge into state, so the reference is the library path itself: two
    adapters on one simulator, the fast path on and off, deliver the same ticks. (Partial
    events carry no sequence number or exchange time: a merged tick keeps its snapshot's, and
    the two adapters' snapshots are taken at different times -- the second one's may even be
    dropped as older than a live tick -- so those two fields are left out of the comparison.)"""
    logs = {True: KeyLog(), False: KeyLog()}
    adapters = {
        fast: stream(
            harness,
            logs[fast],
            JSON_SUBS,
            socketio_fast_path=fast,  # both seeded by a snapshot (the second's is "already")
            broadcast_mode="Partial",
        )
        for fast in (True, False)
    }
    both = tuple(logs.values())
    wait_for(
        lambda: all(lg.count(k) >= 8 for lg in both for k in JSON_SUBS), timeout=15, what="ticks"
    )
    harness.sim.stall()
    counts = harness.sim.emitted_counts()
    wait_for(
        lambda: (
            all(lg.count(k) >= min(counts.get(k, 0), 8) for lg in both for k in JSON_SUBS)
            and all(logs[True].count(k) == logs[False].count(k) or True for k in JSON_SUBS)
        ),
        timeout=10,
        what="ticks on both",
    )

    def unsequenced(ticks: list[Tick]) -> list[Tick]:
        return [replace(t, sequence_number=None, exchange_time=None) for t in ticks]

    def settled() -> bool:
        a = {k: unsequenced(logs[True].of(k)[-1:]) for k in JSON_SUBS}
        b = {k: unsequenced(logs[False].of(k)[-1:]) for k in JSON_SUBS}
        return all(a[k] == b[k] for k in JSON_SUBS)

    wait_for(settled, timeout=10, what="the same last tick on both paths")
    for key in JSON_SUBS:
        fast, lib = unsequenced(logs[True].of(key)), unsequenced(logs[False].of(key))
        n = min(len(fast), len(lib)) - 1  # both subscribed by then (a snapshot may lead)
        assert n >= 6 and fast[-n:] == lib[-n:], key
    assert _fast_taken(adapters[True]) > 0 and _fast_taken(adapters[False]) == 0


def test_events_stay_in_arrival_order_across_the_two_paths() -> None:
    """A message left to python-socketio runs in a task; the data events after it wait for it
    (they go the library's way too until it has run), so nothing overtakes it."""
    from engineio import packet as eio_packet

    client = DialectClient(fast_path=True)
    fast = client.fast_path
    assert fast is not None
    got: list[object] = []
    client.on("1501-json-full", got.append)
    fast.events["1501-json-full"] = got.append
    client.on("xts-binary-packet", got.append)
    fast.bind_binary("xts-binary-packet", got.append)
    header = fast.binary_header
    messages: list[str | bytes] = [
        '2["1501-json-full", "1"]',  # library (spacing)
        '2["1501-json-full","2"]',  # would be fast: waits for 1
        header,
        b"3",
        '2["1501-json-full","4"]',
        header,  # fast header, then not an attachment: both replayed to the library
        '2["1501-json-full","5"]',
    ]

    async def feed() -> None:
        eio = client.eio
        for n, m in enumerate(messages):
            await eio._receive_packet(eio_packet.Packet(eio_packet.MESSAGE, m))
            if n:  # the first message's task has not run when the second arrives
                for _ in range(3):
                    await asyncio.sleep(0)  # as a read loop waiting for the next frame
        for _ in range(3):
            await asyncio.sleep(0)

    asyncio.run(feed())
    # The last pair is what python-socketio does with a header followed by text: it takes the
    # text as the attachment. The fast path replays both to it, so the result is the library's.
    assert got[:4] == ["1", "2", b"3", "4"]
    assert got[4:] == ['2["1501-json-full","5"]']
    assert fast.taken == 3  # the header (with 3), 4, the second header; 2 waited for 1
