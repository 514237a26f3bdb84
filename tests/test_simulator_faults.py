"""Simulator faults (Python API), observed with plain aiohttp and python-socketio clients."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
import socketio

from jainam_fsm.simulator import MALFORMED_KINDS, Simulator
from tests.conftest import XtsProbe, eventually

SimFactory = Callable[..., Awaitable[Simulator]]


async def test_sever_is_a_transport_error(xts: XtsProbe) -> None:
    token = await xts.login()
    await xts.subscribe(token, 1501, (1, 22))
    rec = await xts.connect(token)
    await rec.wait_count("1501-json-full", 2)
    assert await xts.sim.sever() >= 1
    assert await rec.wait_disconnect() == "transport error"
    await eventually(lambda: xts.sim.stats()["connected_sockets"] == 0)
    stats = xts.sim.stats()
    assert stats["severs"] == 1
    assert stats["socket_disconnects"] == 1
    # the session is untouched: the same token still works
    status, _ = await xts.subscribe(token, 1501, (1, 467))
    assert status == 200


async def test_sever_also_cuts_rest_requests_in_flight(xts: XtsProbe) -> None:
    token = await xts.login()
    xts.sim.set_rest_delay(2.0)
    request = asyncio.create_task(xts.subscribe(token, 1501, (1, 22)))
    await eventually(lambda: xts.sim.stats()["rest_in_flight"] == 1, what="request in flight")
    await xts.sim.sever()
    with pytest.raises(aiohttp.ClientError):
        await request
    xts.sim.set_rest_delay(0)
    status, _ = await xts.subscribe(token, 1501, (1, 22))  # a fresh connection works
    assert status == 200


async def test_disconnect_all_is_a_clean_server_disconnect(xts: XtsProbe) -> None:
    token = await xts.login()
    rec = await xts.connect(token)
    assert await xts.sim.disconnect_all() == 1
    assert await rec.wait_disconnect() == "server disconnect"
    assert xts.sim.stats()["server_disconnects"] == 1


async def test_stall_keeps_pings_but_sends_no_data(simulator_factory: SimFactory) -> None:
    # The client drops a connection after ping_interval + ping_timeout = 2.2 s of silence, so
    # staying connected through a 3 s stall proves the Engine.IO pings went on. (A pong may be
    # up to 1.2 s late: loop lag on a loaded machine is no drop.)
    sim = await simulator_factory(ping_interval=1, ping_timeout=1.2)
    async with aiohttp.ClientSession() as http:
        xts = XtsProbe(sim, http)
        token = await xts.login()
        await xts.subscribe(token, 1501, (1, 22))
        rec = await xts.connect(token)
        await rec.wait_count("1501-json-full", 2)
        sim.stall(3.0)
        emitted = sim.stats()["events_emitted"]
        start = time.monotonic()
        assert sim.stats()["stalled"]
        # everything sent before the stall arrives, then nothing more
        await eventually(lambda: len(rec.of("1501-json-full")) == emitted, what="in-flight")
        received = len(rec.events)
        await eventually(lambda: not sim.stats()["stalled"], timeout=15, what="stall end")
        assert time.monotonic() - start >= 2.9
        assert sim.stats()["events_emitted"] == emitted
        assert len(rec.events) == received
        assert rec.client.connected and not rec.disconnects
        await rec.wait_count("1501-json-full", len(rec.of("1501-json-full")) + 2)
        await xts.close()


async def test_stall_until_unstall(xts: XtsProbe) -> None:
    token = await xts.login()
    await xts.subscribe(token, 1501, (1, 22))
    rec = await xts.connect(token)
    xts.sim.stall()
    assert xts.sim.stats()["stalled"]
    xts.sim.unstall()
    assert not xts.sim.stats()["stalled"]
    await rec.wait_count("1501-json-full", 2)


async def test_down_then_back_on_the_same_port(xts: XtsProbe) -> None:
    token = await xts.login()
    await xts.subscribe(token, 1501, (1, 22))
    rec = await xts.connect(token)
    await rec.wait_count("1501-json-full", 1)
    port = xts.sim.port
    await xts.sim.go_down(1.0)
    assert await rec.wait_disconnect() == "transport error"
    assert xts.sim.stats()["down"]
    with pytest.raises(aiohttp.ClientConnectorError):
        async with aiohttp.ClientSession() as fresh:
            await fresh.post(xts.sim.base_url + "/auth/login")
    await eventually(lambda: not xts.sim.stats()["down"], timeout=5, what="back up")
    assert xts.sim.port == port
    # sessions survived the outage: reconnect with the same token, no re-subscribe
    again = await xts.connect(token)
    await again.wait_count("1501-json-full", 2)


async def test_down_until_come_up(xts: XtsProbe) -> None:
    await xts.sim.go_down()
    with pytest.raises(aiohttp.ClientConnectorError):
        await xts.login()
    await xts.sim.come_up()
    assert await xts.login()


async def test_reject_logins_answers_5xx_for_a_while(xts: XtsProbe) -> None:
    xts.sim.reject_logins(0.5)
    u = xts.user
    form = {"appKey": u.app_key, "secretKey": u.secret_key, "source": "WEBAPI"}
    async with xts.http.post(xts.sim.base_url + "/auth/login", data=form) as resp:
        assert resp.status == 503
        assert resp.content_type == "text/html"
    # other endpoints are unaffected
    assert xts.sim.stats()["logins_refused"] == 1

    async def login_ok() -> bool:
        async with xts.http.post(xts.sim.base_url + "/auth/login", data=form) as resp:
            return resp.status == 200

    deadline = time.monotonic() + 5
    while not await login_ok():
        assert time.monotonic() < deadline, "logins still refused"
        await asyncio.sleep(0.05)


async def test_reject_credentials_switch(xts: XtsProbe) -> None:
    xts.sim.reject_credentials(True)
    u = xts.user
    status, body = await xts.request(
        "POST", "/auth/login", data={"appKey": u.app_key, "secretKey": u.secret_key}
    )
    assert (status, body["code"]) == (400, "e-app-0005")
    xts.sim.reject_credentials(False)
    assert await xts.login()


async def test_invalidate_tokens_leaves_sockets_mute(xts: XtsProbe) -> None:
    token = await xts.login()
    await xts.subscribe(token, 1501, (1, 22))
    rec = await xts.connect(token)
    await rec.wait_count("1501-json-full", 1)
    assert await xts.sim.invalidate_tokens() == 1
    status, body = await xts.subscribe(token, 1501, (1, 467))
    assert (status, body["code"]) == (400, "e-session-0007")
    emitted = xts.sim.stats()["events_emitted"]
    refused = await xts.connect(token)
    await refused.wait_disconnect()
    assert refused.names() == ["error"]
    assert rec.client.connected and not rec.disconnects
    assert xts.sim.stats()["events_emitted"] == emitted
    # a fresh login restores service
    token2 = await xts.login()
    assert (await xts.subscribe(token2, 1501, (1, 22)))[0] == 200


async def test_invalidate_tokens_with_disconnect(xts: XtsProbe) -> None:
    token = await xts.login()
    rec = await xts.connect(token)
    await xts.sim.invalidate_tokens(disconnect=True)
    assert await rec.wait_disconnect() == "server disconnect"
    assert rec.names()[-1] == "logout"


async def test_expire_tokens(xts: XtsProbe) -> None:
    token = await xts.login()
    assert await xts.sim.expire_tokens() == 1
    status, body = await xts.subscribe(token, 1501, (1, 22))
    assert (status, body["code"]) == (400, "e-session-0007")
    assert xts.sim.stats()["sessions"][0]["valid"] is False


async def test_tokens_expire_after_their_lifetime(simulator_factory: SimFactory) -> None:
    sim = await simulator_factory(token_ttl=1)
    async with aiohttp.ClientSession() as http:
        xts = XtsProbe(sim, http)
        token = await xts.login()
        assert (await xts.subscribe(token, 1501, (1, 22)))[0] == 200
        deadline = time.monotonic() + 5
        while (await xts.subscribe(token, 1512, (1, 22)))[0] != 400:
            assert time.monotonic() < deadline
            await xts.unsubscribe(token, 1512, (1, 22))
            await asyncio.sleep(0.1)


async def test_slow_rest_responses(xts: XtsProbe) -> None:
    xts.sim.set_rest_delay(0.3)
    start = time.monotonic()
    token = await xts.login()
    assert time.monotonic() - start >= 0.3
    # Clearing a delay removes it: with a 60 s delay set and cleared, the answer comes long
    # before it (no upper bound near the delay, which a loaded machine could overrun).
    xts.sim.set_rest_delay(60)
    xts.sim.set_rest_delay(0)
    status, _ = await asyncio.wait_for(xts.subscribe(token, 1501, (1, 22)), 30)
    assert status == 200


async def test_malformed_frames_reach_the_client(xts: XtsProbe) -> None:
    token = await xts.login()
    rec = await xts.connect(token)
    n = len(MALFORMED_KINDS)
    assert await xts.sim.send_malformed(n) == n
    got = await rec.wait_count("1501-json-full", n)
    assert got == [payload for _, payload in MALFORMED_KINDS]
    assert any(isinstance(p, str) and "\x00" in p for p in got)
    assert any(isinstance(p, dict) for p in got)
    assert rec.client.connected
    assert xts.sim.stats()["malformed_sent"] == n
    # they go on the event and mode the socket listens to
    await xts.subscribe(token, 1512, (1, 22))
    partial = await xts.connect(token, "Partial")
    await xts.sim.send_malformed(2)
    expected = [p for _, p in MALFORMED_KINDS[:2]]
    await eventually(lambda: all(p in partial.of("1512-json-partial") for p in expected))


async def test_restart_forgets_every_session(xts: XtsProbe) -> None:
    token = await xts.login()
    await xts.subscribe(token, 1501, (1, 22))
    rec = await xts.connect(token)
    await xts.sim.restart()
    assert await rec.wait_disconnect() == "transport error"
    status, body = await xts.subscribe(token, 1501, (1, 22))
    assert (status, body["code"]) == (400, "e-session-0007")
    assert xts.sim.stats()["sessions"] == []
    token2 = await xts.login()
    status, body = await xts.subscribe(token2, 1501, (1, 22))
    assert (status, body["result"]["Remaining_Subscription_Count"]) == (200, 49)


async def test_silent_client_is_dropped_on_ping_timeout(simulator_factory: SimFactory) -> None:
    """A raw websocket that never answers pings: the server gives up after interval+timeout."""
    sim = await simulator_factory(ping_interval=1, ping_timeout=0.5)
    async with aiohttp.ClientSession() as http:
        xts = XtsProbe(sim, http)
        token = await xts.login()
        url = (
            f"{sim.root_url}{sim.socketio_path}/?EIO=4&transport=websocket"
            f"&token={token}&userID={xts.user.user_id}&publishFormat=JSON&broadcastMode=Full"
        )
        async with http.ws_connect(url) as ws:
            opened = await ws.receive_str()
            assert opened.startswith("0") and json.loads(opened[1:])["pingInterval"] == 1000
            await ws.send_str("40")  # Socket.IO connect to "/", then never pong
            await eventually(lambda: sim.stats()["socket_connects"] == 1)
            await eventually(
                lambda: sim.stats()["disconnect_reasons"].get("ping timeout") == 1,
                timeout=5,
                what="ping timeout",
            )


async def test_sever_cuts_long_polling_sessions_too(xts: XtsProbe) -> None:
    """NODE clients start on long-polling; a cut must reach them as a transport error too."""
    token = await xts.login()
    await xts.subscribe(token, 1501, (1, 22))
    client = socketio.AsyncClient(reconnection=False)
    ticks: list[str] = []
    reasons: list[str] = []
    client.on("1501-json-full", ticks.append)
    client.on("disconnect", lambda reason=None: reasons.append(str(reason)))
    await client.connect(
        xts.socket_url(token), transports=["polling"], socketio_path=xts.sim.socketio_path
    )
    try:
        await eventually(lambda: len(ticks) >= 2, what="ticks over polling")
        assert client.transport() == "polling"
        await xts.sim.sever()
        await eventually(lambda: reasons, what="disconnect")
        assert reasons == ["transport error"]
    finally:
        await client.shutdown()


async def test_refused_login_status_is_configurable(simulator_factory: SimFactory) -> None:
    sim = await simulator_factory(login_failure_status=502)
    sim.reject_logins(30)
    async with aiohttp.ClientSession() as http:
        status, body = await XtsProbe(sim, http).request(
            "POST", "/auth/login", data={"appKey": "k", "secretKey": "s"}
        )
    assert status == 502
    assert isinstance(body, str) and "502" in body


async def test_stop_releases_delayed_rest_answers(simulator_factory: SimFactory) -> None:
    # A REST answer held by set_rest_delay must not hold the stop (aiohttp would wait its
    # shutdown timeout for the handler): stop answers it with 503 at once.
    sim = await simulator_factory()
    async with aiohttp.ClientSession() as http:
        xts = XtsProbe(sim, http)
        token = await xts.login()
        sim.set_rest_delay(60.0)
        request = asyncio.create_task(xts.subscribe(token, 1501, (1, 22)))
        await eventually(lambda: sim.stats()["rest_in_flight"] == 1, what="request in flight")
        await asyncio.wait_for(sim.stop(), 10.0)  # far below the 60 s delay
        try:
            status, _ = await asyncio.wait_for(request, 10.0)
        except aiohttp.ClientError:
            return  # the connection went down with the server: also released
        assert status == 503
