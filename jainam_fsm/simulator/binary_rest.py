"""REST details that differ between the simulator's flavours (JSON and binary API).

Both flavours share one handler set (login, subscribe, unsubscribe, list, quotes, config) and
one session model; this module holds what the binary flavour answers differently, with the
source of each fact in docs/xts-protocol.md:

* the other flavour's prefix answers an nginx HTML 404, not the JSON envelope [JSB], [JP];
* a subscribe success carries only ``Remaining_Subscription_Count`` [NET-LOG22];
* request bodies may be form-encoded with ``instruments`` as a JSON array string [NET].
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

__all__ = ["NGINX_404", "binary_subscribe_result", "nginx_not_found", "parse_body"]

#: What nginx answers for a location it does not route (its stock error page).
NGINX_404 = (
    "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"
    "<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


def nginx_not_found() -> web.Response:
    """The nginx-style HTML 404 of a prefix the server does not serve."""
    return web.Response(status=404, text=NGINX_404, content_type="text/html")


def binary_subscribe_result(remaining: int, list_quotes: list[str] | None) -> dict[str, Any]:
    """``result`` of a binary-API subscribe success: the remaining count only, as logged
    [NET-LOG22]; ``list_quotes`` (JSON strings) only when the ``subscribe_list_quotes`` knob
    asks for them."""
    result: dict[str, Any] = {"Remaining_Subscription_Count": remaining}
    if list_quotes is not None:
        result["listQuotes"] = list_quotes
    return result


class BodyError(ValueError):
    """The body is neither a JSON object nor a usable form."""


def parse_body(raw: str, content_type: str, *, allow_form: bool) -> dict[str, Any]:
    """The request body as a dict: a JSON object, or (``allow_form``) a form whose
    ``instruments`` field holds a JSON array string, as the official .NET client sends
    subscriptions [NET]. Raises :class:`BodyError` with a one-line reason."""
    text = raw.strip()
    if allow_form and text and "json" not in content_type and not text.startswith("{"):
        form: dict[str, Any] = dict(parse_qsl(raw, keep_blank_values=True))
        if "instruments" in form:
            try:
                form["instruments"] = json.loads(form["instruments"])
            except ValueError:
                raise BodyError("instruments is not a JSON array") from None
        return form
    try:
        body = json.loads(text or "null")
    except ValueError:
        raise BodyError("body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BodyError("body must be a JSON object")
    return body
