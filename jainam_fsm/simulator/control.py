"""HTTP control API under ``/_sim/``: the fault switches, for the demo and external tools.

A test tool, not part of XTS: it listens wherever the simulator listens (loopback by default)
and has no authentication. Parameters come as a JSON body or as query parameters.

======================================  =====================================================
``POST /_sim/sever``                    abort every TCP connection (transport error)
``POST /_sim/disconnect``               clean server disconnect of every socket
``POST /_sim/stall`` ``seconds``        no data events for N s (omit = until unstall)
``POST /_sim/unstall``                  end a stall
``POST /_sim/down`` ``seconds``         stop listening for N s, then back on the same port
``POST /_sim/reject-logins`` ``seconds``  logins answer 5xx for N s
``POST /_sim/reject-credentials`` ``on``  logins answer wrong-credentials while on
``POST /_sim/invalidate-tokens`` ``disconnect``  kill every token
``POST /_sim/expire-tokens``            expire every token now
``POST /_sim/slow`` ``seconds``         delay every REST response
``POST /_sim/malformed`` ``count``      send N malformed payloads to every socket
``POST /_sim/restart``                  forget every session, drop every connection
``GET /_sim/stats``                     counters and sessions (JSON)
======================================  =====================================================
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

__all__ = ["Controllable", "add_control_routes", "parse_bool", "request_params"]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Controllable(Protocol):
    """What the control API drives (the :class:`~jainam_fsm.simulator.Simulator`)."""

    async def sever(self, *, exclude: object = None) -> int: ...
    async def disconnect_all(self) -> int: ...
    def stall(self, seconds: float | None = None) -> None: ...
    def unstall(self) -> None: ...
    async def go_down(self, seconds: float | None = None, *, exclude: object = None) -> None: ...
    def reject_logins(self, seconds: float) -> None: ...
    def reject_credentials(self, on: bool = True) -> None: ...
    async def invalidate_tokens(self, *, disconnect: bool = False) -> int: ...
    async def expire_tokens(self) -> int: ...
    def set_rest_delay(self, seconds: float) -> None: ...
    async def send_malformed(self, count: int = 1) -> int: ...
    async def restart(self, *, exclude: object = None) -> None: ...
    def stats(self) -> dict[str, Any]: ...


class _ParamError(ValueError):
    pass


async def request_params(request: web.Request) -> dict[str, Any]:
    """The query parameters of ``request`` updated by its JSON object body, if any.

    ``ValueError`` (a one-line reason) when the body is not a JSON object.
    """
    params: dict[str, Any] = dict(request.query)
    raw = await request.text()
    if raw.strip():
        try:
            body = json.loads(raw)
        except ValueError:
            raise _ParamError("body is not valid JSON") from None
        if not isinstance(body, dict):
            raise _ParamError("body must be a JSON object")
        params.update(body)
    return params


def _number(params: dict[str, Any], name: str, *, required: bool) -> float | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise _ParamError(f"{name} is required")
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _ParamError(f"{name} must be a number") from None
    if not number >= 0:  # also rejects NaN
        raise _ParamError(f"{name} must be >= 0")
    if number == math.inf:  # int(inf) would raise, an endless fault would never end
        raise _ParamError(f"{name} must be finite")
    return number


def _flag(params: dict[str, Any], name: str, default: bool) -> bool:
    return parse_bool(name, params.get(name, default))


def parse_bool(name: str, value: object) -> bool:
    """``value`` as a flag (a bool, or 1/0, true/false, yes/no, on/off); ``ValueError`` else."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise _ParamError(f"{name} must be true or false")


def _ok(action: str, closing: bool = False, **extra: Any) -> web.Response:
    # Faults that drop connections spare this request's own one; closing it after the answer
    # keeps the caller from reusing a connection that "should" have died.
    headers = {"Connection": "close"} if closing else None
    return web.json_response({"ok": True, "action": action, **extra}, headers=headers)


def add_control_routes(app: web.Application, sim: Controllable) -> None:
    """Register the ``/_sim/*`` routes of ``sim`` on ``app``."""

    async def sever(request: web.Request) -> web.StreamResponse:
        n = await sim.sever(exclude=request.transport)
        return _ok("sever", True, connections=n)

    async def disconnect(request: web.Request) -> web.StreamResponse:
        return _ok("disconnect", sockets=await sim.disconnect_all())

    async def stall(request: web.Request) -> web.StreamResponse:
        seconds = _number(await request_params(request), "seconds", required=False)
        sim.stall(seconds)
        return _ok("stall", seconds=seconds)

    async def unstall(request: web.Request) -> web.StreamResponse:
        sim.unstall()
        return _ok("unstall")

    async def down(request: web.Request) -> web.StreamResponse:
        seconds = _number(await request_params(request), "seconds", required=True)
        await sim.go_down(seconds, exclude=request.transport)
        return _ok("down", True, seconds=seconds)

    async def reject_logins(request: web.Request) -> web.StreamResponse:
        seconds = _number(await request_params(request), "seconds", required=True)
        assert seconds is not None
        sim.reject_logins(seconds)
        return _ok("reject-logins", seconds=seconds)

    async def reject_credentials(request: web.Request) -> web.StreamResponse:
        on = _flag(await request_params(request), "on", True)
        sim.reject_credentials(on)
        return _ok("reject-credentials", on=on)

    async def invalidate(request: web.Request) -> web.StreamResponse:
        flag = _flag(await request_params(request), "disconnect", False)
        n = await sim.invalidate_tokens(disconnect=flag)
        return _ok("invalidate-tokens", sessions=n, disconnect=flag)

    async def expire(request: web.Request) -> web.StreamResponse:
        return _ok("expire-tokens", sessions=await sim.expire_tokens())

    async def slow(request: web.Request) -> web.StreamResponse:
        seconds = _number(await request_params(request), "seconds", required=True)
        assert seconds is not None
        sim.set_rest_delay(seconds)
        return _ok("slow", seconds=seconds)

    async def malformed(request: web.Request) -> web.StreamResponse:
        count = _number(await request_params(request), "count", required=False)
        n = await sim.send_malformed(int(count) if count is not None else 1)
        return _ok("malformed", frames=n)

    async def restart(request: web.Request) -> web.StreamResponse:
        await sim.restart(exclude=request.transport)
        return _ok("restart", True)

    async def stats(request: web.Request) -> web.StreamResponse:
        return web.json_response(sim.stats())

    def guarded(handler: _Handler) -> _Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except _ParamError as exc:
                return web.json_response({"ok": False, "error": str(exc)}, status=400)

        return wrapped

    routes: list[tuple[str, str, _Handler]] = [
        ("POST", "sever", sever),
        ("POST", "disconnect", disconnect),
        ("POST", "stall", stall),
        ("POST", "unstall", unstall),
        ("POST", "down", down),
        ("POST", "reject-logins", reject_logins),
        ("POST", "reject-credentials", reject_credentials),
        ("POST", "invalidate-tokens", invalidate),
        ("POST", "expire-tokens", expire),
        ("POST", "slow", slow),
        ("POST", "malformed", malformed),
        ("POST", "restart", restart),
        ("GET", "stats", stats),
    ]
    for method, name, handler in routes:
        app.router.add_route(method, f"/_sim/{name}", guarded(handler))
