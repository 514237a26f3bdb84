"""The asyncio face of the adapter, for async hosts.

The machine, the I/O and the delivery still run on the adapter's own threads; ticks are handed
to the host's event loop through a bounded queue (drop-oldest, counted) and read with
``async for tick in adapter``; each burst crosses over in one ``call_soon_threadsafe``. The
lifecycle hooks (``on_connect``, ``on_close``, ``on_error``, ``on_reconnect``,
``on_noreconnect``; see :mod:`jainam_fsm.streaming.hooks`) run on the host's event loop, in
order with the ticks put into that queue. Blocking calls (``wait_ready``, ``shutdown``) run in
a worker thread so the host loop never blocks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import Any

from jainam_fsm.core.machine import State
from jainam_fsm.core.ports import Readiness, RefusalHook, TelemetrySink, TokenSource
from jainam_fsm.core.registry import DEFAULT_CONSUMER
from jainam_fsm.streaming.adapter import StreamingAdapter, TokenSourceFactory
from jainam_fsm.streaming.config import AdapterConfig
from jainam_fsm.xts.ticks import Tick


class AsyncStreamingAdapter:
    """``async with AsyncStreamingAdapter(config) as feed: ... async for tick in feed``."""

    def __init__(
        self,
        config: AdapterConfig,
        *,
        token_source: TokenSource | TokenSourceFactory | None = None,
        on_exhausted: Callable[[str], None] | None = None,
        telemetry: TelemetrySink | None = None,
        max_queue: int = 10_000,
        on_refused: RefusalHook | None = None,
        on_connect: Callable[[], None] | None = None,
        on_close: Callable[[str], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_reconnect: Callable[[int, float], None] | None = None,
        on_noreconnect: Callable[[str], None] | None = None,
        instruments: Any = None,
    ) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[Tick] = asyncio.Queue(maxsize=max_queue)
        self.dropped = 0
        self._ended = False
        self._wake = asyncio.Event()
        self.discarded_unsubscribed = 0
        self.adapter = StreamingAdapter(
            config,
            token_source=token_source,
            on_exhausted=on_exhausted,
            telemetry=telemetry,
            on_refused=on_refused,
            on_ticks=self._from_delivery_thread,
            on_connect=self._on_loop(on_connect),
            on_close=self._on_loop(on_close),
            on_error=self._on_loop(on_error),
            on_reconnect=self._on_loop(on_reconnect),
            on_noreconnect=self._on_loop(on_noreconnect),
            instruments=instruments,
        )

    async def connect(self) -> None:
        """Start streaming (or revive from ``exhausted``)."""
        self._loop = asyncio.get_running_loop()
        self.adapter.connect()

    def subscribe(
        self,
        instrument: Any,
        instrument_id: int | None = None,
        code: int | None = None,
        consumer: Hashable = DEFAULT_CONSUMER,
        *,
        mode: Any = None,
    ) -> bool:
        """See :meth:`StreamingAdapter.subscribe` (names, keys, lists, ``mode=``). Never waits
        for the network; the first name may read the store's instrument cache."""
        return self.adapter.subscribe(instrument, instrument_id, code, consumer, mode=mode)

    def unsubscribe(
        self,
        instrument: Any,
        instrument_id: int | None = None,
        code: int | None = None,
        consumer: Hashable = DEFAULT_CONSUMER,
        *,
        mode: Any = None,
    ) -> bool:
        """See :meth:`StreamingAdapter.unsubscribe` (never blocks)."""
        return self.adapter.unsubscribe(instrument, instrument_id, code, consumer, mode=mode)

    def set_mode(self, mode: Any, instruments: Any, consumer: Hashable = DEFAULT_CONSUMER) -> None:
        """See :meth:`StreamingAdapter.set_mode` (never blocks)."""
        self.adapter.set_mode(mode, instruments, consumer)

    def state(self) -> State:
        return self.adapter.state()

    def stats(self) -> dict[str, Any]:
        out = self.adapter.stats()
        out["async_queue_dropped"] = self.dropped
        out["async_queue_discarded_unsubscribed"] = self.discarded_unsubscribed
        return out

    async def wait_ready(self, timeout: float = 10.0) -> Readiness:
        """See :meth:`StreamingAdapter.wait_ready` (truthy when ready; ``.partial``)."""
        return await asyncio.to_thread(self.adapter.wait_ready, timeout)

    async def shutdown(self) -> None:
        """Shut the adapter down; a pending ``async for`` then ends (StopAsyncIteration)."""
        await asyncio.to_thread(self.adapter.shutdown)
        self._ended = True
        self._wake.set()

    async def __aenter__(self) -> AsyncStreamingAdapter:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    def __aiter__(self) -> AsyncStreamingAdapter:
        return self

    async def __anext__(self) -> Tick:
        wants = self.adapter.registry.wants
        while True:
            if self._queue.empty():
                if self._ended:
                    raise StopAsyncIteration
                self._wake.clear()
                getter = asyncio.ensure_future(self._queue.get())
                ender = asyncio.ensure_future(self._wake.wait())
                done, _ = await asyncio.wait({getter, ender}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    ender.cancel()
                    continue
                ender.cancel()
                tick = getter.result()
            else:
                tick = self._queue.get_nowait()
            # Queued before an unsubscribe: no longer wanted, so not handed out (counted).
            if wants(tick.exchange_segment, tick.instrument_id, tick.message_code):
                return tick
            self.discarded_unsubscribed += 1

    def _on_loop(self, hook: Callable[..., None] | None) -> Callable[..., None] | None:
        """A hook moved from the delivery thread to the host loop (behind the ticks already
        handed over); a hook that raises there is logged by the loop, never propagated."""
        if hook is None:
            return None

        def call(*args: Any) -> None:
            loop = self._loop
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(hook, *args)

        return call

    def _from_delivery_thread(self, ticks: list[Tick]) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._put, ticks)

    def _put(self, ticks: list[Tick]) -> None:
        queue = self._queue
        for tick in ticks:
            if queue.full():
                queue.get_nowait()
                self.dropped += 1
            queue.put_nowait(tick)
