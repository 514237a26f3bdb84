"""Simulator Socket.IO side, observed with plain python-socketio clients (websocket only)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
import socketio

from jainam_fsm.simulator import Simulator, SimUser
from tests.conftest import XtsProbe, eventually

SimFactory = Callable[..., Awaitable[Simulator]]


def instrument_of(payload: str) -> tuple[int, int]:
    data = json.loads(payload)
    return data["ExchangeSegment"], data["ExchangeInstrumentID"]


def ltp(payload: str) -> float:
    """LastTradedPrice of a full 1501 payload, nested or flat."""
    data = json.loads(payload)
    return float(data.get("Touchline", data)["LastTradedPrice"])


def partial_fields(payload: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in payload.split(","):
        key, _, value = part.partition(":")
        out[key] = value
    return out


async def test_good_token_gets_joined_then_json_string_ticks(xts: XtsProbe) -> None:
    token = await xts.login()
    await xts.subscribe(token, 1501, (1, 22), (1, 467))
    rec = await xts.connect(token)
    ticks = await rec.wait_count("1501-json-full", 6)
    assert rec.names()[0] == "joined"
    joined = json.loads(rec.of("joined")[0])
    assert joined["userID"] == xts.user.user_id
    assert all(isinstance(t, str) for t in ticks)  # payload is a JSON *string*
    assert {instrument_of(t) for t in ticks} == {(1, 22), (1, 467)}
    assert all(json.loads(t)["MessageCode"] == 1501 for t in ticks)
    assert set(rec.names()) == {"joined", "1501-json-full"}
    assert rec.client.connected
    assert xts.sim.stats()["socket_connects"] == 1


@pytest.mark.parametrize(
    "which",
    ["bogus-token", "replaced-token", "expired-token", "wrong-user", "binary-format", "bad-mode"],
)
async def test_bad_connect_gets_error_then_server_disconnect(xts: XtsProbe, which: str) -> None:
    token = await xts.login()
    url = xts.socket_url(token)
    if which == "bogus-token":
        url = xts.socket_url(token[:-4] + "AAAA")
    elif which == "replaced-token":
        await xts.login()
    elif which == "expired-token":
        await xts.sim.expire_tokens()
    elif which == "wrong-user":
        url = xts.socket_url(token, user_id="SOMEONE")
    elif which == "binary-format":
        url = url.replace("publishFormat=JSON", "publishFormat=Binary")
    elif which == "bad-mode":
        url = url.replace("broadcastMode=Full", "broadcastMode=Fast")
    client = socketio.AsyncClient(reconnection=False)
    seen: list[tuple[str, object]] = []
    reasons: list[str] = []
    client.on("*", lambda event, data=None: seen.append((event, data)))
    client.on("connect", lambda: seen.append(("connect", None)))
    client.on("disconnect", lambda reason=None: reasons.append(str(reason)))
    await client.connect(url, transports=["websocket"], socketio_path=xts.sim.socketio_path)
    await eventually(lambda: reasons, what="disconnect")
    await client.shutdown()
    assert reasons == ["server disconnect"]
    assert [e for e, _ in seen] == ["connect", "error"]
    error = json.loads(str(seen[1][1]))
    assert error["type"] == "error"
    expected = "e-app-0001" if which in ("binary-format", "bad-mode") else "e-session-0007"
    assert error["code"] == expected
    stats = xts.sim.stats()
    assert stats["socket_rejects"] == 1
    assert stats["socket_connects"] == 0


async def test_partial_mode_first_packet_complete_then_changes_only(xts: XtsProbe) -> None:
    token = await xts.login()
    await xts.subscribe(token, 1501, (1, 22))
    rec = await xts.connect(token, "Partial")
    ticks = await rec.wait_count("1501-json-partial", 5)
    assert "1501-json-full" not in rec.names()
    first = partial_fields(ticks[0])
    assert first["t"] == "1_22"
    assert "ltp" in first
    for later in ticks[1:]:
        fields = partial_fields(later)
        assert fields["t"] == "1_22"
        assert len(fields) <= len(first)
    # a later subscription starts complete too
    await xts.subscribe(token, 1501, (1, 467))
    await eventually(lambda: any(t.startswith("t:1_467") for t in rec.of("1501-json-partial")))
    first_467 = next(t for t in rec.of("1501-json-partial") if t.startswith("t:1_467"))
    assert "ltp" in partial_fields(first_467)


async def test_broadcast_mode_is_case_insensitive_and_defaults(
    simulator_factory: SimFactory,
) -> None:
    from jainam_fsm.xts.codes import BroadcastMode

    sim = await simulator_factory(broadcast_mode=BroadcastMode.PARTIAL)
    async with aiohttp.ClientSession() as http:
        xts = XtsProbe(sim, http)
        token = await xts.login()
        await xts.subscribe(token, 1512, (1, 22))
        upper = await xts.connect(token, "FULL")
        default = await xts.connect(token, "")
        await upper.wait_count("1512-json-full", 2)
        await default.wait_count("1512-json-partial", 2)
        assert "1512-json-partial" not in upper.names()
        assert "1512-json-full" not in default.names()
        await xts.close()


async def test_only_subscribed_instruments_for_each_code(xts: XtsProbe) -> None:
    token = await xts.login()
    await xts.subscribe(token, 1501, (1, 22))
    await xts.subscribe(token, 1512, (1, 467))
    await xts.subscribe(token, 1502, (2, 35001))
    rec = await xts.connect(token)
    await rec.wait_count("1501-json-full", 3)
    await rec.wait_count("1512-json-full", 3)
    depth = await rec.wait_count("1502-json-full", 3)
    assert {instrument_of(t) for t in rec.of("1501-json-full")} == {(1, 22)}
    assert {instrument_of(t) for t in rec.of("1512-json-full")} == {(1, 467)}
    assert {instrument_of(t) for t in depth} == {(2, 35001)}
    assert all(json.loads(t)["MessageCode"] == 1512 for t in rec.of("1512-json-full"))


async def test_unsubscribe_stops_the_stream(xts: XtsProbe) -> None:
    token = await xts.login()
    await xts.subscribe(token, 1501, (1, 22), (1, 467))
    rec = await xts.connect(token)
    await rec.wait_count("1501-json-full", 4)
    status, _ = await xts.unsubscribe(token, 1501, (1, 22))
    assert status == 200
    cut = len(rec.events)
    await eventually(
        lambda: sum(1 for e, d in rec.events[cut:] if instrument_of(d) == (1, 467)) >= 5
    )
    assert all(instrument_of(d) == (1, 467) for _, d in rec.events[cut:])


async def test_ticks_go_only_to_their_sessions_sockets(simulator_factory: SimFactory) -> None:
    a = SimUser("appkey-a", "secret-a", "AAA001")
    b = SimUser("appkey-b", "secret-b", "BBB001")
    sim = await simulator_factory(users=(a, b))
    async with aiohttp.ClientSession() as http:
        xts = XtsProbe(sim, http)
        ta, tb = await xts.login(a), await xts.login(b)
        await xts.subscribe(ta, 1501, (1, 22))
        await xts.subscribe(tb, 1512, (1, 467))
        ra = await xts.connect(ta, user_id="AAA001")
        rb = await xts.connect(tb, "Partial", user_id="BBB001")
        await ra.wait_count("1501-json-full", 3)
        await rb.wait_count("1512-json-partial", 3)
        assert set(ra.names()) == {"joined", "1501-json-full"}
        assert set(rb.names()) == {"joined", "1512-json-partial"}
        assert {instrument_of(d) for d in ra.of("1501-json-full")} == {(1, 22)}
        await xts.close()


async def test_subscriptions_survive_a_socket_reconnect(xts: XtsProbe) -> None:
    token = await xts.login()
    await xts.subscribe(token, 1501, (1, 22))
    first = await xts.connect(token)
    await first.wait_count("1501-json-full", 2)
    await xts.sim.sever()
    assert await first.wait_disconnect() == "transport error"
    second = await xts.connect(token)  # same token, no re-subscribe
    await second.wait_count("1501-json-full", 2)
    status, body = await xts.subscribe(token, 1501, (1, 22))
    assert (status, body["code"]) == (400, "e-session-0002")


async def test_new_login_sends_logout_then_disconnect_to_old_sockets(xts: XtsProbe) -> None:
    token = await xts.login()
    await xts.subscribe(token, 1501, (1, 22))
    old = await xts.connect(token)
    await old.wait_count("1501-json-full", 1)
    token2 = await xts.login()
    assert await old.wait_disconnect() == "server disconnect"
    assert old.names()[-1] == "logout"
    assert isinstance(old.of("logout")[0], str)
    # default: the new session starts with no subscriptions
    new = await xts.connect(token2)
    await xts.subscribe(token2, 1512, (1, 467))
    await new.wait_count("1512-json-full", 2)
    assert "1501-json-full" not in new.names()
    stats = xts.sim.stats()
    assert stats["logout_events"] == 1
    assert stats["sessions_replaced"] == 1


async def test_silent_policy_leaves_old_socket_open_and_mute(
    simulator_factory: SimFactory,
) -> None:
    sim = await simulator_factory(on_session_end="silent", keep_subscriptions_on_login=True)
    async with aiohttp.ClientSession() as http:
        xts = XtsProbe(sim, http)
        token = await xts.login()
        await xts.subscribe(token, 1501, (1, 22))
        old = await xts.connect(token)
        await old.wait_count("1501-json-full", 1)
        token2 = await xts.login()
        new = await xts.connect(token2)  # kept subscriptions: streams without re-subscribing
        await new.wait_count("1501-json-full", 2)
        seen = len(old.of("1501-json-full"))
        await new.wait_count("1501-json-full", 8)
        assert old.client.connected
        assert not old.disconnects
        assert "logout" not in old.names()
        assert len(old.of("1501-json-full")) <= seen + 1  # at most one batch in flight
        await xts.close()


async def test_logout_ends_the_sockets_too(xts: XtsProbe) -> None:
    token = await xts.login()
    rec = await xts.connect(token)
    status, _ = await xts.request("DELETE", "/auth/logout", token)
    assert status == 200
    assert await rec.wait_disconnect() == "server disconnect"
    assert "logout" in rec.names()


async def test_same_seed_same_prices(simulator_factory: SimFactory) -> None:
    async def prices(seed: int) -> list[float]:
        sim = await simulator_factory(seed=seed, rate=50)
        async with aiohttp.ClientSession() as http:
            xts = XtsProbe(sim, http)
            token = await xts.login()
            status, body = await xts.subscribe(token, 1501, (1, 22))
            assert status == 200
            rec = await xts.connect(token)
            ticks = await rec.wait_count("1501-json-full", 10)
            await xts.close()
        snapshot = body["result"]["listQuotes"][0]
        return [ltp(snapshot)] + [ltp(t) for t in ticks[:10]]

    first, again, other = await prices(7), await prices(7), await prices(8)
    assert first == again
    assert first != other
    assert len(set(first)) > 1  # it does walk


async def test_rate_is_respected(simulator_factory: SimFactory) -> None:
    started = time.monotonic()
    sim = await simulator_factory(rate=40, emit_interval=0.05)
    async with aiohttp.ClientSession() as http:
        xts = XtsProbe(sim, http)
        token = await xts.login()
        await xts.subscribe(token, 1512, (1, 22), (1, 467))
        rec = await xts.connect(token)
        await rec.wait_count("1512-json-full", 80, timeout=10)  # clearly streaming
        emitted = sim.stats()["events_emitted"]
        alive = time.monotonic() - started
        # The loop never runs ahead of its clock: at most 40 steps/s since the simulator
        # started (+1 for the fractional carry), one event per instrument per step.
        assert 80 <= emitted <= 2 * (40 * alive + 1)
        await xts.close()


async def test_engineio_ping_settings_are_configurable(simulator_factory: SimFactory) -> None:
    # python-engineio 4.15 advertises pingInterval truncated to whole seconds: use 1 s.
    sim = await simulator_factory(ping_interval=1, ping_timeout=1.2)
    async with aiohttp.ClientSession() as http:
        xts = XtsProbe(sim, http)
        token = await xts.login()
        rec = await xts.connect(token)
        assert rec.client.eio.ping_interval == pytest.approx(1.0)
        assert rec.client.eio.ping_timeout == pytest.approx(1.2)
        # A quiet socket outlives several ping intervals: pings keep it alive (the client
        # gives up after interval + timeout = 2.2 s without a packet; a pong may be 1.2 s
        # late, so loop lag on a loaded machine is no drop).
        await asyncio.sleep(3.0)  # a "nothing happens" check needs the time to pass
        assert rec.client.connected and not rec.disconnects
        await xts.close()


@pytest.mark.parametrize("code", [1502, 1504, 1505, 1510, 1512])
async def test_every_streamed_code_streams(xts: XtsProbe, code: int) -> None:
    token = await xts.login()
    await xts.subscribe(token, code, (1, 26000))
    rec = await xts.connect(token)
    ticks = await rec.wait_count(f"{code}-json-full", 2)
    data = json.loads(ticks[0])
    assert data["MessageCode"] == code
    assert data["ExchangeInstrumentID"] == 26000


@pytest.mark.parametrize("payload", ['{"MessageCode":1501,"x":"a\\"b"}', "t:1_22,ltp:1.5", "\x00é"])
def test_data_packet_matches_python_socketio_encoding(payload: str) -> None:
    from engineio import packet as eio_packet
    from socketio import packet as sio_packet

    from jainam_fsm.simulator.frames import data_frame

    ours = data_frame("1501-json-full", payload).eio4()[0]
    theirs = sio_packet.Packet(
        sio_packet.EVENT, namespace="/", data=["1501-json-full", payload]
    ).encode()
    assert ours.packet_type == eio_packet.MESSAGE
    assert ours.encode() == eio_packet.Packet(eio_packet.MESSAGE, theirs).encode()
