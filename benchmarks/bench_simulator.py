"""Events per second the simulator pushes to one plain python-socketio AsyncClient on loopback.

Compared, in the same run, with a bare python-socketio AsyncServer (aiohttp) that emits a fixed
payload as fast as it can. The server runs in this process, the client in a child process (so
each has a core of its own), counting ``1501-json-full`` events over a fixed window.

    .venv/bin/python benchmarks/bench_simulator.py [--seconds 5] [--instruments 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
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

EVENT = "1501-json-full"


# -- client (child process) ------------------------------------------------------------------


async def run_client(url: str, path: str, warmup: float, seconds: float) -> None:
    client = socketio.AsyncClient(reconnection=False)
    count = 0

    @client.on(EVENT)
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


def spawn_client(url: str, path: str, warmup: float, seconds: float) -> subprocess.Popen[str]:
    args = [sys.executable, __file__, "--client", url, "--path", path]
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


async def bare_baseline(warmup: float, seconds: float, payload: str) -> Result:
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
                    await sio.emit(EVENT, payload, to=sid)
            await asyncio.sleep(0)

    task = asyncio.create_task(pump())
    proc = spawn_client(f"http://127.0.0.1:{site.port}", "/bench/socket.io", warmup, seconds)
    rate = await collect(proc)
    stop.set()
    await task
    await sio.shutdown()
    await runner.cleanup()
    return rate


# -- the simulator -----------------------------------------------------------------------------


async def simulator_rate(warmup: float, seconds: float, instruments: int) -> tuple[Result, str]:
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
                "xtsMessageCode": 1501,
            }
            sub = await http.post(
                sim.base_url + "/instruments/subscription",
                json=body,
                headers={"Authorization": token},
            )
            snapshot = json.loads((await sub.json())["result"]["listQuotes"][0])
        query = f"token={token}&userID={user.user_id}&publishFormat=JSON&broadcastMode=Full"
        url = f"{sim.root_url}/?{query}"
        proc = spawn_client(url, sim.socketio_path, warmup, seconds)
        rate = await collect(proc)
    return rate, json.dumps(snapshot, separators=(",", ":"))


async def main(args: argparse.Namespace) -> None:
    sim, payload = await simulator_rate(args.warmup, args.seconds, args.instruments)
    bare = await bare_baseline(args.warmup, args.seconds, payload)
    small = await bare_baseline(args.warmup, args.seconds, "x" * 93)

    def line(name: str, r: Result) -> str:
        return (
            f"{name:<34}: {r.rate:8.0f} events/s   "
            f"(server CPU {r.server_cpu:4.0%}, client CPU {r.client_cpu:4.0%})"
        )

    print(f"payload: one 1501 touchline, full JSON, {len(payload)} chars")
    print(line("bare python-socketio, same payload", bare))
    print(line(f"jainam-fsm simulator, {args.instruments} instr.", sim))
    print(f"{'ratio simulator / bare':<34}: {sim.rate / bare.rate:8.2f}")
    print(line("bare python-socketio, 93 chars", small))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--instruments", type=int, default=50)
    ns = parser.parse_args()
    if ns.client:
        asyncio.run(run_client(ns.client, ns.path, ns.warmup, ns.seconds))
    else:
        asyncio.run(main(ns))
