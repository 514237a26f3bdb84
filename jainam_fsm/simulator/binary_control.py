"""Control routes of the binary knobs and of the emitted-tick record (test tool, no auth).

======================================  =====================================================
``GET /_sim/binary``                    the current :class:`~.config.BinaryKnobs` (JSON)
``POST /_sim/binary`` ``knob=value``    change knobs (any subset), answers the new ones
``GET /_sim/emitted``                   counts per ``seg:id:code``, opaque and corrupt counts
``GET /_sim/emitted`` ``segment,instrument,code``  the remembered ticks of that key
``POST /_sim/emitted/clear``            forget the record
======================================  =====================================================
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from aiohttp import web

from jainam_fsm.simulator.config import BinaryKnobs
from jainam_fsm.simulator.control import parse_bool, request_params
from jainam_fsm.simulator.emitted import EmittedLog

__all__ = ["BinaryControllable", "add_binary_control_routes", "knobs_from_params"]


class BinaryControllable(Protocol):
    """What these routes drive (the :class:`~jainam_fsm.simulator.Simulator`)."""

    @property
    def binary_knobs(self) -> BinaryKnobs: ...
    def set_binary_knobs(self, knobs: BinaryKnobs) -> None: ...
    @property
    def emitted_log(self) -> EmittedLog: ...


_BOOL_KNOBS = ("nan_total_value_traded", "subscribe_list_quotes")
_INT_KNOBS = ("packets_per_event", "extended_properties", "opaque_size")
_FLOAT_KNOBS = ("compressed_share", "opaque_share")


def knobs_from_params(current: BinaryKnobs, params: dict[str, Any]) -> BinaryKnobs:
    """``current`` with the knobs named in ``params`` changed; ``ValueError`` on a bad one."""
    known = {f.name for f in dataclasses.fields(BinaryKnobs)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"unknown knob(s): {', '.join(unknown)}")
    changes: dict[str, Any] = {}
    for name, value in params.items():
        try:
            if name in _BOOL_KNOBS:
                changes[name] = parse_bool(name, value)
            elif name in _INT_KNOBS:
                if isinstance(value, bool) or float(value) != int(float(value)):
                    raise ValueError
                changes[name] = int(float(value))
            elif name in _FLOAT_KNOBS:
                if isinstance(value, bool):
                    raise ValueError
                changes[name] = float(value)
            else:
                changes[name] = str(value).upper()
        except (TypeError, ValueError, OverflowError) as exc:  # Overflow: int(inf)
            if str(exc).endswith("true or false"):
                raise
            raise ValueError(f"{name}: bad value {value!r}") from None
    return dataclasses.replace(current, **changes)


def _error(text: str) -> web.Response:
    return web.json_response({"ok": False, "error": text}, status=400)


def add_binary_control_routes(app: web.Application, sim: BinaryControllable) -> None:
    """Register ``/_sim/binary`` and ``/_sim/emitted`` of ``sim`` on ``app``."""

    async def get_knobs(request: web.Request) -> web.StreamResponse:
        return web.json_response(dataclasses.asdict(sim.binary_knobs))

    async def set_knobs(request: web.Request) -> web.StreamResponse:
        try:
            knobs = knobs_from_params(sim.binary_knobs, await request_params(request))
        except ValueError as exc:
            return _error(str(exc))
        try:
            sim.set_binary_knobs(knobs)
        except RuntimeError as exc:
            return _error(str(exc))
        return web.json_response({"ok": True, "action": "binary", **dataclasses.asdict(knobs)})

    async def emitted(request: web.Request) -> web.StreamResponse:
        log = sim.emitted_log
        q = request.query
        if not any(k in q for k in ("segment", "instrument", "code")):
            return web.json_response(log.summary())
        try:
            key = (int(q["segment"]), int(q["instrument"]), int(q["code"]))
        except (KeyError, ValueError):
            return _error("segment, instrument and code must all be integers")
        ticks = [t.to_dict() for t in log.ticks(key)]
        return web.json_response({"count": log.counts().get(key, 0), "ticks": ticks})

    async def clear(request: web.Request) -> web.StreamResponse:
        sim.emitted_log.clear()
        return web.json_response({"ok": True, "action": "emitted-clear"})

    app.router.add_get("/_sim/binary", get_knobs)
    app.router.add_post("/_sim/binary", set_knobs)
    app.router.add_get("/_sim/emitted", emitted)
    app.router.add_post("/_sim/emitted/clear", clear)
