"""Consumer CPU per tick on the binary API, against the bare AsyncClient on JSON, in one run.

``.venv/bin/python -m benchmarks.binary_cpu [--rounds N] [--json PATH]``

Two simulators run in processes of their own at the same offered rate: one serving the JSON API
(``1501-json-full`` strings), one the binary API (``--api binary``: ``xts-binary-packet``
events, layout B, half the packets raw-DEFLATE compressed, one packet per event, as Jainam's
production server is reported to send them). Each consumer runs in a fresh child process
(:mod:`benchmarks.consumer`), in interleaved rounds (ABCDE EDCBA ...), and the figure per consumer
is the median over rounds of process CPU time / ticks received in the window:

* ``json/async``: the bare python-socketio ``AsyncClient`` + ``json.loads`` on JSON (baseline);
* ``binary/async``: the bare ``AsyncClient`` on the binary API, decoding each event with the
  codec's ``BinaryDecoder`` (what the Socket.IO client costs per binary event);
* ``json/adapter``: the ``StreamingAdapter`` on JSON (the known reference ratio);
* ``binary/adapter``: the ``StreamingAdapter`` on the binary API (``api`` taken from the prefix);
* ``binary/adapter-inline``: the same with ``delivery="inline"``.

Prints a Markdown table (ratios against the baseline) and, with ``--json``, every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from benchmarks.common import SimProcess, machine_info, median, run_child

#: (row name, simulator flavour, consumer mode), the baseline first.
ROWS = (
    ("json/async", "json", "async"),
    ("binary/async", "binary", "async-binary"),
    ("json/adapter", "json", "adapter"),
    ("binary/adapter", "binary", "adapter"),
    ("binary/adapter-inline", "binary", "adapter-inline"),
)
BINARY_FLAGS = ("--api", "binary", "--layout", "B", "--compressed-share", "0.5")


def run(
    rate: float = 2000.0,
    n: int = 50,
    rounds: int = 3,
    warmup: float = 0.75,
    seconds: float = 2.5,
) -> dict[str, Any]:
    """``rate`` ticks/s in total over ``n`` instruments (1501) from each simulator."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in ROWS}
    limit = max(n, 50)
    with (
        SimProcess.cli(rate=rate / n, limit=limit) as json_sim,
        SimProcess.cli(rate=rate / n, limit=limit, extra=BINARY_FLAGS) as bin_sim,
    ):
        sims = {"json": json_sim.info, "binary": bin_sim.info}
        for r in range(rounds):
            order = ROWS if r % 2 == 0 else tuple(reversed(ROWS))
            for name, flavour, mode in order:
                info = sims[flavour]
                assert info is not None
                args = ["benchmarks.consumer", mode, *info.as_args()]
                args += ["--instruments", str(n), "--warmup", str(warmup)]
                args += ["--seconds", str(seconds)]
                runs[name].append(run_child(args))
    summary: dict[str, Any] = {}
    for name, rows in runs.items():
        summary[name] = {
            "cpu_us_per_tick": median([r["cpu_us_per_event"] for r in rows]),
            "rate": median([r["rate"] for r in rows]),
            "cpu_share": median([r["cpu_share"] for r in rows]),
            "rounds": [round(r["cpu_us_per_event"], 1) for r in rows],
            "decode_errors": max(int(r.get("decode_errors", 0)) for r in rows),
            "dropped": max(int(r.get("dropped", 0)) for r in rows),
        }
    base = summary["json/async"]["cpu_us_per_tick"]
    for row in summary.values():
        row["ratio"] = row["cpu_us_per_tick"] / base
    return {
        "offered_rate": rate,
        "instruments": n,
        "seconds": seconds,
        "rounds": rounds,
        "binary_flags": list(BINARY_FLAGS),
        "rows": summary,
    }


def report(result: dict[str, Any]) -> list[str]:
    lines = [
        f"## Consumer CPU per tick, binary API ({result['offered_rate']:.0f} ticks/s offered, "
        f"{result['instruments']} instruments, {result['rounds']} x {result['seconds']} s "
        "windows, median)",
        "| consumer | CPU µs/tick | ratio to json/async | received/s | CPU share | "
        "decode errors | dropped | rounds (µs) |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, row in result["rows"].items():
        lines.append(
            f"| {name} | {row['cpu_us_per_tick']:.1f} | {row['ratio']:.2f}x | "
            f"{row['rate']:.0f} | {row['cpu_share']:.0%} | {row['decode_errors']} | "
            f"{row['dropped']} | {row['rounds']} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.binary_cpu", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=2000.0, help="ticks/s per simulator")
    parser.add_argument("--instruments", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=2.5, help="window per round (s)")
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args(argv)
    result = {
        "machine": machine_info(),
        "binary_cpu": run(
            rate=args.rate, n=args.instruments, rounds=args.rounds, seconds=args.seconds
        ),
    }
    print("\n".join(report(result["binary_cpu"])), flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
