"""Run every benchmark and print the report: ``.venv/bin/python -m benchmarks``.

Each figure is a ratio against a baseline measured in the same run, on loopback, with the
simulator in a separate process. Sections (``--only`` picks some):

``sim``       simulator events/s to one AsyncClient vs a bare python-socketio server
              (``benchmarks/bench_simulator.py``; target >= 15,000 events/s)
``cpu``       consumer CPU per event: adapter vs bare AsyncClient (target <= 1.00x) and
              bare sync Client, plus two ablations that locate the adapter's extra cost;
              the bare client and the adapter also against an ``--eio 3`` simulator
``latency``   emit -> callback p50/p99 at 1,000 and 5,000 events/s, adapter vs bare client
``recovery``  server back -> first tick of every instrument, 50/500/2,000 instruments,
              split into wait/token/connect/replay/stream; batch=50 vs batch=1

Takes about 2.5-3 minutes on two cores. ``--json PATH`` also writes every figure as JSON;
``--profile PATH`` writes a cProfile report of the adapter's threads.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks import cpu, latency, recovery
from benchmarks.common import PYTHON, ROOT, machine_info

SECTIONS = ("sim", "cpu", "latency", "recovery")
CPU_TARGET = 1.00
SIM_TARGET = 15_000


def bench_simulator(seconds: float, rounds: int) -> dict[str, Any]:
    """Run ``benchmarks/bench_simulator.py`` and pick its figures out of the output.

    Its output format belongs to the simulator engineer: lines that do not parse are kept
    verbatim in the report, never guessed at.
    """
    cmd = [PYTHON, str(ROOT / "benchmarks" / "bench_simulator.py")]
    cmd += ["--seconds", str(seconds), "--rounds", str(rounds)]
    proc = subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True, text=True, timeout=300)
    out: dict[str, Any] = {
        "command": " ".join(cmd[1:]),
        "output": proc.stdout.rstrip().splitlines(),
    }
    payload = ""
    for line in out["output"]:
        text = line.strip()
        if text.startswith("--"):
            payload = text.strip("- ").split(",")[0]
            continue
        m = re.match(
            r"(jainam-fsm simulator|bare python-socketio, same payload)\s+best\s+(\d+)", text
        )
        if m:
            key = "sim_best" if m.group(1).startswith("jainam") else "bare_best"
            out.setdefault(key, {})[payload] = float(m.group(2))
        m = re.match(r"ratio simulator / bare.*?:\s*([\d.]+)", text)
        if m:
            out.setdefault("ratio", {})[payload] = float(m.group(1))
    return out


# -- report --------------------------------------------------------------------------------------


def _f(x: float, digits: int = 1) -> str:
    return f"{x:,.{digits}f}"


def report_machine(m: dict[str, Any]) -> list[str]:
    pk = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    return [
        "## Machine",
        f"- CPU: {m['cpu_model']}, {m['cores']} cores; load average at start "
        f"{m['load_avg_at_start']}",
        f"- {m['os']}, {m['python']}; repository at {m['commit']}",
        f"- {pk}",
    ]


def report_sim(s: dict[str, Any]) -> list[str]:
    lines = [
        "## Simulator throughput (benchmarks/bench_simulator.py)",
        f"    $ {s['command']}",
        *[f"    {line}" for line in s["output"]],
    ]
    for payload, rate in s.get("sim_best", {}).items():
        ok = "meets" if rate >= SIM_TARGET else "BELOW"
        ratio = s.get("ratio", {}).get(payload)
        vs = f"; {ratio:.2f}x the bare python-socketio server" if ratio else ""
        lines.append(f"- {payload}: {_f(rate, 0)} events/s ({ok} the {SIM_TARGET:,} target){vs}")
    return lines


def report_cpu(c: dict[str, Any]) -> list[str]:
    labels = {
        "async": "bare AsyncClient + json.loads (baseline)",
        "adapter": "StreamingAdapter, default (on_ticks bursts)",
        "adapter-library": "StreamingAdapter, default, socketio_fast_path=False",
        "adapter-on-tick": "StreamingAdapter, on_tick per tick",
        "adapter-inline": "StreamingAdapter, delivery='inline' -> callback",
        "sync": "bare sync socketio.Client + json.loads",
        "async-decode": "ablation: AsyncClient + XtsDecoder",
        "async-decode-thread": "ablation: + the adapter's Delivery thread",
        "async-decode-linger": "ablation: + a delivery thread that lingers 10 ms",
        "async-decode-coalesced": "ablation: + a delivery thread woken once per loop pass",
        "async@eio3": "bare AsyncClient + json.loads, Engine.IO 3 server",
        "adapter@eio3": "StreamingAdapter -> callback, Engine.IO 3 server",
        "adapter-library@eio3": "StreamingAdapter, socketio_fast_path=False, Engine.IO 3 server",
        "adapter-inline@eio3": "StreamingAdapter, delivery='inline', Engine.IO 3 server",
    }
    lines = [
        f"## CPU per event ({_f(c['offered_rate'], 0)} events/s offered, "
        f"{c['instruments']} instruments, {c['rounds']} x {c['seconds']} s windows, median)",
        "| consumer | CPU µs/event | ratio | user µs | sys µs | ctx switches/event | "
        "received/s | CPU share | rounds (µs) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for mode, row in c["modes"].items():
        lines.append(
            f"| {labels.get(mode, mode)} | {_f(row['cpu_us_per_event'])} | "
            f"{row['ratio']:.2f}x | {_f(row['user_us_per_event'])} | "
            f"{_f(row['sys_us_per_event'])} | {row['ctx_switches_per_event']:.2f} | "
            f"{_f(row['rate'], 0)} | {row['cpu_share']:.0%} | "
            f"{row['rounds']} |"
        )
    d = c["decode_micro"]
    lines.append(
        f"- decoding alone (no I/O, best of 7 over {d['payloads']:,} payloads): json.loads "
        f"{d['json_loads_us']:.1f} µs, XtsDecoder.decode {d['xts_decode_us']:.1f} µs per payload"
    )
    for mode in ("adapter", "adapter-inline"):
        if mode not in c["modes"]:
            continue
        ratio = c["modes"][mode]["ratio"]
        verdict = "meets" if ratio <= CPU_TARGET else "MISSES"
        lines.append(
            f"- {mode} / bare AsyncClient = {ratio:.2f}x ({verdict} the {CPU_TARGET}x target)"
        )
    return lines


def report_latency(lat: dict[str, Any]) -> list[str]:
    lines = [
        f"## Latency, simulator emit -> callback ({lat['instruments']} instruments, "
        f"{lat['rounds']} x {lat['seconds']} s per client, pooled)",
        "| offered/s | consumer | received/s | matched | p50 ms | p99 ms | max ms | p50 ratio "
        "| p99 ratio |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rate, rows in lat["rates"].items():
        for mode in rows:
            r = rows[mode]
            lines.append(
                f"| {int(rate):,} | {mode} | {_f(r['rate'], 0)} | {r['matched']:,} | "
                f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['max_ms']:.2f} | "
                f"{r['p50_ratio']:.2f}x | {r['p99_ratio']:.2f}x |"
            )
    return lines


def report_recovery(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "## Recovery: server reachable again -> first tick of every instrument (ms)",
        "| instruments | failure | batch | total | wait | token | connect | replay | requests "
        "| stream |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n']:,} | {r['scenario']} | {r['batch']} | {r['total_s'] * 1e3:.0f} | "
            f"{r['wait_s'] * 1e3:.0f} | {r['token_s'] * 1e3:.1f} | {r['connect_s'] * 1e3:.1f} | "
            f"{r['replay_s'] * 1e3:.1f} | {r['replay_requests']} | {r['stream_s'] * 1e3:.0f} |"
        )
    by = {(r["n"], r["scenario"], r["batch"]): r for r in rows}
    for n in sorted({r["n"] for r in rows}):
        one, fifty = by.get((n, "restart", 1)), by.get((n, "restart", 50))
        if one and fifty:
            lines.append(
                f"- {n:,} instruments, session lost: replay batch=1 / batch=50 = "
                f"{one['replay_s'] / fifty['replay_s']:.1f}x; total "
                f"{one['total_s'] / fifty['total_s']:.1f}x"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--profile", help="write a cProfile report of the adapter here")
    parser.add_argument("--seconds", type=float, default=3.0, help="latency window (s)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per latency client")
    parser.add_argument("--cpu-rounds", type=int, default=3, help="rounds per CPU consumer")
    args = parser.parse_args(argv)
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")

    results: dict[str, Any] = {"machine": machine_info()}
    started = time.monotonic()
    out = report_machine(results["machine"])
    print("\n".join(out), flush=True)
    steps: list[tuple[str, Callable[[], Any], Callable[[Any], list[str]]]] = [
        ("sim", lambda: bench_simulator(2.0, args.rounds), report_sim),
        ("cpu", lambda: cpu.run(rounds=args.cpu_rounds), report_cpu),
        (
            "latency",
            lambda: latency.run(rounds=args.rounds, seconds=args.seconds),
            report_latency,
        ),
        ("recovery", recovery.run, report_recovery),
    ]
    for name, run, report in steps:
        if name not in wanted:
            continue
        t0, load = time.monotonic(), os.getloadavg()[0]
        results[name] = run()
        lines = report(results[name])
        took = time.monotonic() - t0
        lines.append(f"_({name}: {took:.0f} s; 1-min load average at start {load:.2f})_")
        results.setdefault("load_at_start", {})[name] = round(load, 2)
        print("\n" + "\n".join(lines), flush=True)
    if args.profile:
        cpu.profile(path=args.profile, seconds=args.seconds)
        print(f"\ncProfile report of the adapter: {args.profile}")
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    print(f"\ntotal {results['elapsed_s']} s", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
