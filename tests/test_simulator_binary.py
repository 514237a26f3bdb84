"""The simulator's binary flavour (``api="binary"``) over real sockets, seen by clients we did not
write: aiohttp for REST, a plain python-socketio ``AsyncClient`` for the socket, and the binary
decoder for the packets. What the decoder returns must be exactly what the simulator recorded.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import aiohttp
import pytest

from jainam_fsm.simulator import Simulator, SimulatorThread
from jainam_fsm.simulator.binary_stream import BINARY_MALFORMED_KINDS
from jainam_fsm.simulator.cli import add_subcommand, build_config
from jainam_fsm.simulator.config import BinaryKnobs, SimulatorConfig
from jainam_fsm.xts.binary import BinaryDecoder
from jainam_fsm.xts.decode import XtsDecoder
from jainam_fsm.xts.ticks import Tick
from tests.conftest import TEST_CONFIG, SocketRecorder, XtsProbe, eventually

SimFactory = Callable[..., Awaitable[Simulator]]
Key = tuple[int, int, int]


class BinaryProbe(XtsProbe):
    """:class:`XtsProbe` speaking to the binary flavour: ``publishFormat=Binary`` in the URL."""

    def socket_url(self, token: str, mode: str = "Full", user_id: str | None = None) -> str:
        return super().socket_url(token, mode, user_id).replace("=JSON", "=Binary")


#: Engine.IO dialects the binary flavour is tested on. Under 3 the plain python-socketio 5 client
#: sends no pings, so the heartbeat is made long enough never to drop it during a test.
DIALECTS: dict[int, dict[str, Any]] = {
    4: {"eio": 4},
    3: {"eio": 3, "ping_interval": 30.0, "ping_timeout": 30.0},
}


@pytest.fixture(params=[4, 3], ids=["eio4", "eio3"])
async def binary(
    simulator_factory: SimFactory, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[..., Awaitable[BinaryProbe]]]:
    """``await binary(**config)``: a probe on a binary-flavour simulator, in each dialect."""
    dialect = DIALECTS[request.param]
    async with aiohttp.ClientSession() as http:
        probes: list[BinaryProbe] = []

        async def make(**overrides: Any) -> BinaryProbe:
            sim = await simulator_factory(api="binary", **{**dialect, **overrides})
            probe = BinaryProbe(sim, http)
            probes.append(probe)
            return probe

        yield make
        for probe in probes:
            await probe.close()


def by_key(ticks: list[Tick]) -> dict[Key, list[Tick]]:
    out: dict[Key, list[Tick]] = {}
    for t in ticks:
        out.setdefault((t.exchange_segment, t.instrument_id, t.message_code), []).append(t)
    return out


def decode_all(rec: SocketRecorder, decoder: BinaryDecoder) -> list[Tick]:
    ticks: list[Tick] = []
    for payload in rec.of("xts-binary-packet"):
        assert isinstance(payload, bytes)
        ticks += decoder.decode(payload)
    return ticks


async def stream_then_stall(
    probe: BinaryProbe, subs: dict[int, list[tuple[int, int]]], events: int
) -> tuple[SocketRecorder, BinaryDecoder, list[Tick]]:
    """Subscribe, connect, receive ``events`` binary events, stall, and wait until the client
    decoded every tick the simulator recorded (each key in full: nothing lost, nothing extra)."""
    token = await probe.login()
    for code, insts in subs.items():
        status, body = await probe.subscribe(token, code, *insts)
        assert status == 200, body
    rec = await probe.connect(token)
    await rec.wait_count("xts-binary-packet", events, timeout=10)
    probe.sim.stall()
    log = probe.sim.emitted_log

    def complete() -> bool:
        decoded = by_key(decode_all(rec, BinaryDecoder()))
        return decoded.keys() == {k for k in log.counts() if k[2] != 1505} and all(
            len(v) == log.counts()[k] for k, v in decoded.items()
        )

    await eventually(complete, 10, "every recorded tick received")
    decoder = BinaryDecoder()
    return rec, decoder, decode_all(rec, decoder)


SUBS = {1501: [(1, 22), (1, 467)], 1502: [(1, 2885)], 1510: [(2, 35001)]}
KNOB_CASES = {
    "B-default": BinaryKnobs(),
    "A-raw": BinaryKnobs(layout="A", compressed_share=0.0),
    "B-half-compressed-3-per-event": BinaryKnobs(compressed_share=0.5, packets_per_event=3),
    "A-all-compressed-2-per-event": BinaryKnobs(
        layout="A", compressed_share=1.0, packets_per_event=2
    ),
    "B-nan-tvt": BinaryKnobs(nan_total_value_traded=True, compressed_share=0.5),
    "A-extended-properties": BinaryKnobs(layout="A", extended_properties=3),
    "B-opaque-1512": BinaryKnobs(opaque_share=0.5, opaque_size=72, packets_per_event=4),
    "A-everything": BinaryKnobs(
        layout="A",
        compressed_share=0.5,
        packets_per_event=5,
        nan_total_value_traded=True,
        extended_properties=1,
        opaque_share=0.3,
    ),
}


@pytest.mark.parametrize("case", list(KNOB_CASES))
async def test_plain_client_decodes_exactly_the_emitted_ticks(
    binary: Callable[..., Awaitable[BinaryProbe]], case: str
) -> None:
    knobs = KNOB_CASES[case]
    probe = await binary(binary=knobs)
    rec, decoder, ticks = await stream_then_stall(probe, SUBS, 12)
    log = probe.sim.emitted_log
    # joined first, as the real server sends it [NET-LOG22]
    assert rec.names()[0] == "joined"
    joined = rec.of("joined")[0]
    assert joined["type"] == "success" and joined["code"] == "s-socket-0001"
    assert joined["description"].startswith("Socket joined successfully! SocketId=")
    assert set(rec.names()) == {"joined", "xts-binary-packet"}
    # Engine.IO 3 frames the attachment as 0x04 + data; a python-socketio 5 client keeps the
    # byte (the decoder strips it), exactly as against production.
    first_bytes = {p[0] for p in rec.of("xts-binary-packet")}
    assert first_bytes == {4} if probe.sim.config.eio == 3 else first_bytes <= {0, 1}
    # exact values, per key and in order
    assert by_key(ticks) == {k: log.ticks(k) for k in log.counts()}
    assert {k[:2] for k in by_key(ticks)} == {(1, 22), (1, 467), (1, 2885), (2, 35001)}
    stats = decoder.stats()
    assert decoder.errors == 0, stats
    assert dict(decoder.skipped) == log.opaque_counts()
    opaque = sum(log.opaque_counts().values())
    assert stats["packets"] == len(ticks) + opaque
    sim_stats = probe.sim.stats()["binary"]
    assert sim_stats["packets"] == stats["packets"]  # one socket: every packet built was sent
    assert sim_stats["compressed_packets"] == stats["compressed"]
    assert sim_stats["events"] == stats["events"] == len(rec.of("xts-binary-packet"))
    assert sim_stats["opaque_packets"] == opaque
    if knobs.opaque_share:
        assert opaque > 0
    if knobs.compressed_share == 0.0:
        assert stats["compressed"] == 0
    elif knobs.compressed_share == 1.0:
        assert stats["compressed"] == len(ticks) and opaque == 0
    else:
        assert 0 < stats["compressed"] < stats["packets"]
    assert stats["events"] <= -(-stats["packets"] // 1)
    if knobs.packets_per_event > 1:
        assert max(len(BinaryDecoder().decode_messages(p)) for p in rec.of("xts-binary-packet")) > 1
    raw = BinaryDecoder().decode_messages(rec.of("xts-binary-packet")[0])
    assert {m["layout"] for m in raw if "layout" in m} == {knobs.layout}
    if knobs.nan_total_value_traded:
        assert all(t.total_value_traded is None for t in ticks if t.message_code != 1510)
    else:
        assert all(t.total_value_traded for t in ticks if t.message_code != 1510)


async def test_candles_arrive_as_json_strings_on_the_binary_socket(
    binary: Callable[..., Awaitable[BinaryProbe]],
) -> None:
    probe = await binary()
    token = await probe.login()
    assert (await probe.subscribe(token, 1505, (1, 22)))[0] == 200
    assert (await probe.subscribe(token, 1501, (1, 22)))[0] == 200
    rec = await probe.connect(token)
    candles = await rec.wait_count("1505-json-full", 3)
    probe.sim.stall()
    await eventually(
        lambda: len(rec.of("1505-json-full")) == probe.sim.emitted_log.counts()[(1, 22, 1505)],
        5,
        "every candle",
    )
    candles = rec.of("1505-json-full")
    assert all(isinstance(c, str) for c in candles)
    decoder = XtsDecoder()
    decoded = [decoder.decode("1505-json-full", c) for c in candles]
    assert decoded == probe.sim.emitted_log.ticks((1, 22, 1505))


async def test_opaque_codes_on_subscription_are_skipped(
    binary: Callable[..., Awaitable[BinaryProbe]],
) -> None:
    probe = await binary(binary=BinaryKnobs(opaque_size=48))
    token = await probe.login()
    assert (await probe.subscribe(token, 1512, (1, 22)))[0] == 200
    rec = await probe.connect(token)
    await rec.wait_count("xts-binary-packet", 5)
    probe.sim.stall()
    decoder = BinaryDecoder()
    assert decode_all(rec, decoder) == []
    assert dict(decoder.skipped) == {(1512, 48): len(rec.of("xts-binary-packet"))}
    assert decoder.errors == 0


# -- REST ------------------------------------------------------------------------------------


async def test_wrong_prefix_answers_nginx_html_404(
    binary: Callable[..., Awaitable[BinaryProbe]], simulator_factory: SimFactory
) -> None:
    probe = await binary()
    http = probe.http
    root = probe.sim.root_url
    assert probe.sim.base_url == root + "/apibinarymarketdata"
    for method, path in (
        ("POST", "/apimarketdata/auth/login"),
        ("POST", "/apimarketdata/instruments/subscription"),
        ("GET", "/apimarketdata/socket.io/?EIO=4&transport=polling"),
    ):
        async with http.request(method, root + path, data={"appKey": "x"}) as resp:
            text = await resp.text()
            assert resp.status == 404, path
            assert resp.content_type == "text/html"
            assert "<center>nginx</center>" in text and "404 Not Found" in text
    # and vice versa: the JSON flavour keeps /apimarketdata, the binary prefix is nginx's 404
    json_sim = await simulator_factory()
    assert json_sim.base_url.endswith("/apimarketdata")
    async with http.post(json_sim.root_url + "/apibinarymarketdata/auth/login", data={}) as resp:
        assert resp.status == 404 and "nginx" in await resp.text()


async def test_login_accepts_json_and_form_bodies(
    binary: Callable[..., Awaitable[BinaryProbe]],
) -> None:
    probe = await binary()
    user = probe.user
    status, body = await probe.request(
        "POST", "/auth/login", json={"appKey": user.app_key, "secretKey": user.secret_key}
    )
    assert status == 200 and body["result"]["userID"] == user.user_id
    status, body = await probe.request(
        "POST", "/auth/login",
        data={"appKey": user.app_key, "secretKey": user.secret_key, "source": "WEBAPI"},
    )  # fmt: skip
    assert status == 200 and body["result"]["token"]


async def test_subscribe_unsubscribe_list_and_quotes_shapes(
    binary: Callable[..., Awaitable[BinaryProbe]],
) -> None:
    probe = await binary(subscription_limit=50)
    token = await probe.login()
    status, body = await probe.subscribe(token, 1501, (1, 22), (1, 467))
    assert status == 200
    assert body == {
        "type": "success",
        "code": "s-session-0001",
        "description": "Instrument subscribed successfully!",
        "result": {"Remaining_Subscription_Count": 48},
    }
    # repeat: e-session-0002, as on the JSON flavour (decision)
    status, body = await probe.subscribe(token, 1501, (1, 22))
    assert status == 400 and body["code"] == "e-session-0002"
    # NET's form-encoded subscription (instruments as a JSON array string)
    status, body = await probe.request(
        "POST", "/instruments/subscription", token,
        data={"xtsMessageCode": "1502",
              "instruments": json.dumps([{"exchangeSegment": 1, "exchangeInstrumentID": "2885"}])},
    )  # fmt: skip
    assert status == 200 and body["result"] == {"Remaining_Subscription_Count": 47}
    status, body = await probe.request(
        "GET", "/instruments/subscription?xtsMessageCode=1501", token
    )
    assert status == 200
    assert body["result"]["quotesList"] == [
        {"exchangeSegment": 1, "exchangeInstrumentID": 22},
        {"exchangeSegment": 1, "exchangeInstrumentID": 467},
    ]
    status, body = await probe.unsubscribe(token, 1501, (1, 467))
    assert status == 200 and body["code"] == "s-response-0001"
    assert body["result"]["unsubList"] == [{"exchangeSegment": 1, "exchangeInstrumentID": 467}]
    assert body["result"]["Remaining_Subscription_Count"] == 48
    status, body = await probe.request(
        "POST", "/instruments/quotes", token,
        json=probe.body(1501, (1, 22), (1, 11536), publishFormat="JSON"),
    )  # fmt: skip
    assert status == 200
    quotes = body["result"]["listQuotes"]
    assert all(isinstance(q, str) for q in quotes)  # JSON strings, as the JSON API
    decoded = [XtsDecoder().decode_snapshot(q) for q in quotes]
    assert [(t.message_code, t.instrument) for t in decoded if isinstance(t, Tick)] == [
        (1501, (1, 22)),
        (1501, (1, 11536)),
    ]
    status, body = await probe.request(
        "POST", "/instruments/quotes", token, json=probe.body(1501, (1, 22), publishFormat="Binary")
    )
    assert status == 400  # quotes in binary: NOT FOUND, refused (decision)


async def test_list_quotes_knob_adds_snapshots_to_subscribe(
    binary: Callable[..., Awaitable[BinaryProbe]],
) -> None:
    probe = await binary(binary=BinaryKnobs(subscribe_list_quotes=True))
    token = await probe.login()
    status, body = await probe.subscribe(token, 1501, (1, 22))
    assert status == 200
    assert set(body["result"]) == {"Remaining_Subscription_Count", "listQuotes"}
    assert json.loads(body["result"]["listQuotes"][0])["ExchangeInstrumentID"] == 22


# -- faults and control ----------------------------------------------------------------------


async def test_malformed_binary_kinds_are_counted_by_the_decoder(
    binary: Callable[..., Awaitable[BinaryProbe]],
) -> None:
    probe = await binary()
    token = await probe.login()
    assert (await probe.subscribe(token, 1501, (1, 22)))[0] == 200
    rec = await probe.connect(token)
    await rec.wait_count("xts-binary-packet", 2)
    probe.sim.stall()
    before = len(rec.of("xts-binary-packet"))
    async with probe.http.post(
        probe.sim.root_url + "/_sim/malformed", json={"count": 2 * len(BINARY_MALFORMED_KINDS)}
    ) as resp:
        assert resp.status == 200
        assert (await resp.json())["frames"] == 2 * len(BINARY_MALFORMED_KINDS)
    await rec.wait_count("xts-binary-packet", before + 2 * len(BINARY_MALFORMED_KINDS))
    decoder = BinaryDecoder()
    for payload in rec.of("xts-binary-packet")[before:]:
        assert decoder.decode(payload) == []
    stats = decoder.stats()
    assert {k: stats.get(k, 0) for k in BINARY_MALFORMED_KINDS} == dict.fromkeys(
        BINARY_MALFORMED_KINDS, 2
    )
    assert probe.sim.emitted_log.corrupt_counts() == dict.fromkeys(BINARY_MALFORMED_KINDS, 2)
    assert rec.client.connected


async def test_knobs_change_at_run_time_over_http(
    binary: Callable[..., Awaitable[BinaryProbe]],
) -> None:
    probe = await binary(binary=BinaryKnobs(layout="B", compressed_share=0.0))
    sim, http = probe.sim, probe.http
    async with http.post(
        sim.root_url + "/_sim/binary",
        json={"layout": "A", "compressed_share": 1, "packets_per_event": 2},
    ) as resp:
        assert resp.status == 200
        assert (await resp.json())["layout"] == "A"
    assert sim.binary_knobs == BinaryKnobs(layout="A", compressed_share=1.0, packets_per_event=2)
    async with http.post(sim.root_url + "/_sim/binary", json={"layout": "Z"}) as resp:
        assert resp.status == 400 and "layout" in (await resp.json())["error"]
    async with http.post(sim.root_url + "/_sim/binary", json={"colour": 1}) as resp:
        assert resp.status == 400
    bad = [
        ({"json": {"nan_total_value_traded": "maybe"}}, "nan_total_value_traded must be true or false"),
        ({"data": "{not json"}, "body is not valid JSON"),
        ({"json": [1]}, "body must be a JSON object"),
        ({"params": {"packets_per_event": "inf"}}, "packets_per_event: bad value 'inf'"),
    ]  # fmt: skip
    for kwargs, error in bad:
        async with http.post(sim.root_url + "/_sim/binary", **kwargs) as resp:
            assert (resp.status, (await resp.json())["error"]) == (400, error)
    async with http.post(sim.root_url + "/_sim/binary", params={"nan_total_value_traded": "on"}):
        assert sim.binary_knobs.nan_total_value_traded
    sim.set_binary_knobs(replace(sim.binary_knobs, nan_total_value_traded=False))
    async with http.get(sim.root_url + "/_sim/binary") as resp:
        assert (await resp.json())["compressed_share"] == 1.0
    rec, _, ticks = await stream_then_stall(probe, {1501: [(1, 22), (1, 467)]}, 4)
    raw = [m for p in rec.of("xts-binary-packet") for m in BinaryDecoder().decode_messages(p)]
    assert {(m["layout"], m["compressed"]) for m in raw} == {("A", True)}
    # /_sim/emitted: counts and the remembered ticks of one key, as JSON
    async with http.get(sim.root_url + "/_sim/emitted") as resp:
        summary = await resp.json()
    assert summary["counts"]["1:22:1501"] == len(by_key(ticks)[(1, 22, 1501)])
    async with http.get(
        sim.root_url + "/_sim/emitted", params={"segment": 1, "instrument": 22, "code": 1501}
    ) as resp:
        body = await resp.json()
    assert body["ticks"] == [t.to_dict() for t in by_key(ticks)[(1, 22, 1501)]]
    async with http.post(sim.root_url + "/_sim/emitted/clear") as resp:
        assert resp.status == 200
    assert sim.emitted_log.counts() == {}


async def test_emitted_cap_bounds_memory(binary: Callable[..., Awaitable[BinaryProbe]]) -> None:
    probe = await binary(emitted_cap=3)
    _, _, ticks = await stream_then_stall(probe, {1501: [(1, 22)]}, 6)
    log = probe.sim.emitted_log
    assert log.counts()[(1, 22, 1501)] == len(ticks) >= 6
    assert log.ticks((1, 22, 1501)) == ticks[-3:]


async def test_plain_json_client_on_binary_socket_gets_no_json_ticks(
    binary: Callable[..., Awaitable[BinaryProbe]],
) -> None:
    """publishFormat=JSON in the URL changes nothing on the binary endpoint [PYB], [OA]."""
    probe = await binary()
    token = await probe.login()
    assert (await probe.subscribe(token, 1501, (1, 22)))[0] == 200
    json_probe = XtsProbe(probe.sim, probe.http)  # its URL says publishFormat=JSON
    try:
        rec = await json_probe.connect(token)
        await rec.wait_count("xts-binary-packet", 2)
        assert "1501-json-full" not in rec.names()
    finally:
        await json_probe.close()


# -- configuration and CLI -------------------------------------------------------------------


def test_cli_options_build_the_binary_config() -> None:
    parser = argparse.ArgumentParser(prog="jainam-fsm")
    add_subcommand(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["simulator", "--api", "binary", "--layout", "A", "--compressed-share", "0.25",
         "--packets-per-event", "3", "--nan-tvt", "--extended-properties", "2",
         "--opaque-share", "0.5", "--opaque-size", "90", "--subscribe-list-quotes",
         "--emitted-cap", "7"]
    )  # fmt: skip
    config = build_config(args)
    assert config.api == "binary" and config.rest_prefix == "/apibinarymarketdata"
    assert config.emitted_cap == 7
    assert config.binary == BinaryKnobs(
        layout="A",
        compressed_share=0.25,
        packets_per_event=3,
        nan_total_value_traded=True,
        extended_properties=2,
        opaque_share=0.5,
        opaque_size=90,
        subscribe_list_quotes=True,
    )
    default = build_config(parser.parse_args(["simulator"]))
    assert default.api == "json" and default.rest_prefix == "/apimarketdata"
    assert default.binary == BinaryKnobs()
    for bad in (["--compressed-share", "2"], ["--api", "xml"], ["--layout", "C"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["simulator", *bad])
    with pytest.raises(ValueError):
        build_config(parser.parse_args(["simulator", "--packets-per-event", "0"]))


def test_config_prefix_follows_the_flavour() -> None:
    assert SimulatorConfig(api="binary").rest_prefix == "/apibinarymarketdata"
    assert SimulatorConfig(api="binary").other_prefix == "/apimarketdata"
    assert SimulatorConfig().other_prefix == "/apibinarymarketdata"
    # an explicit prefix wins; replace() keeps following the flavour when none was given
    assert SimulatorConfig(api="binary", prefix="/x").rest_prefix == "/x"
    assert replace(SimulatorConfig(), api="binary").rest_prefix == "/apibinarymarketdata"
    with pytest.raises(ValueError):
        SimulatorConfig(api="protobuf")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SimulatorConfig(emitted_cap=-1)


def test_cli_serves_the_binary_flavour() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "jainam_fsm.simulator", "--api", "binary", "--layout", "A",
         "--packets-per-event", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = json.loads(proc.stdout.readline())
        assert line["api"] == "binary"
        assert line["base_url"].endswith("/apibinarymarketdata")
        assert line["socketio_path"] == "/apibinarymarketdata/socket.io"
        with urllib.request.urlopen(line["control_url"] + "/binary", timeout=5) as r:
            knobs = json.load(r)
        assert (knobs["layout"], knobs["packets_per_event"]) == ("A", 2)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(line["root_url"] + "/apimarketdata/auth/login", b"", timeout=5)
        assert err.value.code == 404 and b"nginx" in err.value.read()
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        proc.communicate()


async def test_json_flavour_records_what_it_emits(xts: XtsProbe) -> None:
    """The emitted record is shared: on the JSON flavour it holds the ticks the JSON payloads
    decode to, once per step and key whatever the number of sockets."""
    token = await xts.login()
    assert (await xts.subscribe(token, 1501, (1, 22), (1, 467)))[0] == 200
    rec = await xts.connect(token)
    await xts.connect(token)  # a second socket: the record is per step, not per socket
    await rec.wait_count("1501-json-full", 6)
    xts.sim.stall()
    log = xts.sim.emitted_log
    await eventually(
        lambda: len(rec.of("1501-json-full")) == sum(log.counts().values()), 5, "every tick"
    )
    decoder = XtsDecoder()
    decoded = [decoder.decode("1501-json-full", p) for p in rec.of("1501-json-full")]
    assert by_key([t for t in decoded if isinstance(t, Tick)]) == {
        k: log.ticks(k) for k in log.counts()
    }
    assert xts.sim.emitted(1, 22, 1501) == log.ticks((1, 22, 1501))


def test_thread_api_for_binary_knobs_and_the_emitted_record() -> None:
    config = replace(TEST_CONFIG, api="binary", binary=BinaryKnobs(layout="A"))
    with SimulatorThread(config) as sim:
        sim.set_binary_knobs(BinaryKnobs(layout="B", packets_per_event=2))
        with urllib.request.urlopen(sim.root_url + "/_sim/binary", timeout=5) as r:
            knobs = json.load(r)
        assert (knobs["layout"], knobs["packets_per_event"]) == ("B", 2)
        assert sim.emitted(1, 22, 1501) == [] and sim.emitted_counts() == {}
    with SimulatorThread(TEST_CONFIG) as json_sim, pytest.raises(RuntimeError):
        json_sim.set_binary_knobs(BinaryKnobs())  # the JSON flavour has no binary knobs


async def test_candles_follow_the_socket_broadcast_mode(
    binary: Callable[..., Awaitable[BinaryProbe]],
) -> None:
    """A Partial socket gets ``1505-json-partial`` strings; binary packets stay full."""
    probe = await binary()
    token = await probe.login()
    assert (await probe.subscribe(token, 1505, (1, 22)))[0] == 200
    assert (await probe.subscribe(token, 1501, (1, 22)))[0] == 200
    rec = await probe.connect(token, mode="Partial")
    partials = await rec.wait_count("1505-json-partial", 2)
    await rec.wait_count("xts-binary-packet", 2)
    assert all(isinstance(p, str) and p.startswith("t:1_22") for p in partials)
    assert "1505-json-full" not in rec.names()
    assert BinaryDecoder().decode(rec.of("xts-binary-packet")[0])[0].ltp is not None
