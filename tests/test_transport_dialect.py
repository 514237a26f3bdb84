"""The Engine.IO seam (jainam_fsm/streaming/dialect.py) and the adapter's dialect choice.

The first group fails loudly when a python-socketio / python-engineio release moves one of the
private names the seam relies on: upgrade only after adapting dialect.py and re-running these.
The rest runs the seam over real sockets against the simulator in both dialects.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from typing import Any

import aiohttp
import engineio
import pytest
import socketio

from jainam_fsm.errors import ConfigError
from jainam_fsm.simulator import Simulator
from jainam_fsm.streaming import AdapterConfig
from jainam_fsm.streaming.dialect import DialectClient, DialectEngineIO
from tests.conftest import XtsProbe, eventually

SimFactory = Callable[..., Awaitable[Simulator]]

# -- the seam itself ---------------------------------------------------------------------------


def test_library_versions_are_the_tested_ones() -> None:
    sio, eio = version("python-socketio"), version("python-engineio")
    assert sio.startswith("5.18."), f"python-socketio {sio}: re-check the seam, then the pin"
    assert eio.startswith("4.15."), f"python-engineio {eio}: re-check the seam, then the pin"


def test_socketio_builds_its_engineio_client_from_the_class_hook() -> None:
    source = inspect.getsource(socketio.base_client.BaseClient.__init__)
    assert "self._engineio_client_class()(**engineio_options)" in source
    assert DialectClient(eio=3).eio.__class__ is DialectEngineIO


def test_engineio_private_names_the_seam_uses_are_there() -> None:
    cls = engineio.AsyncClient
    for name in ("_connect_websocket", "_receive_packet", "_send_packet", "_reset"):
        assert inspect.iscoroutinefunction(getattr(cls, name)), name
    assert "EIO=4" in inspect.getsource(engineio.base_client.BaseClient._get_engineio_url)
    assert hasattr(engineio.AsyncClient(), "http_factory")
    connect = inspect.getsource(cls._connect_websocket)
    # The open packet is the first frame read from the websocket the session makes.
    assert "self.http.ws_connect(" in connect
    assert "(await ws.receive()).data" in connect
    assert "self.http_factory()" in connect
    assert "open_packet.data['pingInterval']" in connect
    # PONG is not handled by the library's receive (we take it), binary data is left as is.
    receive = inspect.getsource(cls._receive_packet)
    assert "pkt.packet_type == packet.PONG" not in receive
    assert "pkt.packet_type == packet.MESSAGE" in receive
    # The read loop times out after pingInterval + pingTimeout of silence: pongs keep it alive.
    loop = inspect.getsource(cls._read_loop_websocket)
    assert "timeout=self.ping_interval + self.ping_timeout" in loop


def _client(mode: Any = "auto") -> DialectEngineIO:
    client = DialectEngineIO()
    client.mode = mode
    return client


@pytest.mark.parametrize(
    ("opening", "mode", "server", "spoken"),
    [
        ('0{"sid":"a","upgrades":[],"pingInterval":25000,"pingTimeout":5000}', "auto", 3, 3),
        (
            '0{"sid":"a","upgrades":[],"pingInterval":25000,"pingTimeout":20000,'
            '"maxPayload":1000000}',
            "auto",
            4,
            4,
        ),
        ('0{"sid":"a","upgrades":[],"pingInterval":25000,"pingTimeout":5000}', 4, 3, 4),
        ('0{"sid":"a","maxPayload":1}', 3, 4, 3),
        ("not an open packet", "auto", None, 4),
    ],
)
def test_dialect_from_the_open_packet(opening: str, mode: Any, server: Any, spoken: int) -> None:
    client = _client(mode)
    client.learn_open_packet(opening)
    assert (client.server_dialect, client.dialect) == (server, spoken)


def test_forced_3_says_eio_3_in_the_url() -> None:
    url = _client(3)._get_engineio_url("http://h:1/?a=b", "x/socket.io", "websocket")
    assert "&EIO=3" in url and "EIO=4" not in url
    assert "&EIO=4" in _client()._get_engineio_url("http://h:1/", "x/socket.io", "websocket")


@pytest.mark.parametrize(
    ("raw", "value"), [("auto", "auto"), ("3", 3), ("4", 4), (" AUTO ", "auto")]
)
def test_adapter_config_eio_from_env(raw: str, value: object) -> None:
    env = {"JAINAM_BASE_URL": "http://127.0.0.1:1", "JAINAM_APP_KEY": "k"}
    env |= {"JAINAM_SECRET_KEY": "s", "JAINAM_EIO": raw}
    assert AdapterConfig.from_env(env).eio == value


@pytest.mark.parametrize("bad", [2, 5, "three", True, None, 3.5])
def test_adapter_config_eio_refuses_others(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"^eio: "):
        AdapterConfig(base_url="http://127.0.0.1:1", app_key="k", secret_key="s", eio=bad)  # type: ignore[arg-type]


# -- over real sockets -----------------------------------------------------------------------


async def _connect(xts: XtsProbe, token: str, mode: Any) -> tuple[DialectClient, list[Any]]:
    client = DialectClient(reconnection=False, eio=mode)
    seen: list[Any] = []

    @client.on("*")
    async def any_event(event: str, data: Any = None) -> None:
        seen.append((event, data))

    @client.event
    async def disconnect(reason: Any = None) -> None:
        seen.append(("disconnect", reason))

    xts.clients.append(client)
    await client.connect(
        xts.socket_url(token),
        transports=["websocket"],
        socketio_path=xts.sim.socketio_path,
        wait_timeout=5,
    )
    return client, seen


async def test_auto_speaks_3_to_an_eio3_server_and_survives_its_ping_timeout(
    simulator_factory: SimFactory,
) -> None:
    # Pings every 0.5 s against a 2 s limit: loop lag on a loaded machine is no drop.
    sim = await simulator_factory(eio=3, ping_interval=0.5, ping_timeout=1.5)
    async with aiohttp.ClientSession() as http:
        xts = XtsProbe(sim, http)
        token = await xts.login()
        await xts.subscribe(token, 1501, (1, 22))
        client, seen = await _connect(xts, token, "auto")
        assert (client.dialect, client.eio.server_dialect) == (3, 3)
        # 2x (interval + timeout): a plain Engine.IO 4 client is gone after 1x.
        await eventually(lambda: client.eio.pongs >= 8, 30.0, "8 pongs")
        assert client.connected and ("disconnect", "transport error") not in seen
        assert sim.stats()["ping_timeouts"] == 0
        assert sim.stats()["pings_received"] >= 8
        await sim.broadcast("xts-binary-packet", b"\x00\xdd\x05XYZ")
        await eventually(lambda: any(e == "xts-binary-packet" for e, _ in seen))
        assert [d for e, d in seen if e == "xts-binary-packet"] == [b"\x00\xdd\x05XYZ"]
        await xts.close()
    assert [t for t in asyncio.all_tasks() if t.get_name() == "jainam-eio3-ping"] == []


async def test_auto_speaks_4_to_an_eio4_server(simulator_factory: SimFactory) -> None:
    sim = await simulator_factory(eio=4)
    async with aiohttp.ClientSession() as http:
        xts = XtsProbe(sim, http)
        token = await xts.login()
        client, seen = await _connect(xts, token, "auto")
        assert (client.dialect, client.eio.server_dialect) == (4, 4)
        await sim.broadcast("xts-binary-packet", b"\x04\x00\xdd")
        await eventually(lambda: any(e == "xts-binary-packet" for e, _ in seen))
        # Engine.IO 4 frames binary data as is: a leading 4 is data, never stripped.
        assert [d for e, d in seen if e == "xts-binary-packet"] == [b"\x04\x00\xdd"]
        assert client.eio.pings_sent == 0
        await xts.close()


async def test_forced_4_against_eio3_is_dropped_like_a_plain_client(
    simulator_factory: SimFactory,
) -> None:
    sim = await simulator_factory(eio=3, ping_interval=0.5, ping_timeout=0.5)
    async with aiohttp.ClientSession() as http:
        xts = XtsProbe(sim, http)
        token = await xts.login()
        client, seen = await _connect(xts, token, 4)
        assert (client.dialect, client.eio.server_dialect) == (4, 3)
        await eventually(lambda: ("disconnect", "transport error") in seen, 15.0, "drop")
        assert sim.stats()["ping_timeouts"] == 1
        await xts.close()
