"""Hot-standby takeover over many ``kill -9`` of the leader: ``python -m benchmarks.standby``.

Real processes (``benchmarks/standby_cluster.py``): one simulator, a fresh PostgreSQL
database, ``jainam-fsm stream --standby`` processes. Each round starts a new follower, waits
until it reports ``standby.waiting``, kills the leader with SIGKILL and measures the time
from the kill to the follower's first tick line (polled every 10 ms). Per round it also
checks the simulator's login count (must not move) and the session's subscriptions (must
equal the desired set).

Baseline, measured in the same run: the cold start of a process without ``--standby`` that
finds a valid stored token (spawn -> first tick), i.e. what a supervisor restarting the dead
process would give at best. The report is the takeover distribution and its ratio to that.

Options: ``--kills N`` (default 20), ``--baseline N`` (default 5), ``--out PATH`` (JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import machine_info
from benchmarks.standby_cluster import (
    EXPECTED,
    SUBSCRIPTIONS,
    Cluster,
    cluster,
    pg_url,
    wait_first_line,
    wait_for,
)


def cold_start(c: Cluster, n: int) -> list[float]:
    """Spawn -> first tick of a plain ``stream`` (no standby) with the stored token."""
    times = []
    for i in range(n):
        out = c.workdir / f"cold{i}.jsonl"
        subs = [a for s in SUBSCRIPTIONS for a in ("--subscribe", s)]
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jainam_fsm.cli",
                "stream",
                "--base-url",
                c.info["base_url"],
                *subs,
                "--db",
                pg_url(c.dbname),
                "--output",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=c.env(),
        )
        deadline = time.monotonic() + 30
        while not (out.exists() and out.stat().st_size > 0):
            if time.monotonic() > deadline:
                raise AssertionError("cold start wrote no tick")
            time.sleep(0.01)
        times.append(time.monotonic() - t0)
        proc.send_signal(signal.SIGINT)
        proc.wait(15)
    return times


def _summary(xs: list[float]) -> dict[str, float]:
    s = sorted(xs)
    return {
        "n": len(s),
        "min": round(s[0], 3),
        "median": round(statistics.median(s), 3),
        "p90": round(s[min(len(s) - 1, int(0.9 * len(s)))], 3),
        "max": round(s[-1], 3),
        "mean": round(statistics.fmean(s), 3),
    }


def run(kills: int, baseline: int) -> dict[str, Any]:
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, cluster(Path(tmp)) as c:
        leader = c.spawn("p0")
        wait_first_line(leader, 30)
        base = cold_start(c, baseline)  # the token is stored now: no login in these
        for i in range(1, kills + 1):
            follower = c.spawn(f"p{i}")
            wait_for(lambda f=follower: bool(f.events("standby.waiting")), 30, "waiting")
            logins = c.logins()
            os.kill(leader.proc.pid, signal.SIGKILL)
            t0 = time.monotonic()
            t1 = wait_first_line(follower, 30)
            leader.proc.wait(10)
            wait_for(lambda: c.server_subscriptions() == [EXPECTED], 30, "subscriptions")
            rounds.append(
                {
                    "takeover_s": round(t1 - t0, 3),
                    "logins": c.logins() - logins,
                    "subscriptions_equal": c.server_subscriptions() == [EXPECTED],
                    "load": round(os.getloadavg()[0], 2),
                }
            )
            print(f"kill {i}: takeover {t1 - t0:.3f} s", flush=True)
            leader = follower
    takeovers = [r["takeover_s"] for r in rounds]
    return {
        "benchmark": "standby_takeover_kill9",
        "machine": machine_info(),
        "takeover_s": _summary(takeovers),
        "cold_start_s": _summary(base),
        "ratio_median_takeover_to_cold_start": round(
            statistics.median(takeovers) / statistics.median(base), 3
        ),
        "logins_during_takeovers": sum(r["logins"] for r in rounds),
        "subscriptions_equal_every_time": all(r["subscriptions_equal"] for r in rounds),
        "rounds": rounds,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.standby", description=__doc__)
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--baseline", type=int, default=5)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    result = run(args.kills, args.baseline)
    print(json.dumps({k: v for k, v in result.items() if k not in ("rounds", "machine")}))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
