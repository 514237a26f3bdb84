"""``StreamingAdapter(..., standby=URL)`` in one process: two adapters competing for one lock
on a fresh PostgreSQL database, the simulator on a thread, a shared token store. The follower
waits in ``idle``; when the leader stops, it takes over the stored desired set with every
consumer, on the same session, without a login. Plus the configuration's checks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from jainam_fsm.core.machine import State
from jainam_fsm.errors import ConfigError
from jainam_fsm.standby import StandbyConfig, group_of
from jainam_fsm.standby.config import libpq_url
from jainam_fsm.standby.desired import TABLE
from jainam_fsm.streaming import StreamingAdapter
from tests.test_adapter_support import (
    B,
    D,
    Harness,
    RecordingTelemetry,
    TickLog,
    harness,  # noqa: F401  (fixture)
    token_factory,
    wait_for,
)
from tests.test_store_support import fresh_pg_database

PASSWORD = "hunter2-standby-pw"  # trust auth ignores it; it must never be printed


@pytest.fixture
def standby_url() -> Iterator[str]:
    with fresh_pg_database() as url:
        yield url.replace("postgres@", f"postgres:{PASSWORD}@", 1)


def _adapter(
    h: Harness, url: str, tel: RecordingTelemetry, ticks: TickLog | None = None
) -> StreamingAdapter:
    a = StreamingAdapter(
        h.config(),
        ticks,
        token_source=token_factory(h.store, seen=h.tokens),
        telemetry=tel,
        standby=StandbyConfig(url, report_every=0.5),
    )
    h.adapters.append(a)
    return a


def _stored(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        return list(
            conn.execute(
                f"SELECT exchange_segment, instrument_id, code, consumer, wants FROM {TABLE} "
                "ORDER BY 1, 2, 3, 4"
            )
        )


@pytest.mark.postgres
@pytest.mark.parametrize("sim_eio", [4], indirect=True)  # one dialect is enough here
def test_the_follower_takes_over_the_stored_set_with_its_consumers(
    standby_url: str,  # first: the database outlives the adapters (set up first, torn down last)
    harness: Harness,  # noqa: F811  (the fixture)
    caplog: pytest.LogCaptureFixture,
    sim_eio: int,
) -> None:
    caplog.set_level(logging.DEBUG, logger="jainam_fsm")
    h = harness
    tel_a, tel_b = RecordingTelemetry(), RecordingTelemetry()
    ticks_a, ticks_b = TickLog(), TickLog()
    a = _adapter(h, standby_url, tel_a, ticks_a)
    a.subscribe(*B, consumer="x")
    a.subscribe(*B, consumer="x")
    a.subscribe(*B, consumer="y")
    a.subscribe(*D, consumer="x")
    a.connect()
    assert a.wait_ready(15)
    assert a.stats()["standby_role"] == "leader"
    wait_for(ticks_a.has(1, B), 15, "a's ticks")
    wait_for(lambda: len(_stored(standby_url)) == 3, 10, "the desired set stored")
    assert _stored(standby_url) == [
        (1, 2885, 1501, "x", 2),
        (1, 2885, 1501, "y", 1),
        (2, 35001, 1501, "x", 1),
    ]

    b = _adapter(h, standby_url, tel_b, ticks_b)
    b.connect()
    wait_for(lambda: tel_b.count("standby.waiting") >= 2, 10, "b reports waiting")
    assert b.state() is State.IDLE and b.stats()["standby_role"] == "follower"
    waiting = tel_b.of("standby.waiting")[-1]
    assert waiting["group"] == group_of(h.config().base_url, h.config().app_key)[1]
    assert str(waiting["leader"]).startswith("jainam-fsm standby ")
    assert ticks_b.count() == 0

    a.shutdown()  # clean stop: the lock goes after the socket is closed
    assert tel_a.count("standby.fenced") == 0 and tel_a.count("standby.released") == 1
    assert b.wait_ready(20)
    assert b.stats()["standby_role"] == "leader" and b.stats()["standby_takeovers"] == 1
    assert b.registry.consumer_counts() == {
        (1, 2885, 1501): {"x": 2, "y": 1},
        (2, 35001, 1501): {"x": 1},
    }
    wait_for(ticks_b.has(1, D), 15, "b's ticks")
    assert len(h.tokens) == 1  # one login in all: b reused the stored token
    assert h.server_set() == {(1, 2885, 1501), (2, 35001, 1501)}

    b.unsubscribe(*B, consumer="y")
    wait_for(lambda: len(_stored(standby_url)) == 2, 10, "the change stored")

    text = caplog.text + repr(tel_a.events) + repr(tel_b.events) + repr(b) + repr(b.stats())
    assert PASSWORD not in text
    assert h.config().app_key not in repr(tel_b.events)


def test_standby_config_checks_and_never_shows_the_url() -> None:
    url = f"postgresql+psycopg://u:{PASSWORD}@db:5432/x"
    cfg = StandbyConfig(url)
    assert PASSWORD not in repr(cfg)
    assert cfg.server_timeout == cfg.fence_timeout + cfg.server_margin
    assert libpq_url(url) == f"postgresql://u:{PASSWORD}@db:5432/x"
    with pytest.raises(ConfigError) as err:
        StandbyConfig(f"sqlite:///{PASSWORD}.db")
    assert PASSWORD not in str(err.value)
    with pytest.raises(ConfigError, match="half of fence_timeout"):
        StandbyConfig(url, heartbeat=2.0, fence_timeout=3.0)
    with pytest.raises(ConfigError, match="fence_timeout must be a number > 0"):
        StandbyConfig(url, fence_timeout=0)


def test_the_group_depends_on_server_and_app_key_only() -> None:
    k1, g1 = group_of("https://h:1/", "app")
    assert (k1, g1) == group_of("https://h:1", "app")
    assert group_of("https://h:2", "app")[0] != k1
    assert group_of("https://h:1", "other")[0] != k1
    assert -(2**63) <= k1 < 2**63 and len(g1) == 16 and "app" not in g1


@pytest.mark.postgres
@pytest.mark.parametrize("sim_eio", [4], indirect=True)
def test_a_leader_whose_session_the_server_ends_fences_and_the_follower_leads(
    standby_url: str,
    harness: Harness,  # noqa: F811  (the fixture)
    sim_eio: int,
) -> None:
    h = harness
    tel_a, tel_b = RecordingTelemetry(), RecordingTelemetry()
    ticks_a, ticks_b = TickLog(), TickLog()
    a = _adapter(h, standby_url, tel_a, ticks_a)
    b = _adapter(h, standby_url, tel_b, ticks_b)
    a.subscribe(*B, consumer="x")
    a.connect()
    assert a.wait_ready(15)
    b.connect()
    wait_for(lambda: tel_b.count("standby.waiting") >= 1, 10, "b waits")
    # An administrator (or a server-side failure) ends the leader's lock session.
    with psycopg.connect(libpq_url(standby_url), autocommit=True) as admin:
        (n,) = admin.execute(
            "SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()
    assert n == 1
    wait_for(lambda: tel_a.count("standby.fenced") == 1, 10, "a fences")
    assert "database connection lost" in str(tel_a.of("standby.fenced")[0]["reason"])
    wait_for(lambda: a.state() is State.IDLE, 10, "a steps down to idle")
    assert b.wait_ready(20)
    wait_for(ticks_b.has(1, B), 15, "b's ticks")
    assert b.registry.consumer_counts() == {(1, 2885, 1501): {"x": 1}}
    mark = ticks_a.count()
    n_b = ticks_b.count()
    wait_for(lambda: ticks_b.count() > n_b + 5, 15, "b streams on")
    assert ticks_a.count() == mark  # the old leader delivers nothing
    assert a.stats()["standby_fences"] == 1 and a.stats()["standby_role"] == "follower"
    wait_for(lambda: tel_a.count("standby.waiting") >= 1, 10, "a follows again")
