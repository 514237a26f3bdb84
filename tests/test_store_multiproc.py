"""Single-flight login across processes, against the XTS simulator, on SQLite and PostgreSQL.

Logins are counted by the simulator itself (``GET /_sim/stats``), never by our code.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import queue
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jainam_fsm.core.ports import RequestOutcome
from jainam_fsm.simulator import SimulatorThread
from jainam_fsm.store import StoredTokenSource, TokenStore
from jainam_fsm.store.source import EV_LOGIN, EV_REFRESHED, EV_REUSED, EV_WAITED
from jainam_fsm.transport.rest import LoginResult
from tests.test_store_support import PEPPER, RecordingSink, fresh_pg_database
from tests.test_store_worker import BARRIER_TIMEOUT, rest_login, subscribe, worker

N_WORKERS = 8


def worker_context() -> mp.context.ForkServerContext:
    """Workers fork from a clean server process that already imported the worker module:
    a clean interpreter (no inherited threads, unlike fork) at fork speed (unlike spawn)."""
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["__main__", "tests.test_store_worker"])
    return ctx


def sim_stats(sim: SimulatorThread) -> dict[str, Any]:
    """The simulator's counters, over its HTTP control API."""
    with urllib.request.urlopen(f"{sim.root_url}/_sim/stats", timeout=10) as resp:
        data: dict[str, Any] = json.load(resp)
    return data


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A brand-new database: not even the schema exists yet."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared-tokens.db'}"
    else:
        with fresh_pg_database() as url:
            yield url


def barrier_wait(barrier: Any, results: mp.Queue[tuple[Any, ...]]) -> None:
    """Wait at the barrier; if a worker broke it, fail with the workers' own errors."""
    import threading

    try:
        barrier.wait(BARRIER_TIMEOUT)
    except threading.BrokenBarrierError:
        errors = []
        while True:
            try:
                errors.append(results.get(timeout=1))
            except queue.Empty:
                break
        raise AssertionError(f"a worker broke the barrier: {errors}") from None


def collect(results: mp.Queue[tuple[Any, ...]], kind: str, n: int) -> list[tuple[Any, ...]]:
    got: list[tuple[Any, ...]] = []
    while len(got) < n:
        try:
            item = results.get(timeout=BARRIER_TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"timed out waiting for {kind!r} results: {got}") from None
        assert item[0] != "error", item
        assert item[0] == kind, item
        got.append(item)
    return got


@pytest.mark.slow
def test_eight_processes_log_in_once_and_relogin_once(
    empty_db: str, simulator_thread: SimulatorThread
) -> None:
    sim = simulator_thread
    creds = sim.credentials
    ctx = worker_context()
    barrier = ctx.Barrier(N_WORKERS + 1)
    results: mp.Queue[tuple[Any, ...]] = ctx.Queue()
    procs = [
        ctx.Process(
            target=worker,
            name=f"token-worker-{i}",
            args=(
                i,
                empty_db,
                PEPPER,
                sim.root_url,
                creds.app_key,
                creds.secret_key,
                barrier,
                results,
            ),
        )
        for i in range(N_WORKERS)
    ]
    before = sim_stats(sim)
    for p in procs:
        p.start()
    try:
        barrier_wait(barrier, results)
        first = collect(results, "token", N_WORKERS)
        stats = sim_stats(sim)
        assert stats["logins"] - before["logins"] == 1
        assert len({fp for _, _, fp, _ in first}) == 1  # all share one token
        events = Counter(name for *_, names in first for name in names)
        assert events[EV_LOGIN] == 1
        assert events[EV_WAITED] + events[EV_REUSED] == N_WORKERS - 1

        assert sim.invalidate_tokens() == 1
        barrier_wait(barrier, results)  # workers now subscribe with the dead token
        barrier_wait(barrier, results)  # ... and all of them were rejected
        resumed = collect(results, "resumed", N_WORKERS)
        stats = sim_stats(sim)
        assert stats["logins"] - before["logins"] == 2  # exactly one new login
        assert stats["invalid_token_requests"] - before["invalid_token_requests"] >= N_WORKERS
        assert len({fp for _, _, fp, _, _ in resumed}) == 1
        assert resumed[0][2] != first[0][2]
        outcomes = Counter(outcome for _, _, _, outcome, _ in resumed)
        assert outcomes == {
            RequestOutcome.DONE.value: 1,
            RequestOutcome.ALREADY.value: N_WORKERS - 1,
        }
        events = Counter(name for *_, names in resumed for name in names)
        assert events[EV_REFRESHED] == 1 and events[EV_WAITED] == N_WORKERS - 1
    finally:
        for p in procs:
            p.join(BARRIER_TIMEOUT)
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(5)
    assert [p.exitcode for p in procs] == [0] * N_WORKERS
    assert results.empty()


def test_reuse_makes_zero_logins(empty_db: str, simulator_thread: SimulatorThread) -> None:
    sim = simulator_thread
    creds = sim.credentials
    logins = sim_stats(sim)["logins"]

    def login() -> LoginResult:
        return rest_login(sim.root_url, creds.app_key, creds.secret_key)

    with TokenStore(empty_db, pepper=PEPPER) as store:
        first = StoredTokenSource(store, "desk-2", login).get_token()
    assert sim_stats(sim)["logins"] == logins + 1
    assert first.expires_at is not None  # from the JWT exp claim
    # "Restarts": new stores and sources, as a new process would build them.
    for _ in range(3):
        sink = RecordingSink()
        with TokenStore(empty_db, pepper=PEPPER) as store:
            tok = StoredTokenSource(store, "desk-2", login, sink).get_token()
        assert tok == first and sink.names() == [EV_REUSED]
        assert subscribe(sim.root_url, tok) in (RequestOutcome.DONE, RequestOutcome.ALREADY)
    assert sim_stats(sim)["logins"] == logins + 1
