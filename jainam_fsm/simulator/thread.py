"""Run the simulator in a background thread with its own event loop, for sync code and tests.

    with SimulatorThread(SimulatorConfig(rate=20)) as sim:
        sim.base_url, sim.credentials
        sim.sever(); sim.stats()

Every method is thread-safe: it runs the matching :class:`Simulator` call on the simulator's
loop and waits for it. Stopping joins the thread; nothing is left listening.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from jainam_fsm.simulator.config import BinaryKnobs, SimulatorConfig, SimUser
from jainam_fsm.simulator.server import Simulator
from jainam_fsm.simulator.sessions import Instrument
from jainam_fsm.xts.ticks import Tick

__all__ = ["SimulatorThread"]

T = TypeVar("T")


class SimulatorThread:
    """A :class:`Simulator` on a private thread and loop, with blocking wrappers."""

    def __init__(
        self, config: SimulatorConfig | None = None, *, call_timeout: float = 30.0
    ) -> None:
        self.config = config or SimulatorConfig()
        self.call_timeout = call_timeout
        self._sim = Simulator(self.config)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> SimulatorThread:
        """Start the thread; returns once the simulator listens. Raises what start raised."""
        if self._thread is not None:
            raise RuntimeError("SimulatorThread already started")
        self._thread = threading.Thread(target=self._run, name="jainam-simulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("simulator did not start in time")
        if self._error is not None:
            self._thread.join(timeout)
            raise self._error
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to start() or kept for stop()
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        await self._sim.start()
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            await self._sim.stop()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the simulator and join the thread. Idempotent."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None and thread.is_alive():
            loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError("simulator thread did not stop in time")
        self._thread = None

    def __enter__(self) -> SimulatorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        loop = self._loop
        if loop is None or self._thread is None:
            raise RuntimeError("SimulatorThread not running")
        return asyncio.run_coroutine_threadsafe(make(), loop).result(self.call_timeout)

    def _sync(self, fn: Callable[[], T]) -> T:
        async def run() -> T:
            return fn()

        return self._call(run)

    # -- addresses ---------------------------------------------------------------------------

    @property
    def simulator(self) -> Simulator:
        """The underlying :class:`Simulator` (only touch it from its own loop)."""
        return self._sim

    @property
    def port(self) -> int:
        """The TCP port."""
        return self._sim.port

    @property
    def root_url(self) -> str:
        """``http://host:port``, for Socket.IO clients."""
        return self._sim.root_url

    @property
    def base_url(self) -> str:
        """``http://host:port<prefix>``, the REST base."""
        return self._sim.base_url

    @property
    def socketio_path(self) -> str:
        """``<prefix>/socket.io``."""
        return self._sim.socketio_path

    @property
    def credentials(self) -> SimUser:
        """The first configured user."""
        return self._sim.credentials

    # -- faults and introspection (blocking, thread-safe) -----------------------------------

    def sever(self) -> int:
        """See :meth:`Simulator.sever`."""
        return self._call(self._sim.sever)

    def disconnect_all(self) -> int:
        """See :meth:`Simulator.disconnect_all`."""
        return self._call(self._sim.disconnect_all)

    def stall(self, seconds: float | None = None) -> None:
        """See :meth:`Simulator.stall`."""
        self._sync(lambda: self._sim.stall(seconds))

    def unstall(self) -> None:
        """See :meth:`Simulator.unstall`."""
        self._sync(self._sim.unstall)

    def go_down(self, seconds: float | None = None) -> None:
        """See :meth:`Simulator.go_down`."""
        self._call(lambda: self._sim.go_down(seconds))

    def come_up(self) -> None:
        """See :meth:`Simulator.come_up`."""
        self._call(self._sim.come_up)

    def reject_logins(self, seconds: float) -> None:
        """See :meth:`Simulator.reject_logins`."""
        self._sync(lambda: self._sim.reject_logins(seconds))

    def reject_credentials(self, on: bool = True) -> None:
        """See :meth:`Simulator.reject_credentials`."""
        self._sync(lambda: self._sim.reject_credentials(on))

    def invalidate_tokens(self, *, disconnect: bool = False) -> int:
        """See :meth:`Simulator.invalidate_tokens`."""
        return self._call(lambda: self._sim.invalidate_tokens(disconnect=disconnect))

    def expire_tokens(self) -> int:
        """See :meth:`Simulator.expire_tokens`."""
        return self._call(self._sim.expire_tokens)

    def set_rest_delay(self, seconds: float) -> None:
        """See :meth:`Simulator.set_rest_delay`."""
        self._sync(lambda: self._sim.set_rest_delay(seconds))

    def send_malformed(self, count: int = 1) -> int:
        """See :meth:`Simulator.send_malformed`."""
        return self._call(lambda: self._sim.send_malformed(count))

    def restart(self) -> None:
        """See :meth:`Simulator.restart`."""
        self._call(self._sim.restart)

    def stats(self) -> dict[str, Any]:
        """See :meth:`Simulator.stats`."""
        return self._sync(self._sim.stats)

    def subscriptions(self, user_id: str | None = None) -> dict[int, set[Instrument]]:
        """See :meth:`Simulator.subscriptions`."""
        return self._sync(lambda: self._sim.subscriptions(user_id))

    def emitted(self, segment: int, instrument: int, code: int) -> list[Tick]:
        """See :meth:`Simulator.emitted` (a copy, taken on the simulator's loop)."""
        return self._sync(lambda: self._sim.emitted(segment, instrument, code))

    def emitted_counts(self) -> dict[tuple[int, int, int], int]:
        """Ticks published per ``(segment, instrument, code)`` (``Simulator.emitted_log``)."""
        return self._sync(self._sim.emitted_log.counts)

    def set_binary_knobs(self, knobs: BinaryKnobs) -> None:
        """See :meth:`Simulator.set_binary_knobs`."""
        self._sync(lambda: self._sim.set_binary_knobs(knobs))
