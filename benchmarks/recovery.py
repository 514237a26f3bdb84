"""Recovery: from the server being reachable again to the first tick of every instrument.

One simulator process (``python -m jainam_fsm.simulator``); the adapter runs in this process
with a recording telemetry sink and a throwaway SQLite token store. For each case the adapter
subscribes ``n`` instruments, connects, sees a tick of each, then the server fails:

``down``     ``POST /_sim/down {"seconds": S}``: the listener closes, every connection is cut,
             the session (token and its subscriptions) survives -- what a network cut or a
             proxy restart looks like. The adapter reuses its token; nothing to replay.
``restart``  ``POST /_sim/restart`` then ``POST /_sim/down``: the server forgets every session
             too (a server restart). The stored token is refused at the socket, the adapter
             logs in again and replays every subscription: batched (``batch=50``, the default)
             or one request per instrument (``batch=1``, what existing adapters do).

``t_up`` is when a TCP connect to the port first succeeds again (probed every 2 ms). The time
to the first tick of every instrument is split with the adapter's own telemetry records:
``wait`` (backoff until the next attempt), ``token`` (get_token: store read, login),
``connect`` (socket connect up to ``joined``), ``replay`` (subscribe requests; the replay
record's ``duration_ms``), ``stream`` (after replay until every instrument has ticked).
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import SimProcess, instruments, port_open
from benchmarks.consumer import adapter_token_source
from jainam_fsm.core.backoff import BackoffPolicy
from jainam_fsm.core.machine import State
from jainam_fsm.streaming import AdapterConfig, StreamingAdapter
from jainam_fsm.xts.ticks import Tick

#: Attempts every 50 ms, so the wait after the server is back is at most one period.
FAST_RETRY = BackoffPolicy(initial=0.05, factor=1.0, max_delay=0.05, max_attempts=10_000)
TOKEN_EVENTS = ("token.reused", "token.login", "token.refreshed", "token.waited")


class RecordingSink:
    """A TelemetrySink that keeps ``(monotonic, event, fields)`` of every record."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str, dict[str, object]]] = []

    def emit(self, event: str, level: int, fields: dict[str, object]) -> None:
        self.events.append((time.monotonic(), event, dict(fields)))

    def since(self, t: float) -> list[tuple[float, str, dict[str, object]]]:
        return [e for e in list(self.events) if e[0] >= t]


class FirstTicks:
    """The tick callback: when each instrument first ticked after :meth:`arm`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.mark = float("inf")
        self.first: dict[tuple[int, int], float] = {}

    def arm(self) -> None:
        with self._lock:
            self.first = {}
            self.mark = time.monotonic()

    def __call__(self, tick: Tick) -> None:
        t = time.monotonic()
        if t >= self.mark:
            key = (tick.exchange_segment, tick.instrument_id)
            if key not in self.first:
                with self._lock:
                    self.first.setdefault(key, t)

    def count(self) -> int:
        return len(self.first)


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.002)


@dataclass
class Case:
    n: int
    scenario: str  # "down" or "restart"
    batch: int


def phases(events: list[tuple[float, str, dict[str, object]]]) -> dict[str, Any]:
    """Split the successful attempt into token / connect / replay times."""
    # ``events`` start once the cut was seen: the first ready is the recovery (it may precede
    # ``t_up`` by the probe's polling period, if the adapter's connect won the race).
    ready = next((i for i, (_, e, _) in enumerate(events) if e == "connection.ready"), None)
    if ready is None:
        names = [(round(t, 3), e, f.get("dest") or f.get("reason")) for t, e, f in events]
        raise RuntimeError(f"no connection.ready after the cut: {names}")
    start = 0
    for i in range(ready, -1, -1):
        _, e, f = events[i]
        if (
            e == "lifecycle.transition"
            and f.get("dest") == "authenticating"
            and f.get("source") == "backing_off"
        ):
            start = i
            break
    token = connect = 0.0
    t_auth = t_tok = None
    t_connected = None
    logins = 0
    for t, e, f in events[start : ready + 1]:
        if e == "lifecycle.transition":
            if t_tok is not None:
                connect += t - t_tok
                t_tok = None
            if f.get("dest") == "authenticating":
                t_auth = t
            elif f.get("dest") == "connected":
                t_connected = t
        elif e in TOKEN_EVENTS and t_auth is not None:
            token += t - t_auth
            t_tok, t_auth = t, None
            logins += e in ("token.login", "token.refreshed")
    replay = next((f for t, e, f in events[ready:] if e == "replay" and t >= events[ready][0]), {})
    t_ready = events[ready][0]
    assert t_connected is not None
    return {
        "t_attempt": events[start][0],
        "t_ready": t_ready,
        "token_s": token,
        "connect_s": connect,
        "replay_s": t_ready - t_connected,
        "replay_duration_ms": replay.get("duration_ms"),
        "replay_requests": replay.get("requests"),
        "logins": logins,
    }


def _fail_and_recover(
    adapter: StreamingAdapter,
    sim: SimProcess,
    case: Case,
    ticks: FirstTicks,
    sink: RecordingSink,
    down_s: float,
) -> tuple[float, float, dict[str, Any]] | None:
    """One fault and recovery: ``(t_up, t_all, phases)``, or None if the adapter raced it."""
    info = sim.info
    assert info is not None
    connects = adapter.stats()["socket_connects"]
    if case.scenario == "restart":
        sim.control("restart")
    sim.control("down", seconds=down_s)
    # The listener is closed and every connection cut now. Once the adapter has noticed and
    # its queue is empty, every tick comes over a new connection.
    wait_for(
        lambda: adapter.state() is not State.CONNECTED and adapter.stats()["queue_depth"] == 0,
        10,
        "the adapter to see the cut",
    )
    ticks.arm()
    raced = adapter.stats()["socket_connects"] > connects
    wait_for(lambda: port_open(info.port), down_s + 10, "the server to come back")
    t_up = time.monotonic()
    wait_for(lambda: ticks.count() >= case.n, 120, "a first tick of every instrument")
    # Snapshots of the last subscribe can tick every instrument before the replay record.
    wait_for(
        lambda: any(e == "connection.ready" for _, e, _ in sink.since(ticks.mark)),
        30,
        "connection.ready",
    )
    if raced:
        return None
    return t_up, max(ticks.first.values()), phases(sink.since(ticks.mark))


def run_case(sim: SimProcess, case: Case, down_s: float) -> dict[str, Any]:
    info = sim.info
    assert info is not None
    ticks = FirstTicks()
    sink = RecordingSink()
    config = AdapterConfig(
        base_url=info.base_url,
        app_key=info.app_key,
        secret_key=info.secret_key,
        user="bench",
        batch=case.batch,
        backoff=FAST_RETRY,
        request_timeout=30.0,
    )
    ids = instruments(case.n, first=20_000)
    with tempfile.TemporaryDirectory(prefix="jainam-bench-") as tmp:
        adapter = StreamingAdapter(
            config, ticks, token_source=adapter_token_source(Path(tmp)), telemetry=sink
        )
        try:
            for seg, iid in ids:
                adapter.subscribe(seg, iid)
            ticks.arm()
            adapter.connect()
            if not adapter.wait_ready(120):
                raise RuntimeError(f"adapter not ready: {adapter.stats()}")
            wait_for(lambda: ticks.count() >= case.n, 30, "a first tick of every instrument")
            for _ in range(3):
                # None: the adapter got back in between restart and down, so the session it
                # made survived the down -- not a session-lost recovery. Do it again.
                result = _fail_and_recover(adapter, sim, case, ticks, sink, down_s)
                if result is not None:
                    break
            else:
                raise RuntimeError(f"{case}: the adapter raced the fault 3 times")
        finally:
            adapter.shutdown()
    t_up, t_all, split = result
    t_attempt, t_ready = split.pop("t_attempt"), split.pop("t_ready")
    return {
        "n": case.n,
        "scenario": case.scenario,
        "batch": case.batch,
        "total_s": t_all - t_up,
        "wait_s": t_attempt - t_up,
        **split,
        "stream_s": t_all - t_ready,
    }


CASES = [
    Case(n, scenario, batch)
    for n in (50, 500, 2000)
    for scenario, batch in (("down", 50), ("restart", 50), ("restart", 1))
]


def run(
    cases: list[Case] | None = None, down_s: float = 1.0, rate: float = 1.0
) -> list[dict[str, Any]]:
    """Every case against one simulator (``--rate`` ticks/s per instrument)."""
    cases = CASES if cases is None else cases
    # Each cut makes python-engineio warn "Server sent close packet ..., aborting" on stderr.
    logging.getLogger("jainam_fsm.transport.engineio").setLevel(logging.ERROR)
    limit = max(c.n for c in cases)
    results = []
    with SimProcess.cli(rate=rate, limit=limit) as sim:
        for case in cases:
            results.append(run_case(sim, case, down_s))
    return results


if __name__ == "__main__":
    import json

    for row in run():
        print(json.dumps(row))
