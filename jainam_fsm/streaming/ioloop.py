"""An asyncio event loop on a thread of its own: where all socket and HTTP I/O happens."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from jainam_fsm.core.causes import Cause
from jainam_fsm.errors import TransportFailure

T = TypeVar("T")


class IoThread:
    """Runs one event loop in a daemon thread; other threads submit coroutines to it."""

    def __init__(self, name: str = "jainam-io") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._lock = threading.Lock()
        self._closing = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the I/O thread is not running")
        return self._loop

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            ready.set()
            try:
                loop.run_forever()
            finally:
                try:
                    loop.run_until_complete(loop.shutdown_asyncgens())
                finally:
                    loop.close()

        self._thread = threading.Thread(target=run, name=self._name, daemon=True)
        self._thread.start()
        ready.wait()

    def run(
        self,
        coro: Coroutine[Any, Any, T],
        timeout: float | None = None,
        *,
        while_closing: bool = False,
    ) -> T:
        """Run ``coro`` on the loop and wait for it. Raises TransportFailure on timeout/abort.

        After :meth:`abort_all` only calls marked ``while_closing`` (the teardown) still run.
        """
        if self._closing and not while_closing:
            coro.close()
            raise TransportFailure("aborted: shutting down")
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        with self._lock:
            self._pending.add(fut)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            if fut.cancel():
                raise TransportFailure("timed out", cause=Cause.TIMEOUT) from None
            return fut.result()  # it finished just now: do not orphan its result
        except concurrent.futures.CancelledError:
            raise TransportFailure("aborted") from None
        finally:
            with self._lock:
                self._pending.discard(fut)

    def abort_all(self) -> None:
        """Cancel every coroutine a caller is waiting for, and refuse new ones (shutdown)."""
        with self._lock:
            self._closing = True
            pending = list(self._pending)
        for fut in pending:
            fut.cancel()

    def call_soon(self, fn: Callable[..., object], *args: Any) -> None:
        self.loop.call_soon_threadsafe(fn, *args)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop and join the thread. Idempotent."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if thread is threading.current_thread():
            raise RuntimeError("IoThread.stop() called from the I/O thread itself")
        if thread.is_alive():

            async def drain() -> None:
                tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

            # Best effort: the loop is stopping anyway.
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(drain(), loop).result(timeout)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
        self._thread = None
        self._loop = None
