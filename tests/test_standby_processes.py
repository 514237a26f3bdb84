"""Hot standby with real processes: two ``jainam-fsm stream --standby`` on one PostgreSQL
database and one simulator. The leader dies (``kill -9``), freezes (``SIGSTOP``), loses its
database link without a word (a proxy cut) or the database restarts (opt-in:
``JAINAM_TEST_PG_RESTART=1``, it disturbs everyone using the server). Each time the follower
takes over with no login and the same subscriptions, and the old leader writes nothing after
the new one started. Takeover times are printed (``-s``), never asserted: the benchmark
(``python -m benchmarks.standby``) measures them."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from benchmarks.standby_cluster import (
    EXPECTED,
    Cluster,
    Streamer,
    cluster,
    wait_first_line,
    wait_for,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _start_pair(c: Cluster, *, leader_port: int | None = None) -> tuple[Streamer, Streamer]:
    a = c.spawn("a") if leader_port is None else c.spawn("a", standby_port=leader_port)
    assert c.leader() is a
    b = c.spawn("b")
    wait_for(lambda: bool(b.events("standby.waiting")), 30, "b waits")
    assert b.lines() == 0 and b.events("standby.waiting")[0]["leader"]
    wait_for(lambda: c.server_subscriptions() == [EXPECTED], 30, "a subscribed")
    return a, b


def _after_takeover(c: Cluster, b: Streamer, logins: int) -> None:
    assert c.leader() is b
    wait_for(lambda: c.server_subscriptions() == [EXPECTED], 30, "b's subscriptions")
    assert c.logins() == logins  # the stored token, the same session: no login
    assert c.stats()["logins"] == 1


def test_kill_9_of_the_leader(tmp_path: Path) -> None:
    with cluster(tmp_path) as c:
        a, b = _start_pair(c)
        logins = c.logins()
        os.kill(a.proc.pid, signal.SIGKILL)
        t0 = time.monotonic()
        t1 = wait_first_line(b, 30)
        print(f"kill -9: takeover {t1 - t0:.3f} s")
        _after_takeover(c, b, logins)
        (leading,) = b.events("standby.leading")
        assert leading["subscriptions"] == 3  # the stored desired set, one row per consumer


def test_a_follower_that_never_led_exits_0_after_its_duration(tmp_path: Path) -> None:
    with cluster(tmp_path) as c:
        a = c.spawn("a")
        assert c.leader() is a
        f = c.spawn("f", extra=("--duration", "2"))
        assert f.proc.wait(60) == 0
        assert f.events("standby.waiting") and f.lines() == 0
        assert c.leader() is a


def test_sigstop_of_the_leader_then_sigcont_publishes_nothing(tmp_path: Path) -> None:
    with cluster(tmp_path) as c:
        a, b = _start_pair(c)
        logins = c.logins()
        os.kill(a.proc.pid, signal.SIGSTOP)
        t0 = time.monotonic()
        try:
            frozen_lines = a.lines()
            t1 = wait_first_line(b, 30)
            print(f"SIGSTOP: takeover {t1 - t0:.3f} s")
        finally:
            os.kill(a.proc.pid, signal.SIGCONT)
        wait_for(lambda: bool(a.events("standby.fenced")), 30, "a fences itself")
        wait_for(lambda: a.events("standby.waiting"), 30, "a follows again")
        n = b.lines()
        wait_for(lambda: b.lines() > n + 20, 30, "b keeps streaming")
        # Resumed, the old leader wrote not one tick: its lease had run out while frozen.
        assert a.lines() == frozen_lines
        _after_takeover(c, b, logins)
        steps = [e for e in a.events("lifecycle.transition") if e["trigger"] == "step_down"]
        assert steps and steps[-1]["dest"] == "idle"


def test_silent_cut_of_the_leaders_database_link(tmp_path: Path) -> None:
    with cluster(tmp_path) as c:
        proxy = c.proxy()
        a, b = _start_pair(c, leader_port=proxy.port)
        logins = c.logins()
        proxy.cut()
        t0 = time.monotonic()
        wait_for(lambda: bool(a.events("standby.fenced")), 30, "a fences itself")
        fenced_lines = a.lines()
        t1 = wait_first_line(b, 30)
        print(f"cut: takeover {t1 - t0:.3f} s")
        n = b.lines()
        wait_for(lambda: b.lines() > n + 20, 30, "b keeps streaming")
        assert a.lines() == fenced_lines  # nothing after fencing
        assert a.alive()  # still running: a follower that cannot reach the database
        _after_takeover(c, b, logins)
        proxy.heal()
        wait_for(lambda: a.events("standby.waiting"), 30, "a follows again")
        assert c.leader() is b


@pytest.mark.skipif(
    os.environ.get("JAINAM_TEST_PG_RESTART") != "1",
    reason="restarts the shared PostgreSQL server: JAINAM_TEST_PG_RESTART=1 to run",
)
def test_postgresql_restart(tmp_path: Path) -> None:
    with cluster(tmp_path) as c:
        a, b = _start_pair(c)
        logins = c.logins()
        version = os.listdir("/etc/postgresql")[0]
        t0 = time.monotonic()
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
            check=True,
            timeout=120,
        )
        wait_for(lambda: bool(a.events("standby.fenced")), 60, "a fenced on the lost link")
        marks = {s.name: s.lines() for s in (a, b)}
        leader = c.leader(timeout=60)
        wait_for(lambda: leader.lines() > marks[leader.name], 60, "ticks again")
        print(f"PostgreSQL restart: ticks again after {time.monotonic() - t0:.3f} s")
        other = b if leader is a else a
        mark = other.lines()
        n = leader.lines()
        wait_for(lambda: leader.lines() > n + 20, 30, "the leader keeps streaming")
        assert other.lines() == mark
        assert c.logins() == logins
        wait_for(lambda: c.server_subscriptions() == [EXPECTED], 30, "subscriptions")
