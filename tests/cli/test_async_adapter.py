"""The asyncio API against the simulator."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from jainam_fsm.core.backoff import BackoffPolicy
from jainam_fsm.simulator import SimulatorThread
from jainam_fsm.store import StoredTokenSource, TokenStore
from jainam_fsm.streaming import AdapterConfig, AsyncStreamingAdapter
from tests.conftest import TEST_CONFIG


async def test_async_adapter_streams_and_recovers(tmp_path: Path, sim_eio: int) -> None:
    with SimulatorThread(replace(TEST_CONFIG, eio=sim_eio)) as sim:
        creds = sim.credentials
        config = AdapterConfig(
            base_url=sim.base_url,
            app_key=creds.app_key,
            secret_key=creds.secret_key,
            backoff=BackoffPolicy(initial=0.05, max_delay=0.2),
        )
        store = TokenStore(f"sqlite:///{tmp_path}/t.db", pepper="p" * 40)
        feed = AsyncStreamingAdapter(
            config, token_source=lambda login, tel: StoredTokenSource(store, "u", login, tel)
        )
        async with feed:
            feed.subscribe(1, 2885, 1512)
            assert await feed.wait_ready(10)
            first = await asyncio.wait_for(feed.__anext__(), 10)
            assert (first.exchange_segment, first.instrument_id, first.message_code) == (
                1,
                2885,
                1512,
            )
            connects = sim.stats()["socket_connects"]
            await asyncio.to_thread(sim.sever)
            seen = 0
            async with asyncio.timeout(15):
                while sim.stats()["socket_connects"] <= connects or seen < 5:
                    await feed.__anext__()
                    seen += 1
        assert feed.state().value == "shut_down"
        store.close()


async def test_async_for_ends_after_shutdown(tmp_path: Path, sim_eio: int) -> None:
    with SimulatorThread(replace(TEST_CONFIG, eio=sim_eio)) as sim:
        creds = sim.credentials
        config = AdapterConfig(
            base_url=sim.base_url, app_key=creds.app_key, secret_key=creds.secret_key
        )
        store = TokenStore(f"sqlite:///{tmp_path}/t.db", pepper="p" * 40)
        feed = AsyncStreamingAdapter(
            config, token_source=lambda login, tel: StoredTokenSource(store, "u", login, tel)
        )
        await feed.connect()
        feed.subscribe(1, 22, 1512)
        assert await feed.wait_ready(10)
        received = []

        async def consume() -> None:
            async for tick in feed:
                received.append(tick)

        task = asyncio.create_task(consume())
        async with asyncio.timeout(10):
            while not received:
                await asyncio.sleep(0.01)
        await feed.shutdown()
        async with asyncio.timeout(5):
            await task  # the loop ends instead of waiting forever
        store.close()


async def test_async_hooks_run_on_the_host_loop_in_order(tmp_path: Path, sim_eio: int) -> None:
    with SimulatorThread(replace(TEST_CONFIG, eio=sim_eio)) as sim:
        creds = sim.credentials
        config = AdapterConfig(
            base_url=sim.base_url,
            app_key=creds.app_key,
            secret_key=creds.secret_key,
            backoff=BackoffPolicy(initial=0.05, max_delay=0.2),
        )
        store = TokenStore(f"sqlite:///{tmp_path}/t.db", pepper="p" * 40)
        loop = asyncio.get_running_loop()
        calls: list[str] = []
        on_host_loop: list[bool] = []

        def record(name: str) -> None:
            calls.append(name)
            on_host_loop.append(asyncio.get_running_loop() is loop)

        feed = AsyncStreamingAdapter(
            config,
            token_source=lambda login, tel: StoredTokenSource(store, "u", login, tel),
            on_connect=lambda: record("connect"),
            on_close=lambda reason: record("close"),
            on_error=lambda error: record("error"),
            on_reconnect=lambda attempt, delay: record("reconnect"),
        )
        async with feed:
            feed.subscribe(1, 2885, 1512)
            assert await feed.wait_ready(10)
            await asyncio.wait_for(feed.__anext__(), 10)
            await asyncio.to_thread(sim.sever)
            async with asyncio.timeout(15):
                while calls.count("connect") < 2:
                    await asyncio.sleep(0.02)
        async with asyncio.timeout(5):
            while calls.count("close") < 2:
                await asyncio.sleep(0.02)
        # a retry that fails under load adds error/reconnect pairs in the middle, nothing else
        assert calls[:4] == ["connect", "close", "error", "reconnect"]
        assert calls[-2:] == ["connect", "close"]
        assert set(calls[4:-2]) <= {"error", "reconnect"}
        assert all(on_host_loop)
        store.close()
