"""Publishing follows the leader: two OpenAlgo-style integrations with ``standby=`` on one
PostgreSQL database publish to one ZeroMQ SUB; only the leader's PUB sends, and when it
disconnects the other takes over the feed (same topics, no login)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jainam_fsm.integrations import JainamPropWebSocketAdapter
from jainam_fsm.simulator import SimulatorThread
from jainam_fsm.standby import StandbyConfig
from tests.test_integrations_stream import Proxy, now_ms, proxy, sim_env, wait_for  # noqa: F401
from tests.test_store_support import fresh_pg_database

TOPIC = "NSE_RELIANCE_LTP"


@pytest.fixture
def standby_url() -> Iterator[str]:
    with fresh_pg_database() as url:
        yield url


@pytest.mark.postgres
@pytest.mark.parametrize("sim_eio", [4], indirect=True)
def test_only_the_leader_publishes_and_the_follower_takes_over(
    standby_url: str,
    simulator_thread: SimulatorThread,
    proxy: Proxy,  # noqa: F811  (the fixture)
    tmp_path: Path,
    sim_eio: int,
) -> None:
    env = sim_env(simulator_thread, tmp_path)
    made: list[JainamPropWebSocketAdapter] = []
    try:
        for _ in range(2):
            ad = JainamPropWebSocketAdapter(
                zmq_address=proxy.address,
                environ=env,
                standby=StandbyConfig(standby_url, report_every=0.5),
            )
            assert ad.initialize("jainam_prop", "alice") is None
            assert ad.subscribe("RELIANCE", "NSE", 1)["status"] == "success"
            made.append(ad)
        a, b = made
        assert a.connect() is None
        assert a.wait_ready(15)
        proxy.wait_topics({TOPIC})
        assert b.connect() is None
        stream_b = b.stream
        assert stream_b is not None
        wait_for(lambda: stream_b.stats()["standby_role"] == "follower", 10, "b follows")
        wait_for(lambda: a.publisher is not None and a.publisher.sent > 20, 15, "a publishes")
        pub_b = b.publisher
        assert pub_b is not None and pub_b.sent == 0

        logins = simulator_thread.stats()["logins"]
        assert a.disconnect() is None  # the leader goes: b takes the feed over
        t = now_ms()
        assert b.wait_ready(20)
        proxy.wait_topics({TOPIC}, after_ms=t)
        wait_for(lambda: pub_b.sent > 0, 10, "b publishes")
        assert simulator_thread.stats()["logins"] == logins
        assert stream_b.stats()["standby_role"] == "leader"
    finally:
        for ad in made:
            ad.disconnect()
