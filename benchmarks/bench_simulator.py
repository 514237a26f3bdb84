"""Events per second the simulator pushes to one plain python-socketio AsyncClient on loopback.

Compared, in the same run, with a bare python-socketio AsyncServer (aiohttp, ``sio.emit`` in a
loop) sending the very same payload as fast as it can. Servers run in this process, the client
in a child process (each gets a core of its own on a 2-core machine) and counts one event name
over a fixed window.

Variants: the simulator streaming 1512 LTP (short payload) and 1501 touchline (nested, ~740
chars), each against the bare server with the identical payload, plus the bare server with a
93-character payload. Every variant runs ``--rounds`` times, interleaved, because other load on
the machine skews single runs; the best round is the capacity figure. CPU time per event (server
process, client process) is printed too: it is the load-independent part.

    .venv/bin/python benchmarks/bench_simulator.py [--seconds 5] [--rounds 3] [--instruments 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import socketio
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jainam_fsm.simulator import Simulator, SimulatorConfig

# -- client (child process) ------------------------------------------------------------------


async def run_client(url: str, path: str, event: str, warmup: float, seconds: float) -> None:
    client = socketio.AsyncClient(reconnection=False)
    count = 0

    @client.on(event)
    async def on_tick(data: str) -> None:
        nonlocal count
        count += 1

    await client.connect(url, transports=["websocket"], socketio_path=path, wait_timeout=10)
    await asyncio.sleep(warmup)
    start_count, start, cpu = count, time.perf_counter(), time.process_time()
    await asyncio.sleep(seconds)
    got, elapsed = count - start_count, time.perf_counter() - start
    cpu_share = (time.process_time() - cpu) / elapsed
    result = {"events": got, "seconds": elapsed, "rate": got / elapsed, "client_cpu": cpu_share}
    print(json.dumps(result), flush=True)
    await client.disconnect()


def spawn_client(
    url: str, path: str, event: str, warmup: float, seconds: float
) -> subprocess.Popen[str]:
    args = [sys.executable, __file__, "--client", url, "--path", path, "--event", event]
    args += ["--warmup", str(warmup), "--seconds", str(seconds)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, text=True)


@dataclass
class Result:
    rate: float
    client_cpu: float
    server_cpu: float


async def collect(proc: subprocess.Popen[str]) -> Result:
    """The child's figures, plus this process's CPU share while it ran."""
    cpu, wall = time.process_time(), time.perf_counter()
    out, _ = await asyncio.to_thread(proc.communicate)
    server_cpu = (time.process_time() - cpu) / (time.perf_counter() - wall)
    figures = json.loads(out.strip().splitlines()[-1])
    return Result(float(figures["rate"]), float(figures["client_cpu"]), server_cpu)


# -- bare python-socketio baseline -------------------------------------------------------------


async def bare_baseline(warmup: float, seconds: float, event: str, payload: str) -> Result:
    sio = socketio.AsyncServer(async_mode="aiohttp", logger=False, engineio_logger=False)
    app = web.Application()
    sio.attach(app, socketio_path="bench/socket.io")
    sids: set[str] = set()
    sio.on("connect", lambda sid, environ, auth=None: sids.add(sid))
    sio.on("disconnect", lambda sid, reason=None: sids.discard(sid))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    stop = asyncio.Event()

    async def pump() -> None:
        # As fast as the server can, yielding every 200 events so the writer task runs.
        while not stop.is_set():
            for sid in list(sids):
                for _ in range(200):
                    await sio.emit(event, payload, to=sid)
            await asyncio.sleep(0)

    task = asyncio.create_task(pump())
    url = f"http://127.0.0.1:{site.port}"
    result = await collect(spawn_client(url, "/bench/socket.io", event, warmup, seconds))
    stop.set()
    await task
    await sio.shutdown()
    await runner.cleanup()
    return result


# -- the simulator -----------------------------------------------------------------------------


async def simulator_run(
    warmup: float, seconds: float, instruments: int, code: int
) -> tuple[Result, str]:
    """The simulator streaming ``code`` for ``instruments`` instruments to one client."""
    # Ask for more than anyone can deliver (the loop drops backlog beyond one second).
    config = SimulatorConfig(rate=40_000 / instruments, emit_interval=0.02, subscription_limit=500)
    async with Simulator(config) as sim:
        user = sim.credentials
        async with aiohttp.ClientSession() as http:
            login = await http.post(
                sim.base_url + "/auth/login",
                data={"appKey": user.app_key, "secretKey": user.secret_key, "source": "WEBAPI"},
            )
            token = (await login.json())["result"]["token"]
            body = {
                "instruments": [
                    {"exchangeSegment": 1, "exchangeInstrumentID": 1000 + i}
                    for i in range(instruments)
                ],
                "xtsMessageCode": code,
            }
            sub = await http.post(
                sim.base_url + "/instruments/subscription",
                json=body,
                headers={"Authorization": token},
            )
            snapshot = str((await sub.json())["result"]["listQuotes"][0])
        query = f"token={token}&userID={user.user_id}&publishFormat=JSON&broadcastMode=Full"
        proc = spawn_client(
            f"{sim.root_url}/?{query}", sim.socketio_path, f"{code}-json-full", warmup, seconds
        )
        result = await collect(proc)
    return result, snapshot


def _line(name: str, runs: list[Result]) -> str:
    best = max(runs, key=lambda r: r.rate)
    median = statistics.median(r.rate for r in runs)
    server_us = best.server_cpu / best.rate * 1e6
    client_us = best.client_cpu / best.rate * 1e6
    return (
        f"{name:<38} best {best.rate:7.0f}/s  median {median:7.0f}/s  "
        f"CPU per event: server {server_us:5.1f} us, client {client_us:5.1f} us"
    )


async def main(args: argparse.Namespace) -> None:
    runs: dict[str, list[Result]] = {}
    sizes: dict[int, int] = {}
    for _ in range(args.rounds):
        for code in (1512, 1501):
            sim, payload = await simulator_run(args.warmup, args.seconds, args.instruments, code)
            sizes[code] = len(payload)
            runs.setdefault(f"simulator {code}", []).append(sim)
            bare = await bare_baseline(args.warmup, args.seconds, f"{code}-json-full", payload)
            runs.setdefault(f"bare {code}", []).append(bare)
        small = await bare_baseline(args.warmup, args.seconds, "1501-json-full", "x" * 93)
        runs.setdefault("bare small", []).append(small)
    print(f"one python-socketio AsyncClient, loopback, {args.rounds} rounds of {args.seconds} s")
    for code in (1512, 1501):
        sim_runs, bare_runs = runs[f"simulator {code}"], runs[f"bare {code}"]
        print(f"-- {code}-json-full, {sizes[code]} chars, {args.instruments} instruments")
        print(_line("  bare python-socketio, same payload", bare_runs))
        print(_line("  jainam-fsm simulator", sim_runs))
        ratio = max(r.rate for r in sim_runs) / max(r.rate for r in bare_runs)
        print(f"  ratio simulator / bare (best rounds): {ratio:.2f}")
    print("-- reference")
    print(_line("  bare python-socketio, 93-char payload", runs["bare small"]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--event", help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--instruments", type=int, default=50)
    ns = parser.parse_args()
    if ns.client:
        asyncio.run(run_client(ns.client, ns.path, ns.event, ns.warmup, ns.seconds))
    else:
        asyncio.run(main(ns))
