"""``jainam-fsm demo``: the adapter against the built-in simulator, with faults on a schedule.

By default the simulator serves what Jainam Prop's production server does (the binary
market-data API over Engine.IO 3) and the adapter uses the Jainam Prop preset; ``--api json``
runs the standard XTS JSON API with the ``xts`` preset, ``--eio 4`` the other dialect.

Needs no configuration: a throwaway token store and key of its own. Shows a live view (state,
attempt, next retry, subscriptions, ticks/s, last event) and ends with a summary of what was
checked: every recovery restored exactly the desired set, no ghost ticks, no leaked thread or
file descriptor. Exit status 0 when every check passed.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path

try:  # rich is the `demo` extra, not a dependency of the library
    from rich.console import Console, Group
    from rich.live import Live
    from rich.table import Table
    from rich.text import Text
except ModuleNotFoundError as exc:
    if (exc.name or "").partition(".")[0] != "rich":
        raise
    _RICH_MISSING = True
else:
    _RICH_MISSING = False

from jainam_fsm.commands.args import bounded_float, bounded_int
from jainam_fsm.commands.demo_scenario import (
    CODES,
    Check,
    Demo,
    DemoTelemetry,
    decode_errors,
    decoded,
    schedule,
)
from jainam_fsm.core.backoff import BackoffPolicy
from jainam_fsm.simulator import SimulatorConfig, SimulatorThread
from jainam_fsm.store import StoredTokenSource, TokenStore
from jainam_fsm.streaming import AdapterConfig, StreamingAdapter


def add_subcommand(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="run the adapter against the built-in simulator, injecting faults",
        description="Starts the XTS simulator, streams a set of instruments, injects a sever, "
        "a stall, a token invalidation and an outage, and checks every recovery.",
    )
    p.add_argument(
        "--duration",
        type=bounded_float(20.0, 86_400.0, low_inclusive=True),
        default=30.0,
        metavar="SECONDS",
        help="seconds (default 30, from 20 to 86400)",
    )
    p.add_argument(
        "--seed",
        type=bounded_int(-(2**63), 2**63 - 1),
        default=7,
        help="seed of prices and instrument choice",
    )
    p.add_argument("--plain", action="store_true", help="no live view; print events as lines")
    p.add_argument(
        "--eio",
        type=int,
        choices=(3, 4),
        default=3,
        help="Engine.IO dialect of the simulator: 3 (default, what real XTS servers speak) or 4",
    )
    p.add_argument(
        "--api",
        choices=("binary", "json"),
        default="binary",
        help="market-data API: binary (default: the Jainam Prop preset, as its production server "
        "serves it) or json (the standard XTS preset)",
    )
    p.set_defaults(func=run)


def _fd_count() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1


def _view(demo: Demo, started: float, rate: float, duration: float, phase: str) -> Group:
    stats = demo.adapter.stats()
    tel = demo.telemetry
    table = Table(title="jainam-fsm demo (simulator)", expand=False, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    state = stats["state"]
    colour = {"connected": "green", "backing_off": "yellow", "exhausted": "red"}.get(state, "cyan")
    table.add_row("state", Text(state, style=colour))
    table.add_row("attempt", str(stats["attempt"]))
    table.add_row("API", f"{stats['api']} ({demo.adapter.config.broker} preset)")
    eio = stats.get("eio")
    table.add_row("Engine.IO", "-" if eio is None else f"{eio} (client pings)" if eio == 3 else "4")
    nxt = "-"
    if tel.next_retry_at is not None:
        nxt = f"in {max(0.0, tel.next_retry_at - time.monotonic()):.2f} s"
    table.add_row("next retry", nxt)
    table.add_row(
        "subscriptions",
        f"{stats['subscriptions']} desired / {stats['server_subscriptions']} on server",
    )
    table.add_row("ticks/s", f"{rate:.0f}  (total {demo.ticks})")
    table.add_row("phase", phase)
    table.add_row("elapsed", f"{time.monotonic() - started:.1f} / {duration:.0f} s")
    table.add_row("last event", tel.last_event)
    return Group(table)


#: What ``demo`` prints (one line, exit status 2) when the `demo` extra is not installed.
RICH_MISSING = "jainam-fsm demo needs rich for its live view: pip install 'jainam-fsm[demo]'"


def run(args: argparse.Namespace) -> int:
    if _RICH_MISSING:
        print(RICH_MISSING, file=sys.stderr)
        return 2
    duration = max(20.0, float(args.duration))
    console = Console(stderr=False)
    logging.getLogger("jainam_fsm").setLevel(logging.INFO)
    logging.getLogger("jainam_fsm").addHandler(logging.NullHandler())
    logging.getLogger("jainam_fsm").propagate = False
    threads_before = threading.active_count()
    fds_before = _fd_count()
    rng = random.Random(args.seed)  # noqa: S311 - reproducible demo, not crypto
    sim_config = SimulatorConfig(
        rate=4.0,
        emit_interval=0.05,
        seed=args.seed,
        eio=args.eio,
        api=args.api,
        ping_interval=1.0,
        ping_timeout=2.0,
    )
    tmp = tempfile.TemporaryDirectory(prefix="jainam-demo-")
    store = TokenStore(
        f"sqlite:///{Path(tmp.name) / 'tokens.db'}",
        pepper=secrets.token_urlsafe(40),  # throwaway key: the demo needs no configuration
        salt=secrets.token_hex(16),
        environ={},  # no JAINAM_* variable reaches the throwaway store
    )
    printer = None if not args.plain else (lambda line: console.print(line, markup=False))
    telemetry = DemoTelemetry(printer)
    sim = SimulatorThread(sim_config).start()
    try:
        creds = sim.credentials
        config = AdapterConfig(
            # The preset picks the API; the root URL leaves the prefix to it, as in production.
            broker="jainam-prop" if args.api == "binary" else "xts",
            base_url=sim.root_url,
            app_key=creds.app_key,
            secret_key=creds.secret_key,
            stall_timeout=1.5,
            backoff=BackoffPolicy(initial=0.25, factor=2.0, max_delay=2.0, max_attempts=8),
        )
        universe = sorted(
            {(1, rng.randrange(1000, 30000)) for _ in range(8)}
            | {(2, rng.randrange(35000, 60000)) for _ in range(4)}
        )
        demo = Demo(sim, None, telemetry, set(), universe, rng)  # type: ignore[arg-type]
        demo.binary = args.api == "binary"
        adapter = StreamingAdapter(
            config,
            demo.on_tick,
            token_source=lambda login, tel: StoredTokenSource(store, "demo", login, tel),
            telemetry=telemetry,
        )
        demo.adapter = adapter
        for seg, iid in universe[:10]:
            demo.subscribe(seg, iid, CODES[(seg + iid) % 2])
        plan = schedule(demo, duration)
        started = time.monotonic()
        adapter.connect()
        demo.verify_recovery("start")
        last_ticks, last_t, rate = 0, started, 0.0
        phase_box = ["streaming"]

        def run_schedule() -> None:
            # Faults and their checks run here, so the live view keeps moving meanwhile.
            for at, phase, action in plan:
                delay = started + at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                phase_box[0] = phase
                action()
            phase_box[0] = "streaming"

        faults = threading.Thread(target=run_schedule, name="demo-faults", daemon=True)
        faults.start()
        live_view = console.is_terminal and not args.plain
        with Live(
            _view(demo, started, rate, duration, phase_box[0]),
            console=console,
            refresh_per_second=8,
            transient=False,
            auto_refresh=live_view,
        ) as live:
            while faults.is_alive() or time.monotonic() - started < duration:
                now = time.monotonic()
                if now - last_t >= 1.0:
                    rate = (demo.ticks - last_ticks) / (now - last_t)
                    last_ticks, last_t = demo.ticks, now
                if live_view:
                    live.update(_view(demo, started, rate, duration, phase_box[0]))
                time.sleep(0.1)
            faults.join()
            live.update(_view(demo, started, rate, duration, "done"))
        stats = adapter.stats()
        ping_timeouts = sim.stats()["ping_timeouts"]
        adapter.shutdown()
    finally:
        sim.stop()
        store.close()
        tmp.cleanup()
    threads_after = threading.active_count()
    fds_after = _fd_count()
    demo.checks.append(
        Check("no ghost ticks", demo.ghosts == 0, f"{demo.ghosts} ticks for undesired instruments")
    )
    demo.checks.append(
        Check(
            "ticks flowed", demo.ticks > 0, f"{demo.ticks} ticks, {stats['ticks_dropped']} dropped"
        )
    )
    demo.checks.append(
        Check(
            "recovered from every fault",
            telemetry.readies - 1 >= 4,
            f"{telemetry.readies - 1} recoveries, {stats['logins']} logins",
        )
    )
    errors = decode_errors(stats)
    demo.checks.append(
        Check(
            f"{stats['api']} API decoded",
            stats["api"] == args.api and errors == 0 and stats["undecodable_stalls"] == 0,
            f"{decoded(stats)} records decoded, {errors} decode errors"
            + (f", {stats['ticks_other_code']} LTP ticks from 1501" if demo.binary else ""),
        )
    )
    demo.checks.append(
        Check(
            f"Engine.IO {args.eio} heartbeat held",
            ping_timeouts == 0 and stats["eio"] == args.eio,
            f"spoke Engine.IO {stats['eio']}, {ping_timeouts} ping-timeout drops",
        )
    )
    demo.checks.append(
        Check(
            "no leaked thread or file descriptor",
            threads_after <= threads_before and fds_after <= fds_before,
            f"threads {threads_before}->{threads_after}, fds {fds_before}->{fds_after}",
        )
    )
    summary = Table(title="demo summary")
    summary.add_column("check")
    summary.add_column("result")
    summary.add_column("detail")
    for c in demo.checks:
        summary.add_row(
            c.name, Text("PASS", "green") if c.ok else Text("FAIL", "bold red"), c.detail
        )
    console.print(summary)
    ok = all(c.ok for c in demo.checks)
    console.print(
        "all checks passed" if ok else "SOME CHECKS FAILED", style="green" if ok else "red"
    )
    return 0 if ok else 1
