"""CPU per received event in the consumer process, at a fixed offered rate.

The simulator (``python -m jainam_fsm.simulator``) runs in its own process; each consumer mode of
:mod:`benchmarks.consumer` runs in a fresh child process, one at a time, in interleaved rounds
(ABC ABC ...), so drift in the machine's load hits every mode alike. The figure per mode is the
median over rounds of process CPU time / events received in the window.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from benchmarks.common import SimProcess, median, run_child

#: The baseline first; the ablations show where the adapter's extra time goes.
MODES = (
    "async",
    "adapter",
    "adapter-library",
    "adapter-inline",
    "adapter-on-tick",
    "sync",
    "async-decode",
    "async-decode-thread",
    "async-decode-linger",
)


#: Consumers also measured against an ``--eio 3`` simulator (Engine.IO 3, as real XTS servers);
#: their rows are named ``MODE@eio3``. Ratios stay against ``async`` on Engine.IO 4.
EIO3_MODES = ("async", "adapter", "adapter-library", "adapter-inline")


def run(
    rate: float = 2000.0,
    n: int = 50,
    rounds: int = 3,
    warmup: float = 0.75,
    seconds: float = 2.5,
    modes: tuple[str, ...] = MODES,
    eio3_modes: tuple[str, ...] = EIO3_MODES,
) -> dict[str, Any]:
    """``rate`` events/s in total over ``n`` instruments (1501, full JSON).

    Two simulators run side by side (Engine.IO 4 and 3); every round runs every consumer once
    against its simulator, in alternating order, so load drift hits both dialects alike.
    """
    jobs = [(m, m, 4) for m in modes] + [(f"{m}@eio3", m, 3) for m in eio3_modes]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in jobs}
    limit = max(n, 50)
    with (
        SimProcess.cli(rate=rate / n, limit=limit) as sim4,
        SimProcess.cli(rate=rate / n, limit=limit, extra=["--eio", "3"]) as sim3,
    ):
        assert sim4.info is not None and sim3.info is not None
        infos = {4: sim4.info, 3: sim3.info}
        for r in range(rounds):
            order = jobs if r % 2 == 0 else list(reversed(jobs))
            for name, mode, eio in order:
                args = ["benchmarks.consumer", mode, *infos[eio].as_args()]
                args += ["--instruments", str(n), "--warmup", str(warmup)]
                args += ["--seconds", str(seconds)]
                runs[name].append(run_child(args))
    summary: dict[str, Any] = {}
    for mode, rows in runs.items():
        summary[mode] = {
            "cpu_us_per_event": median([r["cpu_us_per_event"] for r in rows]),
            "rate": median([r["rate"] for r in rows]),
            "cpu_share": median([r["cpu_share"] for r in rows]),
            "user_us_per_event": median([r["user_us_per_event"] for r in rows]),
            "sys_us_per_event": median([r["sys_us_per_event"] for r in rows]),
            "ctx_switches_per_event": median([r["ctx_switches_per_event"] for r in rows]),
            "rounds": [round(r["cpu_us_per_event"], 1) for r in rows],
        }
    base = summary["async"]["cpu_us_per_event"]
    for row in summary.values():
        row["ratio"] = row["cpu_us_per_event"] / base
    return {
        "offered_rate": rate,
        "instruments": n,
        "eio3_modes": list(eio3_modes),
        "seconds": seconds,
        "rounds": rounds,
        "modes": summary,
        "decode_micro": decode_micro(n),
    }


def decode_micro(n: int = 50, steps: int = 40, repeats: int = 7) -> dict[str, float]:
    """In-process, no I/O: µs per payload for ``json.loads`` vs the adapter's ``XtsDecoder``.

    Best of ``repeats`` passes over ``n * steps`` simulator 1501 payloads: the minimum is the
    figure least disturbed by other load on the machine.
    """
    import json

    from jainam_fsm.simulator.market import Market
    from jainam_fsm.simulator.payloads import render_full
    from jainam_fsm.xts.decode import XtsDecoder

    market, now = Market(0), time.time()
    payloads = []
    for step in range(steps):
        for i in range(n):
            walk = market.walk((1, 10_000 + i), now)
            walk.step(now + step)
            payloads.append(render_full(walk.tick(1501)))
    decoder = XtsDecoder()

    def best(fn: Callable[[str], object]) -> float:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for p in payloads:
                fn(p)
            times.append(time.perf_counter() - t0)
        return min(times) / len(payloads) * 1e6

    loads_us = best(json.loads)
    decode_us = best(lambda p: decoder.decode("1501-json-full", p))
    return {"payloads": len(payloads), "json_loads_us": loads_us, "xts_decode_us": decode_us}


def profile(rate: float = 2000.0, n: int = 50, seconds: float = 3.0, path: str = "") -> str:
    """cProfile the adapter's I/O and delivery threads over one window; the report's path."""
    with SimProcess.cli(rate=rate / n, limit=max(n, 50)) as sim:
        assert sim.info is not None
        args = ["benchmarks.consumer", "adapter", *sim.info.as_args()]
        args += ["--instruments", str(n), "--seconds", str(seconds), "--profile", path]
        run_child(args)
    return path
