"""What ``jainam-fsm demo`` does and checks: the desired set it keeps, the faults it injects
on a schedule (each followed by a recovery check), and the tallies of its summary.

:mod:`jainam_fsm.commands.demo` runs it: the command line, the simulator and adapter, the live
view and the summary table.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jainam_fsm.core.machine import State
from jainam_fsm.simulator import SimulatorThread
from jainam_fsm.streaming import StreamingAdapter
from jainam_fsm.telemetry import LoggingTelemetry
from jainam_fsm.xts.ticks import Tick

#: The code each instrument of the universe is wanted under, by ``(segment + id) % 2``.
CODES = (1501, 1512)


@dataclass
class Check:
    """One line of the summary: what was checked, whether it held, the figures."""

    name: str
    ok: bool
    detail: str


class DemoTelemetry(LoggingTelemetry):
    """Logs as usual and remembers what the live view shows."""

    def __init__(self, printer: Callable[[str], None] | None) -> None:
        super().__init__()
        self.last_event = "-"
        self.next_retry_at: float | None = None
        self.transitions = 0
        self.readies = 0
        self._printer = printer

    def emit(self, event: str, level: int, fields: dict[str, object]) -> None:
        super().emit(event, level, fields)
        brief = ", ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        self.last_event = f"{event} {brief}"[:110]
        if event == "reconnect.scheduled":
            delay = fields.get("delay")
            if isinstance(delay, int | float):
                self.next_retry_at = time.monotonic() + float(delay)
        elif event == "lifecycle.transition":
            self.transitions += 1
            if fields.get("dest") != State.BACKING_OFF:
                self.next_retry_at = None
        elif event == "connection.ready":
            self.readies += 1
        if self._printer is not None:
            self._printer(self.last_event)


@dataclass
class Demo:
    """The run's desired set and tick tallies (ghosts: ticks of undesired instruments), and the
    recovery checks made so far."""

    sim: SimulatorThread
    adapter: StreamingAdapter
    telemetry: DemoTelemetry
    desired: set[tuple[int, int, int]]
    universe: list[tuple[int, int]]
    rng: random.Random
    ticks: int = 0
    ghosts: int = 0
    removed_at: dict[tuple[int, int, int], float] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    binary: bool = False

    def on_tick(self, tick: Tick) -> None:
        key = (tick.exchange_segment, tick.instrument_id, tick.message_code)
        with self.lock:
            self.ticks += 1
            if key not in self.desired:
                # A tick already in flight at the moment of the unsubscribe is not a ghost.
                removed = self.removed_at.get(key)
                if removed is None or time.monotonic() - removed > 0.5:
                    self.ghosts += 1

    def subscribe(self, seg: int, iid: int, code: int) -> None:
        with self.lock:
            self.desired.add((seg, iid, code))
        self.adapter.subscribe(seg, iid, code)

    def unsubscribe(self, seg: int, iid: int, code: int) -> None:
        with self.lock:
            self.desired.discard((seg, iid, code))
            self.removed_at[(seg, iid, code)] = time.monotonic()
        self.adapter.unsubscribe(seg, iid, code)

    def server_set(self) -> set[tuple[int, int, int]]:
        subs = self.sim.subscriptions()
        return {(seg, iid, code) for code, ins in subs.items() for seg, iid in ins}

    def desired_on_server(self) -> set[tuple[int, int, int]]:
        """What the server should hold for the desired set (the binary API serves an LTP want
        with 1501: docs/configuration.md)."""
        with self.lock:
            desired = set(self.desired)
        if not self.binary:
            return desired
        return {(seg, iid, 1501 if code == 1512 else code) for seg, iid, code in desired}

    def verify_recovery(self, what: str, timeout: float = 15.0, readies: int | None = None) -> None:
        """Wait for a reconnect (when ``readies`` is given) and the replay, then compare sets."""
        deadline = time.monotonic() + timeout
        if readies is not None:
            while self.telemetry.readies <= readies and time.monotonic() < deadline:
                time.sleep(0.02)
        ok = bool(self.adapter.wait_ready(max(0.1, deadline - time.monotonic())))
        server = self.server_set()
        desired = self.desired_on_server()
        same = ok and server == desired
        detail = f"{len(desired)} desired, server has {len(server)}"
        if not same:
            missing, extra = desired - server, server - desired
            detail += f" (missing {sorted(missing)[:3]}, extra {sorted(extra)[:3]})"
        self.checks.append(Check(f"after {what}: server set == desired set", same, detail))


def decode_errors(stats: dict[str, Any]) -> int:
    """Dropped input of both decoders (harmless kinds such as skipped 1512 packets excluded)."""
    from jainam_fsm.xts.binary import BINARY_IGNORED_KINDS
    from jainam_fsm.xts.decode import IGNORED_KINDS

    tallies = {"decoded", "events", "packets", "compressed"}
    json_errors = sum(
        int(n) for k, n in stats["decode_errors"].items() if k not in tallies | IGNORED_KINDS
    )
    binary_errors = sum(
        int(n) for k, n in stats["binary_decode"].items() if k not in tallies | BINARY_IGNORED_KINDS
    )
    return json_errors + binary_errors


def decoded(stats: dict[str, Any]) -> int:
    """Records decoded by both decoders."""
    return int(stats["decode_errors"].get("decoded", 0)) + int(
        stats["binary_decode"].get("decoded", 0)
    )


def schedule(demo: Demo, duration: float) -> list[tuple[float, str, Callable[[], None]]]:
    """Faults at fixed fractions of the run, each followed by a recovery check."""
    sim = demo.sim
    extra = demo.universe[10:]

    def sever() -> None:
        before = demo.telemetry.readies
        sim.sever()
        demo.verify_recovery("sever (transport error)", readies=before)

    def churn() -> None:
        seg, iid = demo.universe[0]
        demo.unsubscribe(seg, iid, CODES[(seg + iid) % 2])
        for seg, iid in extra:
            demo.subscribe(seg, iid, 1512)
        demo.verify_recovery("subscribe/unsubscribe while connected")

    def stall() -> None:
        before = demo.telemetry.readies
        sim.stall(3.0)
        demo.verify_recovery("stalled feed (watchdog)", readies=before)

    def invalidate() -> None:
        before = demo.telemetry.readies
        sim.invalidate_tokens(disconnect=True)
        demo.verify_recovery("token invalidation (one refresh)", readies=before)

    def outage() -> None:
        seg, iid = demo.universe[1]
        before = demo.telemetry.readies
        sim.go_down(3.5)
        demo.unsubscribe(seg, iid, CODES[(seg + iid) % 2])  # dropped while disconnected
        demo.verify_recovery("outage longer than a few retries", timeout=20, readies=before)

    d = duration
    return [
        (0.12 * d, "sever", sever),
        (0.25 * d, "churn", churn),
        (0.35 * d, "stall", stall),
        (0.55 * d, "token invalidation", invalidate),
        (0.70 * d, "outage", outage),
    ]
