"""The simulator's Engine.IO 3 dialect (``--eio 3``), seen by clients we did not write.

Two kinds of client: a raw aiohttp websocket (to read the frames themselves) and a plain
python-socketio 5 client (Engine.IO 4, no seam), which must fail against ``--eio 3`` exactly as it
fails against a real Engine.IO 3 server: dropped after pingInterval + pingTimeout even while data
flows, and binary attachments arriving with the leading ``0x04``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from jainam_fsm.simulator import Simulator, SimulatorConfig
from tests.conftest import XtsProbe, eventually

SimFactory = Callable[..., Awaitable[Simulator]]


async def _raw(xts: XtsProbe, token: str, **query: str) -> aiohttp.ClientWebSocketResponse:
    params = {
        "token": token,
        "userID": xts.user.user_id,
        "publishFormat": "JSON",
        "broadcastMode": "Full",
        "EIO": "3",
        "transport": "websocket",
        **query,
    }
    return await xts.http.ws_connect(xts.sim.root_url + xts.sim.socketio_path + "/", params=params)


async def _text(ws: aiohttp.ClientWebSocketResponse) -> str:
    msg = await asyncio.wait_for(ws.receive(), 5.0)
    assert msg.type is aiohttp.WSMsgType.TEXT, msg
    return str(msg.data)


def test_eio3_defaults_follow_socketio_2() -> None:
    cfg = SimulatorConfig(eio=3)
    assert (cfg.ping_interval, cfg.heartbeat_timeout) == (25.0, 5.0)
    assert SimulatorConfig().heartbeat_timeout == 20.0  # Engine.IO 4: python-engineio's
    with pytest.raises(ValueError, match="eio"):
        SimulatorConfig(eio=2)


async def test_open_packet_has_no_max_payload_and_namespace_is_connected(
    simulator_factory: SimFactory,
) -> None:
    sim = await simulator_factory(eio=3, ping_interval=1.5, ping_timeout=0.5)
    async with aiohttp.ClientSession() as http:
        xts = XtsProbe(sim, http)
        token = await xts.login()
        ws = await _raw(xts, token)
        opening = await _text(ws)
        assert opening.startswith("0")
        fields = json.loads(opening[1:])
        assert set(fields) == {"sid", "upgrades", "pingInterval", "pingTimeout"}
        assert (fields["pingInterval"], fields["pingTimeout"], fields["upgrades"]) == (
            1500,
            500,
            [],
        )
        assert await _text(ws) == "40"  # Socket.IO 2 connects "/" by itself
        joined = await _text(ws)
        assert joined.startswith('42["joined",')
        await ws.send_str("2probe")
        assert await _text(ws) == "3probe"
        await ws.close()
    await eventually(lambda: sim.stats()["connected_sockets"] == 0)
    assert sim.stats()["pings_received"] == 1
    assert sim.stats()["eio"] == 3


async def test_a_pinging_client_stays_and_a_silent_one_is_dropped(
    simulator_factory: SimFactory,
) -> None:
    # The pinger pings every 0.3 s against a 1.5 s limit: loop lag on a loaded machine is no drop.
    sim = await simulator_factory(eio=3, ping_interval=0.3, ping_timeout=1.2)
    async with aiohttp.ClientSession() as http:
        xts = XtsProbe(sim, http)
        token = await xts.login()
        await xts.subscribe(token, 1501, (1, 22))
        pinger = await _raw(xts, token)
        silent = await _raw(xts, token)

        async def ping_and_read() -> int:
            pongs = 0
            loop = asyncio.get_running_loop()
            next_ping = loop.time()
            while pongs < 10:  # 10 pings = 3 s, twice pingInterval + pingTimeout
                if loop.time() >= next_ping:
                    await pinger.send_str("2")
                    next_ping += 0.3
                try:
                    msg = await asyncio.wait_for(pinger.receive(), 0.05)
                except TimeoutError:
                    continue
                assert msg.type is aiohttp.WSMsgType.TEXT, msg
                pongs += msg.data == "3"
            return pongs

        assert await asyncio.wait_for(ping_and_read(), 30.0) == 10
        # The silent socket got data all along, yet it was dropped for not pinging.
        await eventually(lambda: sim.stats()["ping_timeouts"] == 1, 10.0, "ping timeout")
        frames = []
        while True:
            msg = await asyncio.wait_for(silent.receive(), 5.0)
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            frames.append(msg.data)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert any(f.startswith('42["1501-json-full",') for f in frames)
        assert not pinger.closed
        stats = sim.stats()
        assert stats["connected_sockets"] == 1
        assert stats["disconnect_reasons"] == {"ping timeout": 1}
        await pinger.close()


async def test_binary_event_is_a_placeholder_then_an_attachment_with_0x04(
    simulator_factory: SimFactory,
) -> None:
    sim = await simulator_factory(eio=3)
    async with aiohttp.ClientSession() as http:
        xts = XtsProbe(sim, http)
        token = await xts.login()
        ws = await _raw(xts, token)
        for _ in range(3):  # open, 40, joined
            await _text(ws)
        assert await sim.broadcast("xts-binary-packet", b"\x00\xdd\x05XYZ") == 1
        assert await _text(ws) == '451-["xts-binary-packet",{"_placeholder":true,"num":0}]'
        msg = await asyncio.wait_for(ws.receive(), 5.0)
        assert msg.type is aiohttp.WSMsgType.BINARY
        assert msg.data == b"\x04\x00\xdd\x05XYZ"
        await ws.close()


async def test_bad_token_gets_error_then_disconnect(simulator_factory: SimFactory) -> None:
    sim = await simulator_factory(eio=3)
    async with aiohttp.ClientSession() as http:
        xts = XtsProbe(sim, http)
        await xts.login()
        ws = await _raw(xts, "not-a-token")
        assert (await _text(ws)).startswith("0{")
        assert await _text(ws) == "40"
        error = await _text(ws)
        assert error.startswith('42["error",') and "e-session-0007" in error
        assert await _text(ws) == "41"
        msg = await asyncio.wait_for(ws.receive(), 5.0)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert sim.stats()["socket_rejects"] == 1


async def test_polling_is_refused(simulator_factory: SimFactory) -> None:
    sim = await simulator_factory(eio=3)
    async with aiohttp.ClientSession() as http:
        url = sim.root_url + sim.socketio_path + "/"
        async with http.get(url, params={"EIO": "3", "transport": "polling"}) as resp:
            assert resp.status == 400
            assert (await resp.json())["message"] == "Transport unknown"


# -- faithfulness: a plain python-socketio 5 client, as against a real Engine.IO 3 server ------


async def test_plain_engineio4_client_is_dropped_after_interval_plus_timeout(
    simulator_factory: SimFactory,
) -> None:
    sim = await simulator_factory(eio=3, ping_interval=1.0, ping_timeout=1.0)
    async with aiohttp.ClientSession() as http:
        xts = XtsProbe(sim, http)
        token = await xts.login()
        await xts.subscribe(token, 1501, (1, 22))
        rec = await xts.connect(token)  # python-socketio 5, no seam: it never pings
        assert rec.client.eio.ping_interval == pytest.approx(1.0)
        await rec.wait_count("1501-json-full", 5)  # data flows...
        # ...and still the server drops it: pingInterval + pingTimeout = 2 s after the open.
        assert await rec.wait_disconnect(timeout=15.0) == "transport error"
        assert len(rec.of("1501-json-full")) >= 5
        stats = sim.stats()
        assert stats["ping_timeouts"] == 1
        assert stats["disconnect_reasons"] == {"ping timeout": 1}
        await xts.close()


async def test_plain_engineio4_client_keeps_the_0x04_of_binary_attachments(
    simulator_factory: SimFactory,
) -> None:
    sim = await simulator_factory(eio=3)
    async with aiohttp.ClientSession() as http:
        xts = XtsProbe(sim, http)
        token = await xts.login()
        rec = await xts.connect(token)
        await rec.wait_count("joined", 1)
        await sim.broadcast("xts-binary-packet", b"\x00\xdd\x05XYZ")
        (data,) = await rec.wait_count("xts-binary-packet", 1)
        assert data == b"\x04\x00\xdd\x05XYZ"
        await xts.close()
