"""Latency from the simulator handing an event to Engine.IO to the consumer's callback.

The simulator runs in :mod:`benchmarks.simhost`, which notes the ``CLOCK_MONOTONIC`` time of
each packet's first send; a consumer child records ``(instrument, SequenceNumber, arrival)``
for each event in its window (the bare ``AsyncClient`` after ``json.loads``, the adapter in its
tick callback). Matching on ``(instrument, SequenceNumber)`` -- unique per price step -- gives
one latency per event. Both clients run one after the other against the same simulator process
and rate; the figure of merit is the adapter's percentile over the bare client's.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import PYTHON, SimProcess, median, percentile, run_child

MODES = (
    "async",
    "adapter",
    "adapter-library",
    "adapter-nolinger",
    "adapter-inline",
    "adapter-on-tick",
)


def _latencies(emits_path: Path, arrivals_path: Path) -> list[float]:
    sent = {(i, s): t for i, s, t in json.loads(emits_path.read_text())}
    out = []
    for i, s, t in json.loads(arrivals_path.read_text()):
        t0 = sent.get((i, s))
        if t0 is not None:
            out.append((t - t0) / 1e6)  # ms
    return out


def run_rate(
    rate: float,
    n: int,
    warmup: float,
    seconds: float,
    rounds: int,
    modes: tuple[str, ...] = MODES,
) -> dict:
    """Rounds of (bare, adapter) in ABBA order; percentiles over the pooled events."""
    assert modes[0] == "async", "the bare client is the baseline"
    argv = [PYTHON, "-m", "benchmarks.simhost", "--rate", str(rate / n)]
    argv += ["--subscription-limit", str(max(n, 50))]
    pooled: dict[str, list[float]] = {m: [] for m in modes}
    events: dict[str, int] = dict.fromkeys(modes, 0)
    rates: dict[str, list[float]] = {m: [] for m in modes}
    per_round: dict[str, list[list[float]]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory(prefix="jainam-bench-") as tmp, SimProcess(argv) as sim:
        assert sim.info is not None
        for r in range(rounds):
            for mode in modes if r % 2 == 0 else tuple(reversed(modes)):
                arrivals, emits = Path(tmp) / f"{mode}.arr", Path(tmp) / f"{mode}.emit"
                sim.command("reset")
                args = ["benchmarks.consumer", mode, *sim.info.as_args()]
                args += ["--instruments", str(n), "--warmup", str(warmup)]
                args += ["--seconds", str(seconds), "--record", str(arrivals)]
                result = run_child(args)
                answer = sim.command(f"dump {emits}")
                if not answer.startswith("ok"):
                    raise RuntimeError(f"simulator host: {answer}")
                lat = _latencies(emits, arrivals)
                pooled[mode] += lat
                events[mode] += result["events"]
                rates[mode].append(result["rate"])
                per_round[mode].append(
                    [round(percentile(lat, 50), 2), round(percentile(lat, 99), 2)]
                )
    rows: dict[str, Any] = {}
    for mode, lat in pooled.items():
        rows[mode] = {
            "rate": median(rates[mode]),
            "matched": len(lat),
            "events": events[mode],
            "p50_ms": percentile(lat, 50),
            "p99_ms": percentile(lat, 99),
            "max_ms": max(lat) if lat else float("nan"),
            "rounds_p50_p99": per_round[mode],
        }
    base = rows["async"]
    for row in rows.values():
        row["p50_ratio"] = row["p50_ms"] / base["p50_ms"]
        row["p99_ratio"] = row["p99_ms"] / base["p99_ms"]
    return rows


def run(
    rates: tuple[float, ...] = (1000.0, 5000.0),
    n: int = 50,
    warmup: float = 1.0,
    seconds: float = 3.0,
    rounds: int = 2,
    modes: tuple[str, ...] = MODES,
) -> dict[str, Any]:
    out: dict[str, Any] = {"instruments": n, "seconds": seconds, "rounds": rounds, "rates": {}}
    for rate in rates:
        out["rates"][str(int(rate))] = run_rate(rate, n, warmup, seconds, rounds, modes)
    return out


#: The 5,000/s tail, isolated: thread delivery (2 ms linger, no linger, a 1 ms GIL switch
#: interval) against inline delivery, with and without the Socket.IO fast path.
TAIL_MODES = (
    "async",
    "adapter",
    "adapter-nolinger",
    "adapter-switch1ms",
    "adapter-inline",
    "adapter-library",
)


if __name__ == "__main__":
    # ``python -m benchmarks.latency [tail [ROUNDS]]``: the default run, or the tail ablation.
    if sys.argv[1:2] == ["tail"]:
        rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 4
        print(json.dumps(run((5000.0,), rounds=rounds, modes=TAIL_MODES), indent=1))
    else:
        print(json.dumps(run(), indent=1))
