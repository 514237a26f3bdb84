"""A faithful XTS market-data simulator (REST + Socket.IO) with fault switches, for tests and demos.

* :class:`Simulator` -- asyncio API (``async with Simulator(config) as sim``).
* :class:`SimulatorThread` -- the same in a background thread, with sync fault wrappers.
* ``python -m jainam_fsm.simulator`` / ``jainam-fsm simulator`` -- run it standalone.

The protocol it implements, with sources and our assumptions, is in ``docs/xts-protocol.md``.
"""

from __future__ import annotations

from jainam_fsm.simulator.config import SimulatorConfig, SimUser, throwaway_user
from jainam_fsm.simulator.server import MALFORMED_KINDS, Simulator
from jainam_fsm.simulator.thread import SimulatorThread

__all__ = [
    "MALFORMED_KINDS",
    "SimUser",
    "Simulator",
    "SimulatorConfig",
    "SimulatorThread",
    "throwaway_user",
]
