"""The faults of ``jainam-fsm soak``: what each does to the simulator, and what it may cost.

The adapter-level ones (``reject_credentials`` needs a revive, ``process_restart`` a new adapter)
are driven by :class:`jainam_fsm.commands.soak.Soak`; :func:`inject` does the rest.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from jainam_fsm.simulator import SimulatorThread
from jainam_fsm.simulator.config import BinaryKnobs

__all__ = ["BINARY_FAULTS", "FAULTS", "STALL_TIMEOUT", "Fault", "inject"]

#: Seconds the feed may be silent before the watchdog reconnects (short: stalls are faults).
STALL_TIMEOUT = 2.0


@dataclass(frozen=True)
class Fault:
    """One kind of fault: how to inject it and whether it kills the token (1 login allowed)."""

    name: str
    kills_token: bool
    #: reconnect expected (a new ``connection.ready``) before the checks
    reconnects: bool


FAULTS: tuple[Fault, ...] = (
    Fault("sever", False, True),
    Fault("disconnect", False, True),
    Fault("stall", False, True),
    Fault("down", False, True),
    Fault("reject_logins", True, True),
    Fault("invalidate", True, True),
    Fault("expire", True, True),
    Fault("slow_rest", False, True),
    Fault("malformed", False, False),
    Fault("restart", True, True),
    Fault("reject_credentials", True, True),
    Fault("process_restart", False, True),
)

#: Binary API only: the packet format changes mid-stream (layout A/B, compression share,
#: packets per event, NaN turnover, extended properties, opaque 1512 packets).
BINARY_FAULTS: tuple[Fault, ...] = (Fault("binary_knobs", False, False),)


def inject(sim: SimulatorThread, rng: random.Random, name: str) -> dict[str, Any]:
    """Inject the simulator fault ``name``; returns its parameters (for the report)."""
    if name == "sever":
        return {"connections": sim.sever()}
    if name == "disconnect":
        return {"sockets": sim.disconnect_all()}
    if name == "stall":
        seconds = round(STALL_TIMEOUT * rng.uniform(1.3, 2.5), 2)
        sim.stall(seconds)
        return {"seconds": seconds}
    if name == "down":
        seconds = round(rng.uniform(0.3, 2.5), 2)
        sim.go_down(seconds)
        return {"seconds": seconds}
    if name == "reject_logins":
        seconds = round(rng.uniform(0.5, 2.5), 2)
        sim.reject_logins(seconds)
        sim.invalidate_tokens(disconnect=True)
        return {"seconds": seconds}
    if name == "invalidate":
        disconnect = rng.random() < 0.5
        sim.invalidate_tokens(disconnect=disconnect)
        return {"disconnect": disconnect}
    if name == "expire":
        return {"sessions": sim.expire_tokens()}
    if name == "slow_rest":
        delay = round(rng.uniform(0.2, 1.2), 2)
        sim.set_rest_delay(delay)
        sim.sever()  # the reconnect and its replay go through the slow REST
        return {"delay": delay}
    if name == "malformed":
        count = rng.randint(1, 25)
        return {"frames": sim.send_malformed(count)}
    if name == "restart":
        sim.restart()
        return {}
    if name == "binary_knobs":
        knobs = BinaryKnobs(
            layout=rng.choice(("A", "B")),
            compressed_share=rng.choice((0.0, 0.5, 1.0)),
            packets_per_event=rng.randint(1, 4),
            nan_total_value_traded=rng.random() < 0.3,
            extended_properties=rng.randint(0, 3),
            opaque_share=rng.choice((0.0, 0.3)),
        )
        sim.set_binary_knobs(knobs)
        return {
            "layout": knobs.layout,
            "compressed_share": knobs.compressed_share,
            "packets_per_event": knobs.packets_per_event,
            "nan_total_value_traded": knobs.nan_total_value_traded,
            "extended_properties": knobs.extended_properties,
            "opaque_share": knobs.opaque_share,
        }
    raise ValueError(name)
