"""Shared helpers for the StreamingAdapter integration tests (no tests here).

Every adapter test runs the real adapter (its threads, python-socketio, aiohttp) against a
:class:`~jainam_fsm.simulator.SimulatorThread` on 127.0.0.1 with a real SQLite token store.
Waiting is always a poll with a deadline (:func:`wait_for`), never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from jainam_fsm.core.backoff import BackoffPolicy
from jainam_fsm.core.ports import FeedToken, Refusal, TelemetrySink, TokenSource
from jainam_fsm.simulator import SimulatorThread
from jainam_fsm.store import StoredTokenSource, TokenStore
from jainam_fsm.streaming import AdapterConfig, StreamingAdapter
from jainam_fsm.telemetry import LoggingTelemetry
from jainam_fsm.transport.rest import LoginResult
from jainam_fsm.xts.ticks import Tick
from tests.conftest import TEST_CONFIG

PEPPER = "x" * 40
#: Quick retries: 50 ms, 100 ms, 200 ms, 400 ms, 400 ms...
FAST_BACKOFF = BackoffPolicy(initial=0.05, factor=2.0, max_delay=0.4, max_attempts=20)

#: Instruments of the simulator's default universe.
A = (1, 22)
B = (1, 2885)
C = (1, 11536)
D = (2, 35001)


def wait_for(
    predicate: Callable[[], object], timeout: float = 10.0, what: str = "condition"
) -> Any:
    """Poll ``predicate`` every 10 ms until truthy (returned); fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


class RecordingTelemetry:
    """A TelemetrySink that keeps every event and forwards it to stdlib logging too."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[tuple[str, int, dict[str, object]]] = []
        self._forward = LoggingTelemetry()

    def emit(self, event: str, level: int, fields: dict[str, object]) -> None:
        with self._lock:
            self.events.append((event, level, dict(fields)))
        self._forward.emit(event, level, fields)

    def of(self, event: str) -> list[dict[str, object]]:
        with self._lock:
            return [f for e, _, f in self.events if e == event]

    def count(self, event: str) -> int:
        return len(self.of(event))


class TickLog:
    """The ``on_tick`` callback: every delivered tick with its arrival time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.ticks: list[tuple[float, Tick]] = []

    def __call__(self, tick: Tick) -> None:
        with self._lock:
            self.ticks.append((time.monotonic(), tick))

    def count(self, inst: tuple[int, int] | None = None, since: float = 0.0) -> int:
        with self._lock:
            return sum(
                1
                for t, tick in self.ticks
                if t >= since
                and (inst is None or (tick.exchange_segment, tick.instrument_id) == inst)
            )

    def has(self, n: int, inst: tuple[int, int], since: float = 0.0) -> Callable[[], bool]:
        """A predicate for :func:`wait_for`: at least ``n`` ticks of ``inst`` since ``since``."""
        return lambda: self.count(inst, since) >= n

    def instruments(self, since: float = 0.0) -> set[tuple[int, int]]:
        with self._lock:
            return {(k.exchange_segment, k.instrument_id) for t, k in self.ticks if t >= since}


def token_factory(
    store: TokenStore, user: str = "u", seen: list[str] | None = None
) -> Callable[[Any, TelemetrySink], TokenSource]:
    """The adapter's ``token_source=``: a StoredTokenSource on a real SQLite store.

    ``seen`` collects every token value a login returned (for the secret scans).
    """

    def make(login: Callable[[], LoginResult], tel: TelemetrySink) -> TokenSource:
        def spy() -> LoginResult:
            result = login()
            if seen is not None:
                seen.append(result.token.value)
            return result

        return StoredTokenSource(store, user, spy, tel)

    return make


class Harness:
    """One simulator plus adapters built against it; everything is shut down at the end."""

    def __init__(self, sim: SimulatorThread, tmp: Path) -> None:
        self.sim = sim
        self.store = TokenStore(f"sqlite:///{tmp / 't.db'}", pepper=PEPPER)
        self.adapters: list[StreamingAdapter] = []
        #: every token value a login handed out (see :func:`token_factory`)
        self.tokens: list[str] = []

    def config(self, **overrides: Any) -> AdapterConfig:
        user = self.sim.credentials
        values: dict[str, Any] = {
            "base_url": self.sim.base_url,
            "app_key": user.app_key,
            "secret_key": user.secret_key,
            "stall_timeout": 30.0,
            "connect_timeout": 3.0,
            "request_timeout": 3.0,
            "join_timeout": 3.0,
            "backoff": FAST_BACKOFF,
        }
        values.update(overrides)
        return AdapterConfig(**values)

    def adapter(
        self,
        on_tick: Callable[[Tick], None] | None = None,
        *,
        telemetry: TelemetrySink | None = None,
        on_exhausted: Callable[[str], None] | None = None,
        on_refused: Callable[[Refusal], None] | None = None,
        **overrides: Any,
    ) -> StreamingAdapter:
        adapter = StreamingAdapter(
            self.config(**overrides),
            on_tick,
            token_source=token_factory(self.store, seen=self.tokens),
            telemetry=telemetry,
            on_exhausted=on_exhausted,
            on_refused=on_refused,
        )
        self.adapters.append(adapter)
        return adapter

    def close(self) -> None:
        for adapter in self.adapters:
            adapter.shutdown()
        self.store.close()

    def server_set(self) -> set[tuple[int, int, int]]:
        """What the simulator's current session has subscribed, as (seg, id, code) keys."""
        return {(s, i, c) for c, insts in self.sim.subscriptions().items() for s, i in insts}


@pytest.fixture
def harness(request: pytest.FixtureRequest, tmp_path: Path, sim_eio: int) -> Iterator[Harness]:
    """A simulator (:data:`TEST_CONFIG`) and a SQLite store; every adapter shut down after.

    Runs in both Engine.IO dialects (``sim_eio`` from tests/conftest.py). Other simulator
    settings: ``@pytest.mark.parametrize("harness", [{...}], indirect=True)``.
    """
    overrides: dict[str, Any] = {"eio": sim_eio, **getattr(request, "param", {})}
    sim = SimulatorThread(replace(TEST_CONFIG, **overrides)).start()
    h = Harness(sim, tmp_path)
    try:
        yield h
    finally:
        h.close()
        sim.stop()


def jainam_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("jainam-") and t.is_alive()]


def adapter_threads() -> list[str]:
    """Live adapter threads (the simulator's own thread is not one of them)."""
    return [n for n in jainam_threads() if n != "jainam-simulator"]


def keys(*insts: tuple[int, int], code: int = 1501) -> set[tuple[int, int, int]]:
    return {(s, i, code) for s, i in insts}


class SocketSampler:
    """Samples the simulator's live socket count in the background; keeps the maximum."""

    def __init__(self, sim: SimulatorThread, interval: float = 0.01) -> None:
        self.sim = sim
        self.interval = interval
        self.max_sockets = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            n = self.sim.stats()["connected_sockets"]
            self.max_sockets = max(self.max_sockets, n)
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> SocketSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


class FreezingProxy:
    """A TCP proxy on 127.0.0.1 that can turn its current connections into black holes.

    After :meth:`freeze`, bytes on the connections open at that moment are read and dropped
    in both directions while the TCP connections stay open: a half-dead link where neither
    data nor Engine.IO pings get through (only a heartbeat timeout can notice). Connections
    opened later are forwarded normally.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._frozen: set[int] = set()
        self._live: dict[int, list[asyncio.StreamWriter]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-proxy", daemon=True)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._server = loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        loop.run_forever()
        loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._ids += 1
        cid = self._ids
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._live[cid] = [writer, up_writer]
        pipes = [
            asyncio.ensure_future(self._pipe(cid, reader, up_writer)),
            asyncio.ensure_future(self._pipe(cid, up_reader, writer)),
        ]
        for task in pipes:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for task in pipes:
            task.cancel()
        for w in self._live.pop(cid, []):
            w.close()

    async def _pipe(self, cid: int, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                if cid in self._frozen:
                    continue  # the black hole
                dst.write(data)
                await dst.drain()
        except (OSError, asyncio.IncompleteReadError):
            return

    def start(self) -> FreezingProxy:
        self._thread.start()
        self._ready.wait(5)
        return self

    def freeze(self) -> int:
        """Black-hole every connection open now; returns how many."""

        async def run() -> int:
            self._frozen.update(self._live)
            return len(self._live)

        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(5)

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return

        async def close() -> None:
            assert self._server is not None
            self._server.close()
            for writers in self._live.values():
                for w in writers:
                    w.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(5)


def current_token(adapter: StreamingAdapter) -> FeedToken | None:
    """The token the adapter's machine holds (tests only; never log it)."""
    lc = adapter._lifecycle
    return None if lc is None else lc._token
