"""``jainam-fsm soak``: every simulator fault, on a seeded schedule, while threads churn.

The built-in simulator and a throwaway token store; one adapter at a time ("a process"), which
the schedule replaces now and then by a new one on the same store (a restart reuses the stored
token, so it joins the same XTS session). Several churn threads subscribe and unsubscribe for
several consumers throughout. After every recovery the soak checks (see docs/reliability.md):
server set == desired set, readiness complete, logins bounded (one per token-killing fault, none
otherwise), exactly one adapter's threads alive, file descriptors flat; continuously: no tick for
an unwanted instrument, per-instrument order never backwards, only declared machine edges.
Prints a table, writes JSON, exits 1 on any violation with the command that reproduces it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jainam_fsm.commands.args import bounded_float, bounded_int, nonempty_text
from jainam_fsm.commands.soak_checks import Audit
from jainam_fsm.commands.soak_faults import BINARY_FAULTS, FAULTS, STALL_TIMEOUT, Fault, inject
from jainam_fsm.commands.soak_report import Record, build_report, render
from jainam_fsm.core.backoff import BackoffPolicy
from jainam_fsm.core.machine import State
from jainam_fsm.core.registry import SubKey
from jainam_fsm.simulator import SimulatorConfig, SimulatorThread
from jainam_fsm.store import StoredTokenSource, TokenStore
from jainam_fsm.streaming import AdapterConfig, StreamingAdapter
from jainam_fsm.streaming.flavour import LTP_CODE, TOUCHLINE_CODE

log = logging.getLogger("jainam_fsm.soak")

CODES = (1501, 1512)
#: Longest a recovery may take before it counts as a violation.
RECOVERY_TIMEOUT = 30.0
#: File descriptors the process may hold above the first check's count (connections being
#: opened and closed at the moment of a check); a leak grows without bound.
FD_TOLERANCE = 24


def add_subcommand(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "soak",
        help="run every simulator fault on a seeded schedule and check every recovery",
        description="Drives the adapter against the built-in simulator through every fault "
        "and process restarts while threads churn subscriptions; exit 1 on any violation.",
    )
    p.add_argument(
        "--seed", type=bounded_int(-(2**63), 2**63 - 1), default=1, help="schedule seed (default 1)"
    )
    p.add_argument(
        "--minutes",
        type=bounded_float(0.0, 24 * 60.0),
        default=1.0,
        help="duration (default 1, at most 1440)",
    )
    p.add_argument("--api", choices=("json", "binary"), default="json", help="XTS API flavour")
    p.add_argument("--eio", type=int, choices=(3, 4), default=4, help="Engine.IO protocol")
    p.add_argument("--consumers", type=bounded_int(1, 32), default=3, help="consumers (default 3)")
    p.add_argument(
        "--threads", type=bounded_int(1, 32), default=3, help="churn threads (default 3)"
    )
    p.add_argument(
        "--json",
        dest="out",
        type=nonempty_text("--json", max_len=4096),
        default=None,
        help="report path (soak-<seed>.json)",
    )
    p.set_defaults(func=run)


@dataclass
class Options:
    seed: int
    minutes: float
    api: str = "json"
    eio: int = 4
    consumers: int = 3
    threads: int = 3
    #: seconds of churn between two faults (drawn uniformly)
    gap: tuple[float, float] = (1.0, 4.0)

    def command(self) -> str:
        return (
            f"jainam-fsm soak --seed {self.seed} --minutes {self.minutes:g} "
            f"--api {self.api} --eio {self.eio} --consumers {self.consumers} "
            f"--threads {self.threads}"
        )


def run(args: argparse.Namespace) -> int:
    # The argument types (cli_args) already refused what is out of range, in one line.
    opts = Options(args.seed, args.minutes, args.api, args.eio, args.consumers, args.threads)
    # The adapter logs every fault it meets (WARNING and up), and the simulator's HTTP server
    # every request a sever cut short: the table is the soak's output.
    quiet = [logging.getLogger(name) for name in ("jainam_fsm", "aiohttp.server")]
    saved = [(q.propagate, list(q.handlers)) for q in quiet]
    for q in quiet:
        q.propagate = False
        q.handlers = [logging.NullHandler()]
    try:
        report = Soak(opts).run()
    finally:
        for q, (propagate, handlers) in zip(quiet, saved, strict=True):
            q.propagate, q.handlers = propagate, handlers
    out = Path(args.out or f"soak-{opts.seed}.json")
    out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(render(report))
    print(f"report written to {out}")
    if report["violations"]:
        print(f"VIOLATIONS: {len(report['violations'])}; reproduce with: {report['reproduce']}")
        return 1
    print("all checks passed")
    return 0


class _Telemetry:
    """The adapters' telemetry sink: feeds the audit, counts readiness and exhaustion."""

    def __init__(self, audit: Audit) -> None:
        self.audit = audit
        self.cond = threading.Condition()
        self.readies = 0
        self.exhausted = 0
        self.refused = 0
        self.counts: dict[str, int] = {}

    def emit(self, event: str, level: int, fields: dict[str, object]) -> None:
        with self.cond:
            self.counts[event] = self.counts.get(event, 0) + 1
            if event == "lifecycle.transition":
                self.audit.transition(
                    fields.get("trigger"), fields.get("source"), fields.get("dest")
                )
            elif event == "connection.ready":
                self.readies += 1
            elif event == "lifecycle.exhausted":
                self.exhausted += 1
            elif event == "replay.refused":
                self.refused += 1
            self.cond.notify_all()

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout)


class Soak:
    """One soak run; :meth:`run` returns the report (a JSON-ready dict)."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.rng = random.Random(opts.seed)  # noqa: S311 - a reproducible schedule
        self.audit = Audit()
        self.tel = _Telemetry(self.audit)
        self.lock = threading.Lock()  # the wants and the current adapter change together
        self.running = threading.Event()
        self.stop = threading.Event()
        self.records: list[Record] = []
        self.adapters = 0
        self.adapter: StreamingAdapter | None = None
        self.consumers = [f"c{i}" for i in range(opts.consumers)]
        self.fd_base: int | None = None
        self.threads_before = self.threads_after = 0
        self.fds_before = self.fds_after = 0
        self.universe = sorted(
            {(1, self.rng.randrange(1000, 30000)) for _ in range(18)}
            | {(2, self.rng.randrange(35000, 60000)) for _ in range(6)}
        )

    # -- processes ------------------------------------------------------------------------
    def _new_adapter(self, **overrides: Any) -> StreamingAdapter:
        creds = self.sim.credentials
        config = AdapterConfig(
            base_url=self.sim.base_url,
            app_key=creds.app_key,
            secret_key=creds.secret_key,
            stall_timeout=STALL_TIMEOUT,
            connect_timeout=3.0,
            request_timeout=3.0,
            join_timeout=3.0,
            backoff=BackoffPolicy(initial=0.1, factor=2.0, max_delay=1.0, max_attempts=40),
            api=self.opts.api,
            eio=self.opts.eio,
            **overrides,
        )
        store = self.store
        adapter = StreamingAdapter(
            config,
            self.audit.tick,
            token_source=lambda login, tel: StoredTokenSource(store, "soak", login, tel),
            telemetry=self.tel,
        )
        self.adapters += 1
        return adapter

    def _start_process(self) -> None:
        """A new adapter ("process") with every consumer's current wants; churn paused.

        Half of them keep their subscriptions on the server at shutdown, as a crashed
        process does: the next one must clean up after it.
        """
        adapter = self._new_adapter(keep_server_subscriptions=self.rng.random() < 0.5)
        with self.audit.lock:
            wants = sorted(self.audit.wants, key=repr)
        for key, consumer in wants:
            adapter.subscribe(*key, consumer=consumer)
        self.adapter = adapter
        adapter.connect()

    # -- churn ----------------------------------------------------------------------------
    def _churn(self, index: int) -> None:
        rng = random.Random(self.opts.seed * 1000 + index)  # noqa: S311
        while not self.stop.is_set():
            if not self.running.wait(0.1):
                continue
            time.sleep(rng.uniform(0.02, 0.25))
            seg, iid = rng.choice(self.universe[2:])
            key: SubKey = (seg, iid, rng.choice(CODES))
            consumer = rng.choice(self.consumers)
            with self.lock:
                adapter = self.adapter
                if not self.running.is_set() or adapter is None:
                    continue
                if (key, consumer) in self.audit.wants:
                    self.audit.drop(key, consumer)
                    adapter.unsubscribe(*key, consumer=consumer)
                else:
                    self.audit.want(key, consumer)
                    adapter.subscribe(*key, consumer=consumer)

    def _pause(self) -> None:
        self.running.clear()
        with self.lock:  # an operation in progress finishes first
            pass

    # -- faults ---------------------------------------------------------------------------
    def _inject(self, fault: Fault) -> dict[str, Any]:
        sim = self.sim
        if fault.name == "reject_credentials":
            sim.reject_credentials(True)
            sim.invalidate_tokens(disconnect=True)
            exhausted = self.tel.wait(lambda: self._state() is State.EXHAUSTED, RECOVERY_TIMEOUT)
            sim.reject_credentials(False)
            adapter = self.adapter
            if adapter is not None:
                adapter.connect()  # revive
            return {"exhausted": exhausted}
        if fault.name == "process_restart":
            self._pause()
            old = self.adapter
            assert old is not None
            kept = old.config.keep_server_subscriptions
            old.shutdown()
            self._start_process()
            self.running.set()
            return {"adapter": self.adapters, "previous_kept_subscriptions": kept}
        return inject(sim, self.rng, fault.name)

    def _state(self) -> State | None:
        adapter = self.adapter
        return adapter.state() if adapter is not None else None

    def _verify(self, rec: Record, fault: Fault, readies: int, logins: int, t0: float) -> None:
        """Wait for the recovery, pause the churn, check, resume."""
        ok = True
        if fault.reconnects:
            ok = self.tel.wait(lambda: self.tel.readies > readies, RECOVERY_TIMEOUT)
            if not ok:
                rec.violations.append(f"no recovery within {RECOVERY_TIMEOUT:g} s")
        self._pause()
        try:
            adapter = self.adapter
            assert adapter is not None
            ready = adapter.wait_ready(RECOVERY_TIMEOUT if ok else 1.0)
            rec.recovery_s = round(time.monotonic() - t0, 3)
            if not ready:
                rec.violations.append(f"not ready (state {adapter.state().value})")
            elif ready.partial:
                rec.violations.append(f"{len(ready.refused)} subscriptions refused")
            desired = self._on_server(self.audit.desired())
            deadline = time.monotonic() + 10.0
            server = self._server_set()
            while server != desired and time.monotonic() < deadline:
                time.sleep(0.05)
                server = self._server_set()
            if server != desired:
                missing, extra = sorted(desired - server), sorted(server - desired)
                rec.violations.append(
                    f"server set != desired set: missing {missing[:3]} ({len(missing)}), "
                    f"extra {extra[:3]} ({len(extra)})"
                )
            rec.logins = self.sim.stats()["logins"] - logins
            allowed = 1 if fault.kills_token else 0
            if rec.logins > allowed:
                rec.violations.append(f"{rec.logins} logins (allowed {allowed})")
            rec.threads = len(_adapter_threads())
            if rec.threads != 3:
                rec.violations.append(f"{rec.threads} adapter threads alive (expected 3)")
            rec.fds = _fd_count()
            if self.fd_base is None:
                self.fd_base = rec.fds
            elif rec.fds > self.fd_base + FD_TOLERANCE:
                rec.violations.append(f"{rec.fds} file descriptors (first check {self.fd_base})")
        finally:
            self.sim.set_rest_delay(0.0)
            self.running.set()
        for v in rec.violations:
            self.audit.violate(f"after {rec.kind}", v)

    def _on_server(self, desired: set[SubKey]) -> set[SubKey]:
        """What the server must hold for ``desired``: on the binary API an LTP (1512) want is
        served by the touchline (1501) subscription (docs/xts-protocol.md)."""
        if self.opts.api != "binary":
            return desired
        return {(s, i, TOUCHLINE_CODE if c == LTP_CODE else c) for s, i, c in desired}

    def _server_set(self) -> set[SubKey]:
        subs = self.sim.subscriptions()
        return {(seg, iid, code) for code, ins in subs.items() for seg, iid in ins}

    # -- the run --------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        opts = self.opts
        threads_before = threading.active_count()
        fds_before = _fd_count()
        tmp = tempfile.TemporaryDirectory(prefix="jainam-soak-")
        self.store = TokenStore(
            f"sqlite:///{Path(tmp.name) / 'tokens.db'}",
            pepper=secrets.token_urlsafe(40),  # throwaway key: the soak needs no configuration
            salt=secrets.token_hex(16),
            environ={},  # no JAINAM_* variable reaches the throwaway store
        )
        self.sim = SimulatorThread(
            SimulatorConfig(
                rate=4.0,
                emit_interval=0.05,
                seed=opts.seed,
                ping_interval=1.0,
                ping_timeout=2.0,
                subscription_limit=200,
                api="binary" if opts.api == "binary" else "json",
                eio=opts.eio,
            )
        ).start()
        started = time.monotonic()
        churners = [
            threading.Thread(target=self._churn, args=(i,), name=f"soak-churn-{i}", daemon=True)
            for i in range(opts.threads)
        ]
        try:
            # Two instruments every consumer always wants: the feed is never empty.
            for consumer in self.consumers:
                for seg, iid in self.universe[:2]:
                    self.audit.want((seg, iid, CODES[0]), consumer)
            self._start_process()
            first = Record(0, "start", 0.0, {})
            self._verify(first, Fault("start", True, False), 0, 0, started)
            self.records.append(first)
            for t in churners:
                t.start()
            self.running.set()
            deadline = started + opts.minutes * 60
            queue: list[Fault] = []
            while True:
                gap = self.rng.uniform(*opts.gap)
                if time.monotonic() + gap >= deadline:
                    break
                time.sleep(gap)
                if not queue:
                    queue = list(FAULTS + (BINARY_FAULTS if opts.api == "binary" else ()))
                    self.rng.shuffle(queue)
                fault = queue.pop()
                readies = self.tel.readies
                logins = self.sim.stats()["logins"]
                t0 = time.monotonic()
                rec = Record(len(self.records), fault.name, round(t0 - started, 3), {})
                rec.params = self._inject(fault)
                self._verify(rec, fault, readies, logins, t0)
                self.records.append(rec)
                log.info("soak fault %d %s: %s", rec.n, rec.kind, rec.violations or "ok")
        finally:
            self.stop.set()
            self.running.clear()
            for t in churners:
                t.join(5)
            if self.adapter is not None:
                self.adapter.shutdown()
            self.sim.stop()
            self.store.close()
            tmp.cleanup()
        duration = time.monotonic() - started
        self._final_leak_checks(threads_before, fds_before)
        return self._report(duration)

    def _final_leak_checks(self, threads_before: int, fds_before: int) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (
            threading.active_count() > threads_before or _fd_count() > fds_before + 2
        ):
            time.sleep(0.05)
        self.threads_after, self.fds_after = threading.active_count(), _fd_count()
        self.threads_before, self.fds_before = threads_before, fds_before
        if self.threads_after > threads_before:
            self.audit.violate(
                "threads flat", f"{threads_before} before, {self.threads_after} after"
            )
        if self.fds_after > fds_before + 2:
            self.audit.violate("fds flat", f"{fds_before} before, {self.fds_after} after")

    def _report(self, duration: float) -> dict[str, Any]:
        return build_report(
            self.opts,
            self.records,
            self.audit,
            adapters=self.adapters,
            duration=duration,
            telemetry=self.tel.counts,
            threads=(self.threads_before, self.threads_after),
            fds=(self.fds_before, self.fds_after),
        )


def _adapter_threads() -> list[str]:
    return [
        t.name
        for t in threading.enumerate()
        if t.name.startswith("jainam-") and t.name != "jainam-simulator" and t.is_alive()
    ]


def _fd_count() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1
