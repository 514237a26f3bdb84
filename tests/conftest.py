"""Shared fixtures: the XTS simulator on an ephemeral loopback port, and plain-client helpers.

* ``simulator`` -- a started :class:`~jainam_fsm.simulator.Simulator` (async tests); fast
  stream (20 steps/s per instrument) and small Engine.IO ping values.
* ``simulator_factory`` -- ``await simulator_factory(rate=..., ...)`` for other settings.
* ``simulator_thread`` -- a :class:`~jainam_fsm.simulator.SimulatorThread` for sync tests, in
  **both** Engine.IO dialects (``sim_eio``: the test runs once against ``--eio 4`` and once
  against ``--eio 3``, the dialect of real XTS servers). The adapter harness uses it too.
* ``xts`` -- an :class:`XtsProbe` on ``simulator``: plain aiohttp requests and plain
  python-socketio clients, no jainam-fsm adapter code.

Every simulator is stopped at teardown; nothing is left listening.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
import pytest
import socketio
from hypothesis import settings

from jainam_fsm.simulator import Simulator, SimulatorConfig, SimulatorThread, SimUser

# Hypothesis: derandomized by default so CI is reproducible (a failure found once is found
# every run); HYPOTHESIS_PROFILE=thorough explores with fresh randomness.
settings.register_profile("repo", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile("explore" if os.environ.get("HYPOTHESIS_PROFILE") == "thorough" else "repo")

#: Settings of the default test simulator: quick ticks, quick heartbeats.
TEST_CONFIG = SimulatorConfig(rate=20.0, emit_interval=0.02, ping_interval=1.0, ping_timeout=2.0)


async def eventually(
    predicate: Callable[[], object], timeout: float = 15.0, what: str = "condition"
) -> None:
    """Poll ``predicate`` every 10 ms until truthy; fail after ``timeout`` seconds.

    The default deadlines here (15 s) are for what happens at once on an idle machine: only a
    failure waits that long, and a loaded machine (2 shared cores) never reaches them."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


@dataclass
class SocketRecorder:
    """Everything a plain python-socketio client saw, in order."""

    client: socketio.AsyncClient
    events: list[tuple[str, Any]] = field(default_factory=list)
    connects: int = 0
    disconnects: list[str] = field(default_factory=list)

    def of(self, event: str) -> list[Any]:
        """Payloads received on ``event``."""
        return [data for name, data in self.events if name == event]

    def names(self) -> list[str]:
        """Event names, in order."""
        return [name for name, _ in self.events]

    async def wait_count(self, event: str, n: int, timeout: float = 15.0) -> list[Any]:
        """Wait until at least ``n`` ``event`` payloads arrived; returns them all."""
        await eventually(lambda: len(self.of(event)) >= n, timeout, f"{n} x {event}")
        return self.of(event)

    async def wait_disconnect(self, timeout: float = 15.0) -> str:
        """Wait for the first disconnect; returns its reason."""
        await eventually(lambda: self.disconnects, timeout, "disconnect")
        return self.disconnects[0]


class XtsProbe:
    """Drives a simulator with clients we did not write: aiohttp and python-socketio."""

    def __init__(self, sim: Simulator, http: aiohttp.ClientSession) -> None:
        self.sim = sim
        self.http = http
        self.clients: list[socketio.AsyncClient] = []

    @property
    def user(self) -> SimUser:
        return self.sim.credentials

    async def request(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        """``(status, parsed JSON or text)`` of a REST call under the prefix."""
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = token
        async with self.http.request(
            method, self.sim.base_url + path, headers=headers, **kwargs
        ) as resp:
            text = await resp.text()
            try:
                return resp.status, json.loads(text)
            except ValueError:
                return resp.status, text

    async def login(self, user: SimUser | None = None) -> str:
        """Log in (form-encoded, as the official Python SDK does); returns the token."""
        u = user or self.user
        status, body = await self.request(
            "POST",
            "/auth/login",
            data={"appKey": u.app_key, "secretKey": u.secret_key, "source": "WEBAPI"},
        )
        assert status == 200, body
        return str(body["result"]["token"])

    @staticmethod
    def body(code: int, *instruments: tuple[int, int], **extra: Any) -> dict[str, Any]:
        """A subscription/quotes request body."""
        return {
            "instruments": [
                {"exchangeSegment": s, "exchangeInstrumentID": i} for s, i in instruments
            ],
            "xtsMessageCode": code,
            **extra,
        }

    async def subscribe(
        self, token: str, code: int, *instruments: tuple[int, int]
    ) -> tuple[int, Any]:
        return await self.request(
            "POST", "/instruments/subscription", token, json=self.body(code, *instruments)
        )

    async def unsubscribe(
        self, token: str, code: int, *instruments: tuple[int, int]
    ) -> tuple[int, Any]:
        return await self.request(
            "PUT", "/instruments/subscription", token, json=self.body(code, *instruments)
        )

    def socket_url(self, token: str, mode: str = "Full", user_id: str | None = None) -> str:
        uid = user_id or self.user.user_id
        return (
            f"{self.sim.root_url}/?token={token}&userID={uid}"
            f"&publishFormat=JSON&broadcastMode={mode}"
        )

    async def connect(
        self, token: str, mode: str = "Full", *, user_id: str | None = None, **client_kwargs: Any
    ) -> SocketRecorder:
        """A connected plain ``socketio.AsyncClient`` (websocket only, no reconnection)."""
        client_kwargs.setdefault("reconnection", False)
        client = socketio.AsyncClient(**client_kwargs)
        rec = SocketRecorder(client)

        @client.on("*")
        async def any_event(event: str, data: Any = None) -> None:
            rec.events.append((event, data))

        @client.event
        async def connect() -> None:
            rec.connects += 1

        @client.event
        async def disconnect(reason: str | None = None) -> None:
            rec.disconnects.append(str(reason))

        self.clients.append(client)
        await client.connect(
            self.socket_url(token, mode, user_id),
            transports=["websocket"],
            socketio_path=self.sim.socketio_path,
            wait_timeout=15,
        )
        return rec

    async def close(self) -> None:
        for client in self.clients:
            if client.connected:
                await client.disconnect()
            await client.shutdown()


@pytest.fixture
async def simulator_factory() -> AsyncIterator[Callable[..., Awaitable[Simulator]]]:
    """``await simulator_factory(**config_overrides)``: a started simulator, stopped after."""
    started: list[Simulator] = []

    async def make(**overrides: Any) -> Simulator:
        sim = Simulator(replace(TEST_CONFIG, **overrides))
        await sim.start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        await sim.stop()


@pytest.fixture
async def simulator(simulator_factory: Callable[..., Awaitable[Simulator]]) -> Simulator:
    """A started simulator with :data:`TEST_CONFIG`."""
    return await simulator_factory()


@pytest.fixture
async def xts(simulator: Simulator) -> AsyncIterator[XtsProbe]:
    """Plain-client helpers bound to ``simulator``."""
    async with aiohttp.ClientSession() as http:
        probe = XtsProbe(simulator, http)
        yield probe
        await probe.close()


@pytest.fixture(params=[4, 3], ids=["eio4", "eio3"])
def sim_eio(request: pytest.FixtureRequest) -> int:
    """The Engine.IO dialect of the simulator under an adapter test: every such test runs twice."""
    return int(request.param)


@pytest.fixture
def simulator_thread(sim_eio: int) -> Iterator[SimulatorThread]:
    """A simulator on its own thread (for sync tests and other processes), in each dialect."""
    with SimulatorThread(replace(TEST_CONFIG, eio=sim_eio)) as sim:
        yield sim
