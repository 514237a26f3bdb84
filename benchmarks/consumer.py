"""One measured consumer, run as a child process: ``python -m benchmarks.consumer MODE ...``.

Modes, each receiving the simulator's ``1501-json-full`` events for ``--instruments`` ids:

``async``    a bare python-socketio ``AsyncClient``; the handler does ``json.loads``.
``async-binary``  the same on ``xts-binary-packet`` events (a simulator with ``--api binary``);
             the handler decodes each with the codec's ``BinaryDecoder`` and counts ticks.

Ablations (the bare ``AsyncClient`` plus one piece of the adapter at a time):

``async-decode``              the handler runs the adapter's ``XtsDecoder`` instead.
``async-decode-thread``       ... and hands each ``Tick`` to the adapter's ``Delivery`` thread.
``async-decode-linger``       ... to a delivery thread that drains, then sleeps 10 ms.
``async-decode-coalesced``    ... to a delivery thread woken once per event-loop pass.
``async-decode-simplequeue``  ... to a thread blocked on a C ``queue.SimpleQueue``.
``sync``     a bare python-socketio ``socketio.Client`` (threads); the handler does ``json.loads``.
``adapter-inline``  the same with ``delivery="inline"`` (callback on the I/O thread).
``adapter-on-tick``  the adapter's per-tick ``on_tick`` callback (thread delivery).
``adapter-nolinger``  the default path with ``delivery_linger=0`` (hand-off coalescing only).
``adapter-switch1ms``  the default path with the interpreter's GIL switch interval at 1 ms
             instead of 5 ms (an ablation for the latency tail: how long the delivery thread
             waits for the GIL while the I/O thread holds it).
``adapter-library``  the default path with ``socketio_fast_path=False`` (every event through
             python-socketio's own event handling, as before the fast path).
``adapter``  the :class:`~jainam_fsm.streaming.StreamingAdapter`'s default path: decoded ticks
             handed to an ``on_ticks`` callback in bursts (token from a throwaway SQLite
             store). Against a simulator serving the binary API (``--api binary``) it speaks
             that API (``api`` follows the ``/apibinarymarketdata`` prefix): see
             :mod:`benchmarks.binary_cpu`.

After ``--warmup`` seconds it measures, over ``--seconds``, the process CPU time
(``time.process_time``: every thread of this process) and the events received, and prints one
JSON line. With ``--record PATH`` it also writes ``[instrument, sequence, monotonic_ns]`` of each
event received in the window (for the latency benchmark). With ``--profile PATH`` (adapter only)
it writes cProfile statistics of the adapter's I/O and delivery threads over the window.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import queue
import resource
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import EVENT, PEPPER, SimInfo, instruments

Record = list[tuple[int, int, int]]
MODES = (
    "async",
    "async-binary",
    "sync",
    "adapter",
    "adapter-inline",
    "adapter-on-tick",
    "adapter-nolinger",
    "adapter-library",
    "adapter-switch1ms",
    "async-decode",
    "async-decode-thread",
    "async-decode-coalesced",
    "async-decode-linger",
    "async-decode-simplequeue",
)


class Meter:
    """Counts events; between :meth:`start` and :meth:`stop` optionally records them."""

    def __init__(self, record: bool) -> None:
        self.count = 0
        self.recording = False
        self.want_record = record
        self.records: Record = []

    def start(self) -> tuple[int, float, float, Any]:
        self.recording = self.want_record
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return self.count, time.process_time(), time.perf_counter(), usage

    def stop(self, start: tuple[int, float, float, Any]) -> dict[str, float]:
        self.recording = False
        count, cpu, wall = self.count, time.process_time(), time.perf_counter()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        events = count - start[0]
        cpu_s, wall_s = cpu - start[1], wall - start[2]
        per = 1 / events if events else float("nan")
        u0 = start[3]
        return {
            "events": events,
            "seconds": wall_s,
            "rate": events / wall_s,
            "cpu_s": cpu_s,
            "cpu_share": cpu_s / wall_s,
            "cpu_us_per_event": cpu_s * per * 1e6,
            # user/system split and context switches (all threads): what a thread hand-off costs
            "user_us_per_event": (usage.ru_utime - u0.ru_utime) * per * 1e6,
            "sys_us_per_event": (usage.ru_stime - u0.ru_stime) * per * 1e6,
            "ctx_switches_per_event": (
                usage.ru_nvcsw - u0.ru_nvcsw + usage.ru_nivcsw - u0.ru_nivcsw
            )
            * per,
        }


def _rest_body(ids: list[tuple[int, int]]) -> dict[str, Any]:
    return {
        "instruments": [{"exchangeSegment": s, "exchangeInstrumentID": i} for s, i in ids],
        "xtsMessageCode": 1501,
    }


def _query(sim: SimInfo, token: str, publish: str = "JSON") -> str:
    query = f"token={token}&userID={sim.user_id}&publishFormat={publish}&broadcastMode=Full"
    return f"{sim.root_url}/?{query}"


class Coalesced:
    """Ablation: a delivery thread woken at most once per event-loop iteration.

    ``put`` (on the loop) only appends; the wake-up is scheduled with ``call_soon``, so a
    burst of frames read in one iteration costs one notify instead of one per tick.
    """

    def __init__(
        self, callback: Callable[[Any], None], loop: asyncio.AbstractEventLoop, linger: float = 0.0
    ) -> None:
        self._linger = linger
        self._callback = callback
        self._loop = loop
        self._queue: deque[Any] = deque()
        self._cond = threading.Condition()
        self._scheduled = False
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def put(self, item: Any) -> None:
        self._queue.append(item)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._wake)

    def _wake(self) -> None:
        self._scheduled = False
        with self._cond:
            self._cond.notify()

    def _run(self) -> None:
        q, callback = self._queue, self._callback
        while True:
            with self._cond:
                while not q and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
            while q:
                while q:
                    callback(q.popleft())
                if self._linger:
                    time.sleep(self._linger)  # let a few ticks gather before the next drain

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join(5)


class SimpleQueueDelivery:
    """Ablation: the hand-off on ``queue.SimpleQueue`` (C: no Python-level Condition).

    Unbounded, so not a drop-in for the adapter's drop-oldest queue; it shows what the
    Python-level locking of ``Delivery`` costs next to the bare thread wake-up.
    """

    def __init__(self, callback: Callable[[Any], None]) -> None:
        self._callback = callback
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.put = self._queue.put

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        get, callback, stop = self._queue.get, self._callback, _STOP
        while True:
            item = get()
            if item is stop:
                return
            callback(item)

    def stop(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(5)


_STOP = object()


# -- bare AsyncClient --------------------------------------------------------------------------


async def run_async(sim: SimInfo, args: argparse.Namespace, meter: Meter) -> dict[str, float]:
    import aiohttp
    import socketio

    ids = instruments(args.instruments)
    async with aiohttp.ClientSession() as http:
        form = {"appKey": sim.app_key, "secretKey": sim.secret_key, "source": "WEBAPI"}
        async with http.post(sim.base_url + "/auth/login", data=form) as resp:
            token = (await resp.json())["result"]["token"]
        for k in range(0, len(ids), 50):
            async with http.post(
                sim.base_url + "/instruments/subscription",
                json=_rest_body(ids[k : k + 50]),
                headers={"Authorization": token},
            ) as resp:
                resp.raise_for_status()

    client = socketio.AsyncClient(reconnection=False, handle_sigint=False)
    records = meter.records
    loads = json.loads
    clock = time.monotonic_ns
    delivery: Any = None

    def on_tick(data: str) -> None:
        tick = loads(data)
        meter.count += 1
        if meter.recording:
            records.append((tick["ExchangeInstrumentID"], tick["SequenceNumber"], clock()))

    if args.mode == "async":
        client.on(EVENT, on_tick)
    elif args.mode == "async-binary":
        from jainam_fsm.xts.binary import BinaryDecoder

        decode_binary = BinaryDecoder().decode

        def on_packet(data: bytes) -> None:
            meter.count += len(decode_binary(data))

        client.on("xts-binary-packet", on_packet)
    else:
        # Ablation: the adapter's decoder (and its delivery thread) on the bare client.
        from jainam_fsm.streaming.delivery import Delivery
        from jainam_fsm.xts.decode import XtsDecoder

        decode = XtsDecoder().decode

        def count(item: Any) -> None:
            meter.count += 1

        if args.mode == "async-decode-simplequeue":
            delivery = SimpleQueueDelivery(count)
            delivery.start()
            put = delivery.put

            def on_tick_decoded(data: str) -> None:
                item = decode(EVENT, data)
                if item is not None:
                    put(item)

        elif args.mode.startswith("async-decode-coalesced") or args.mode == "async-decode-linger":
            linger = 0.01 if args.mode == "async-decode-linger" else 0.0
            delivery = Coalesced(count, asyncio.get_running_loop(), linger)
            delivery.start()
            put = delivery.put

            def on_tick_decoded(data: str) -> None:
                item = decode(EVENT, data)
                if item is not None:
                    put(item)

        elif args.mode == "async-decode-thread":
            delivery = Delivery(count)
            delivery.start()
            put = delivery.put

            def on_tick_decoded(data: str) -> None:
                item = decode(EVENT, data)
                if item is not None:
                    put(item)

        else:

            def on_tick_decoded(data: str) -> None:
                item = decode(EVENT, data)
                if item is not None:
                    meter.count += 1

        client.on(EVENT, on_tick_decoded)
    publish = "Binary" if args.mode == "async-binary" else "JSON"
    await client.connect(
        _query(sim, token, publish), transports=["websocket"], socketio_path=sim.socketio_path
    )
    await asyncio.sleep(args.warmup)
    start = meter.start()
    await asyncio.sleep(args.seconds)
    result = meter.stop(start)
    await client.disconnect()
    await client.shutdown()
    if delivery is not None:
        delivery.stop()
    return result


# -- bare sync Client --------------------------------------------------------------------------


def run_sync(sim: SimInfo, args: argparse.Namespace, meter: Meter) -> dict[str, float]:
    import requests
    import socketio

    ids = instruments(args.instruments)
    with requests.Session() as http:
        form = {"appKey": sim.app_key, "secretKey": sim.secret_key, "source": "WEBAPI"}
        resp = http.post(sim.base_url + "/auth/login", data=form, timeout=10)
        token = resp.json()["result"]["token"]
        for k in range(0, len(ids), 50):
            http.post(
                sim.base_url + "/instruments/subscription",
                json=_rest_body(ids[k : k + 50]),
                headers={"Authorization": token},
                timeout=10,
            ).raise_for_status()

    client = socketio.Client(reconnection=False, handle_sigint=False)
    records = meter.records
    loads = json.loads
    clock = time.monotonic_ns

    def on_tick(data: str) -> None:
        tick = loads(data)
        meter.count += 1
        if meter.recording:
            records.append((tick["ExchangeInstrumentID"], tick["SequenceNumber"], clock()))

    client.on(EVENT, on_tick)
    client.connect(_query(sim, token), transports=["websocket"], socketio_path=sim.socketio_path)
    time.sleep(args.warmup)
    start = meter.start()
    time.sleep(args.seconds)
    result = meter.stop(start)
    client.disconnect()
    return result


# -- the adapter -------------------------------------------------------------------------------


def adapter_token_source(db_dir: Path, user: str = "bench") -> Callable[..., Any]:
    """The adapter's ``token_source=``: a StoredTokenSource on a throwaway SQLite store."""
    from jainam_fsm.store import StoredTokenSource, TokenStore

    url = f"sqlite:///{db_dir / 'tokens.db'}"
    return lambda login, tel: StoredTokenSource(TokenStore(url, pepper=PEPPER), user, login, tel)


def run_adapter(sim: SimInfo, args: argparse.Namespace, meter: Meter) -> dict[str, float]:
    from jainam_fsm.streaming import AdapterConfig, StreamingAdapter
    from jainam_fsm.xts.ticks import Tick

    records = meter.records
    clock = time.monotonic_ns
    profiler: cProfile.Profile | None = None
    profiled = threading.Event()

    def on_tick(tick: Tick) -> None:
        meter.count += 1
        if meter.recording:
            records.append((tick.instrument_id, tick.sequence_number or 0, clock()))
        if profiler is not None and not profiled.is_set():
            profiled.set()
            delivery_profiler.enable()

    def on_ticks(ticks: list[Tick]) -> None:
        meter.count += len(ticks)
        if meter.recording:
            now = clock()
            records.extend((t.instrument_id, t.sequence_number or 0, now) for t in ticks)
        if profiler is not None and not profiled.is_set():
            profiled.set()
            delivery_profiler.enable()

    config = AdapterConfig(
        base_url=sim.base_url,
        app_key=sim.app_key,
        secret_key=sim.secret_key,
        user="bench",
        delivery="inline" if args.mode == "adapter-inline" else "thread",
        **({"delivery_linger": 0.0} if args.mode == "adapter-nolinger" else {}),
        socketio_fast_path=args.mode != "adapter-library",
    )
    if args.mode == "adapter-switch1ms":
        sys.setswitchinterval(0.001)
    with tempfile.TemporaryDirectory(prefix="jainam-bench-") as tmp:
        callbacks: dict[str, Any] = (
            {"on_tick": on_tick} if args.mode == "adapter-on-tick" else {"on_ticks": on_ticks}
        )
        adapter = StreamingAdapter(
            config, token_source=adapter_token_source(Path(tmp)), **callbacks
        )
        try:
            for seg, iid in instruments(args.instruments):
                adapter.subscribe(seg, iid)
            adapter.connect()
            if not adapter.wait_ready(30):
                raise RuntimeError(f"adapter not ready: {adapter.stats()}")
            time.sleep(args.warmup)
            if args.profile:
                # cProfile sees one thread; profile the I/O thread and the delivery thread.
                profiler = cProfile.Profile()
                delivery_profiler = cProfile.Profile()
                done = threading.Event()

                def enable() -> None:
                    assert profiler is not None
                    profiler.enable()
                    done.set()

                adapter._io.call_soon(enable)
                done.wait(5)
            start = meter.start()
            time.sleep(args.seconds)
            result = meter.stop(start)
            if profiler is not None:
                stopped = threading.Event()

                def disable() -> None:
                    assert profiler is not None
                    profiler.disable()
                    stopped.set()

                adapter._io.call_soon(disable)
                stopped.wait(5)
                _write_profile(args.profile, profiler, delivery_profiler)
            stats = adapter.stats()
            result["dropped"] = stats["ticks_dropped"]
            result["decode_errors"] = sum(
                v for k, v in stats["decode_errors"].items() if k != "decoded"
            )
            from jainam_fsm.xts.binary import BINARY_IGNORED_KINDS

            binary = stats.get("binary_decode", {})
            result["binary_packets"] = binary.get("packets", 0)
            tallies = {"decoded", "events", "packets", "compressed", *BINARY_IGNORED_KINDS}
            result["decode_errors"] += sum(v for k, v in binary.items() if k not in tallies)
        finally:
            adapter.shutdown()
    return result


def _write_profile(path: str, io_prof: cProfile.Profile, delivery_prof: cProfile.Profile) -> None:
    delivery_prof.disable()
    with open(path, "w") as out:
        for name, prof in (("I/O thread (jainam-io)", io_prof), ("delivery", delivery_prof)):
            out.write(f"==== {name} ====\n")
            stats = pstats.Stats(prof, stream=out)
            stats.sort_stats("tottime").print_stats(25)
            stats.sort_stats("cumulative").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--sim", required=True, help="the simulator's JSON line")
    parser.add_argument("--instruments", type=int, default=50)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--record", help="write the window's events here (JSON)")
    parser.add_argument("--profile", help="adapter: write cProfile statistics here")
    args = parser.parse_args()
    sim = SimInfo.from_json(args.sim)
    meter = Meter(record=bool(args.record))
    if args.mode.startswith("async"):
        result = asyncio.run(run_async(sim, args, meter))
    elif args.mode == "sync":
        result = run_sync(sim, args, meter)
    else:
        result = run_adapter(sim, args, meter)
    if args.record:
        Path(args.record).write_text(json.dumps(meter.records))
    result["mode"] = args.mode
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
