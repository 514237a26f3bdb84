"""Request validation and the XTS JSON envelope: pure functions, no server state.

Every REST handler of the simulator parses its input here; a request that fails raises
:class:`BadRequest`, which the REST middleware turns into XTS's ``e-app-0001`` answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from jainam_fsm.simulator.sessions import Instrument
from jainam_fsm.xts.codes import ExchangeSegment, is_known_code

__all__ = [
    "BadRequest",
    "as_int",
    "bad_request",
    "envelope",
    "invalid_token",
    "json_body",
    "json_response",
    "parse_code",
    "parse_instruments",
    "quotes_list",
]

_SEGMENTS: frozenset[int] = frozenset(int(s) for s in ExchangeSegment)
_JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}


class BadRequest(Exception):
    """A request failed validation; ``errors`` goes into ``result.errors``."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("bad request")
        self.errors = errors


def envelope(kind: str, code: str, description: str, result: dict[str, Any]) -> dict[str, Any]:
    """The XTS answer shape: ``{type, code, description, result}``."""
    return {"type": kind, "code": code, "description": description, "result": result}


def json_response(status: int, body: dict[str, Any]) -> web.Response:
    """A compact JSON response (as the real server sends it)."""
    return web.Response(
        status=status, text=json.dumps(body, separators=(",", ":")), headers=_JSON_HEADERS
    )


def invalid_token() -> web.Response:
    """400, not 401 (docs/xts-protocol.md §3: PY _request, OA rmoney)."""
    return json_response(400, envelope("error", "e-session-0007", "Invalid Token", {}))


def bad_request(errors: list[dict[str, str]]) -> web.Response:
    """The ``e-app-0001`` answer listing ``errors``."""
    return json_response(400, envelope("error", "e-app-0001", "Bad Request", {"errors": errors}))


def as_int(value: object, name: str) -> int:
    """An int from an int or a string of digits (the real server sends ids as strings too)."""
    if isinstance(value, bool):
        raise BadRequest([{"field": name, "message": f"{name} must be a number"}])
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise BadRequest([{"field": name, "message": f"{name} must be a number"}])


def parse_instruments(body: dict[str, Any]) -> list[Instrument]:
    """``body["instruments"]`` as ``(segment, id)`` pairs; a known segment each."""
    raw = body.get("instruments")
    if not isinstance(raw, list) or not raw:
        raise BadRequest(
            [{"field": "instruments", "message": "instruments must be a non-empty list"}]
        )
    out: list[Instrument] = []
    for n, item in enumerate(raw):
        if not isinstance(item, dict):
            raise BadRequest([{"field": f"instruments[{n}]", "message": "must be an object"}])
        seg = as_int(item.get("exchangeSegment"), f"instruments[{n}].exchangeSegment")
        iid = as_int(item.get("exchangeInstrumentID"), f"instruments[{n}].exchangeInstrumentID")
        if seg not in _SEGMENTS:
            raise BadRequest(
                [{"field": f"instruments[{n}].exchangeSegment", "message": "unknown segment"}]
            )
        out.append((seg, iid))
    return out


def parse_code(body: dict[str, Any]) -> int:
    """``body["xtsMessageCode"]``, a known message code."""
    code = as_int(body.get("xtsMessageCode"), "xtsMessageCode")
    if not is_known_code(code):
        raise BadRequest([{"field": "xtsMessageCode", "message": "unknown message code"}])
    return code


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object."""
    try:
        body = json.loads(await request.text() or "null")
    except ValueError:
        raise BadRequest([{"field": "body", "message": "body is not valid JSON"}]) from None
    if not isinstance(body, dict):
        raise BadRequest([{"field": "body", "message": "body must be a JSON object"}])
    return body


def quotes_list(instruments: Iterable[Instrument]) -> list[dict[str, int]]:
    """Instruments in the REST answers' ``{exchangeSegment, exchangeInstrumentID}`` form."""
    return [{"exchangeSegment": s, "exchangeInstrumentID": i} for s, i in instruments]
