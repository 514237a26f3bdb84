"""The simulator with an emit-time recorder, in a process of its own (latency benchmark).

The tick payloads carry exchange time to the second only, so this host sets the stream's
``frame_observer`` (called once per tick frame, right before the emit loop first sends it, see
``Stream._emit_step``) and notes ``time.monotonic_ns()`` then.
``CLOCK_MONOTONIC`` is one clock for every process of the machine, so a consumer
process can subtract it from its own arrival times. The simulator code itself is untouched.

Prints the simulator's JSON line like ``python -m jainam_fsm.simulator``, then obeys stdin:
``reset`` (forget the recorded sends) and ``dump PATH`` (write ``[[instrument, sequence,
monotonic_ns], ...]`` and answer ``ok N``). Stops on stdin EOF.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from pathlib import Path

from jainam_fsm.simulator import Simulator, SimulatorConfig
from jainam_fsm.simulator.frames import Frame

_KEY = re.compile(r'ExchangeInstrumentID\\?":(\d+).*?SequenceNumber\\?":(\d+)')


async def serve(args: argparse.Namespace) -> None:
    config = SimulatorConfig(
        rate=args.rate, subscription_limit=args.subscription_limit, emit_interval=args.interval
    )
    sent: list[tuple[int, str]] = []
    async with Simulator(config) as sim:

        def observe(frame: Frame) -> None:
            sent.append((time.monotonic_ns(), frame.text))

        sim.stream.frame_observer = observe
        user = sim.credentials
        line = {
            "base_url": sim.base_url,
            "root_url": sim.root_url,
            "socketio_path": sim.socketio_path,
            "control_url": f"{sim.root_url}/_sim",
            "app_key": user.app_key,
            "secret_key": user.secret_key,
            "user_id": user.user_id,
        }
        print(json.dumps(line), flush=True)
        loop = asyncio.get_running_loop()
        while True:
            command = await loop.run_in_executor(None, sys.stdin.readline)
            if not command:
                return
            verb, _, arg = command.strip().partition(" ")
            if verb == "reset":
                sent.clear()
                print("ok", flush=True)
            elif verb == "dump":
                out = []
                for t_ns, text in sent:
                    match = _KEY.search(text)
                    if match:
                        out.append((int(match.group(1)), int(match.group(2)), t_ns))
                Path(arg).write_text(json.dumps(out))
                print(f"ok {len(out)}", flush=True)
            else:
                print(f"error unknown command {verb!r}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, required=True, help="ticks/s per instrument")
    parser.add_argument("--subscription-limit", type=int, default=500)
    parser.add_argument("--interval", type=float, default=0.02, help="emit_interval (s)")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
