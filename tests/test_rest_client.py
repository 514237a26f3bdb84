"""XtsRestClient against a scripted aiohttp server on 127.0.0.1: wire shape and error mapping."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from jainam_fsm.core.ports import FeedToken, RequestOutcome
from jainam_fsm.errors import (
    CredentialsRejected,
    SubscriptionRejected,
    TokenRejected,
    TransportFailure,
)
from jainam_fsm.transport.rest import LoginResult, SubscribeResult, XtsRestClient, jwt_expiry

SECRET = "Sup3rSecret$Key-0123456789"
APP_KEY = "appkey-abcdef-987654"


def b64(obj: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def make_jwt(claims: dict[str, Any]) -> str:
    return f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64(claims)}.c2lnbmF0dXJlLW5vdC1jaGVja2Vk"


TOKEN = make_jwt({"userID": "WD4594_appkey", "iat": 1753947979, "exp": 1754034379})
FEED = FeedToken(TOKEN, "WD4594", 1754034379.0)


def env(kind: str, code: str, desc: str, result: Any) -> dict[str, Any]:
    return {"type": kind, "code": code, "description": desc, "result": result}


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeXts:
    """Answers every request with ``reply(request_body) -> web.Response``."""

    reply: Callable[[Seen], web.StreamResponse] = field(
        default=lambda s: web.json_response(env("success", "x", "ok", {}))
    )
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.text()
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
        seen = Seen(request.method, request.path, dict(request.headers), body)
        self.seen.append(seen)
        result = self.reply(seen)
        if asyncio.iscoroutine(result):
            return await result  # type: ignore[no-any-return]
        return result


@pytest.fixture
async def fake() -> AsyncIterator[FakeXts]:
    fx = FakeXts()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fx.handle)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fx.url = f"http://127.0.0.1:{port}"
    yield fx
    await runner.cleanup()


def login_ok(s: Seen) -> web.Response:
    return web.json_response(
        env(
            "success",
            "e-response-0010",
            "Provided Valid Credentials",
            {
                "token": TOKEN,
                "userID": "WD4594",
                "appVersion": "5.0.15",
                "application_expiry_date": "30-10-2025",
            },
        )
    )


def assert_clean(text: str) -> None:
    for secret in (SECRET, TOKEN, APP_KEY):
        assert secret not in text


# -- JWT -------------------------------------------------------------------------------------


def test_jwt_expiry_reads_exp_without_verifying() -> None:
    assert jwt_expiry(TOKEN) == 1754034379.0
    assert jwt_expiry(make_jwt({"iat": 1})) is None
    assert jwt_expiry(make_jwt({"exp": "soon"})) is None
    assert jwt_expiry(make_jwt({"exp": True})) is None
    assert jwt_expiry("not-a-jwt") is None
    assert jwt_expiry("a.!!!.c") is None
    assert jwt_expiry(f"a.{b64([1, 2])}.c") is None


# -- login -----------------------------------------------------------------------------------


async def test_login_success_wire_shape(fake: FakeXts) -> None:
    fake.reply = login_ok
    async with XtsRestClient(fake.url) as client:
        res = await client.login(APP_KEY, SECRET)
    assert isinstance(res, LoginResult)
    assert res.token.value == TOKEN
    assert res.token.user_id == "WD4594"
    assert res.token.expires_at == 1754034379.0
    assert res.app_version == "5.0.15"
    (req,) = fake.seen
    assert (req.method, req.path) == ("POST", "/apimarketdata/auth/login")
    assert req.body == {"appKey": APP_KEY, "secretKey": SECRET, "source": "WEBAPI"}
    assert "Authorization" not in req.headers
    assert_clean(repr(res))


async def test_login_older_server_without_app_version(fake: FakeXts) -> None:
    fake.reply = lambda s: web.json_response(
        env("success", "e-response-0010", "ok", {"token": "opaque", "userID": "U1"})
    )
    async with XtsRestClient(fake.url + "/", prefix="apibinarymarketdata/") as client:
        res = await client.login(APP_KEY, SECRET, source="WebAPI")
    assert res.app_version is None and res.token.expires_at is None
    assert fake.seen[0].path == "/apibinarymarketdata/auth/login"
    assert fake.seen[0].body["source"] == "WebAPI"


@pytest.mark.parametrize("status", [400, 401, 403])
async def test_login_4xx_envelope_is_credentials_rejected(fake: FakeXts, status: int) -> None:
    fake.reply = lambda s: web.json_response(
        env("error", "e-app-0005", f"Invalid appKey {APP_KEY} or secretKey {SECRET}", {}),
        status=status,
    )
    async with XtsRestClient(fake.url) as client:
        with pytest.raises(CredentialsRejected) as ei:
            await client.login(APP_KEY, SECRET)
    assert "e-app-0005" in str(ei.value)
    assert_clean(str(ei.value) + repr(ei.value))


@pytest.mark.parametrize(
    "reply",
    [
        lambda s: web.json_response(env("error", "e-x", "boom", {}), status=500),
        lambda s: web.Response(status=503, text="<html>503</html>", content_type="text/html"),
        lambda s: web.json_response(env("error", "e-rate", "slow down", {}), status=429),
        lambda s: web.Response(status=404, text="Not Found"),
        lambda s: web.Response(status=200, text="definitely not json"),
        lambda s: web.json_response([1, 2, 3]),
        lambda s: web.json_response(env("success", "e-response-0010", "ok", {"userID": "U"})),
        lambda s: web.json_response(
            env("success", "e-response-0010", "ok", {"token": 123, "userID": "U"})
        ),
        lambda s: web.json_response(
            env("success", "e-response-0010", "ok", {"token": TOKEN, "userID": None})
        ),
        lambda s: web.json_response(env("success", "e-response-0010", "ok", "result-as-str")),
        lambda s: web.json_response({"type": "success"}),
    ],
    ids=[
        "500",
        "503-html",
        "429",
        "404-text",
        "non-json",
        "json-list",
        "no-token",
        "token-int",
        "userid-null",
        "result-str",
        "no-result",
    ],
)
async def test_login_lying_server_is_transport_failure(
    fake: FakeXts, reply: Callable[[Seen], web.Response]
) -> None:
    fake.reply = reply
    async with XtsRestClient(fake.url) as client:
        with pytest.raises(TransportFailure) as ei:
            await client.login(APP_KEY, SECRET)
    assert_clean(str(ei.value) + repr(ei.value))


async def test_login_network_error_and_timeout(fake: FakeXts) -> None:
    # Closed port: grab one from a socket we immediately close.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    async with XtsRestClient(f"http://127.0.0.1:{dead}") as client:
        with pytest.raises(TransportFailure, match="failed"):
            await client.login(APP_KEY, SECRET)

    never = asyncio.Event()

    async def hang(_s: Seen) -> web.Response:
        await never.wait()
        return web.json_response(env("error", "late", "too late", {}), status=500)

    fake.reply = hang  # type: ignore[assignment]
    async with XtsRestClient(fake.url, timeout=0.2) as client:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(TransportFailure, match="timed out"):
            await client.login(APP_KEY, SECRET)
        assert loop.time() - t0 < 5
    never.set()  # let the server finish the hung request so its shutdown is quick


# -- subscription calls ----------------------------------------------------------------------


def sub_ok(s: Seen) -> web.Response:
    return web.json_response(
        env(
            "success",
            "s-session-0001",
            "Instrument subscribed successfully!",
            {
                "mdp": 1501,
                "quotesList": s.body["instruments"],
                "listQuotes": ['{"MessageCode":1501}'],
                "Remaining_Subscription_Count": 48,
            },
        )
    )


async def test_subscribe_wire_shape_and_success(fake: FakeXts) -> None:
    fake.reply = sub_ok
    async with XtsRestClient(fake.url) as client:
        res = await client.subscribe(FEED, 1501, [(1, 2885), (2, 35001)])
    assert res == SubscribeResult(RequestOutcome.DONE, ('{"MessageCode":1501}',), 48)
    (req,) = fake.seen
    assert (req.method, req.path) == ("POST", "/apimarketdata/instruments/subscription")
    assert req.headers["Authorization"] == TOKEN  # bare, no "Bearer"
    assert req.body == {
        "instruments": [
            {"exchangeSegment": 1, "exchangeInstrumentID": 2885},
            {"exchangeSegment": 2, "exchangeInstrumentID": 35001},
        ],
        "xtsMessageCode": 1501,
    }


async def test_subscribe_already_subscribed(fake: FakeXts) -> None:
    fake.reply = lambda s: web.json_response(
        env(
            "error",
            "e-session-0002",
            "Instrument Already Subscribed !",
            {"Remaining_Subscription_Count": 47},
        ),
        status=400,
    )
    async with XtsRestClient(fake.url) as client:
        res = await client.subscribe(FEED, 1501, [(1, 22)])
    assert res == SubscribeResult(RequestOutcome.ALREADY, (), 47)


async def test_invalid_token_is_token_rejected_everywhere(fake: FakeXts) -> None:
    fake.reply = lambda s: web.json_response(
        env("error", "e-session-0007", "Invalid Token", {}), status=400
    )
    async with XtsRestClient(fake.url) as client:
        for call in (client.subscribe, client.unsubscribe, client.quotes):
            with pytest.raises(TokenRejected) as ei:
                await call(FEED, 1501, [(1, 22)])
            assert_clean(str(ei.value))
        await client.logout(FEED)  # an invalid token is as good as logged out


async def test_subscription_limit_is_subscription_rejected(fake: FakeXts) -> None:
    fake.reply = lambda s: web.json_response(
        env(
            "error",
            "e-session-0004",
            "Subscription limit exceeded",
            {"Remaining_Subscription_Count": 0},
        ),
        status=400,
    )
    async with XtsRestClient(fake.url) as client:
        with pytest.raises(SubscriptionRejected) as ei:
            await client.subscribe(FEED, 1501, [(1, 22)])
    assert ei.value.code == "e-session-0004"


@pytest.mark.parametrize(
    "reply",
    [
        lambda s: web.json_response(env("error", "e", "x", {}), status=502),
        lambda s: web.Response(status=200, text="<html/>"),
        lambda s: web.json_response(env("success", "s-session-0001", "ok", None)),
        lambda s: web.json_response(
            env("success", "s-session-0001", "ok", {"listQuotes": "not-a-list"})
        ),
        lambda s: web.json_response(
            env("success", "s-session-0001", "ok", {"listQuotes": [{"a": 1}]})
        ),
    ],
    ids=["502", "html", "result-null", "quotes-str", "quotes-objects"],
)
async def test_subscribe_lying_server_is_transport_failure(
    fake: FakeXts, reply: Callable[[Seen], web.Response]
) -> None:
    fake.reply = reply
    async with XtsRestClient(fake.url) as client:
        with pytest.raises(TransportFailure) as ei:
            await client.subscribe(FEED, 1501, [(1, 22)])
    assert_clean(str(ei.value))


async def test_subscribe_tolerates_missing_optional_fields(fake: FakeXts) -> None:
    fake.reply = lambda s: web.json_response(
        env("success", "s-session-0001", "ok", {"Remaining_Subscription_Count": True})
    )
    async with XtsRestClient(fake.url) as client:
        res = await client.subscribe(FEED, 1501, [(1, 22)])
    assert res == SubscribeResult(RequestOutcome.DONE, (), None)


async def test_unsubscribe_is_put_and_quotes_add_publish_format(fake: FakeXts) -> None:
    def reply(s: Seen) -> web.Response:
        if s.path.endswith("/quotes"):
            return web.json_response(
                env("success", "s-quotes-0001", "ok", {"listQuotes": ['{"q":1}', '{"q":2}']})
            )
        return web.json_response(
            env("success", "s-response-0001", "Instrument subscription deleted!", {"unsubList": []})
        )

    fake.reply = reply
    async with XtsRestClient(fake.url) as client:
        assert await client.unsubscribe(FEED, 1502, [(1, 22)]) is RequestOutcome.DONE
        assert await client.quotes(FEED, 1501, [(1, 22)]) == ('{"q":1}', '{"q":2}')
        await client.logout(FEED)
    unsub, quotes, logout = fake.seen
    assert (unsub.method, unsub.path) == ("PUT", "/apimarketdata/instruments/subscription")
    assert unsub.body["xtsMessageCode"] == 1502
    assert (quotes.method, quotes.path) == ("POST", "/apimarketdata/instruments/quotes")
    assert quotes.body["publishFormat"] == "JSON"
    assert (logout.method, logout.path) == ("DELETE", "/apimarketdata/auth/logout")
    assert logout.headers["Authorization"] == TOKEN


async def test_unsubscribe_bad_request_and_logout_failure(fake: FakeXts) -> None:
    fake.reply = lambda s: web.json_response(
        env("error", "e-bad", "Bad Request", {"errors": ["x"]}), status=400
    )
    async with XtsRestClient(fake.url) as client:
        with pytest.raises(SubscriptionRejected):
            await client.unsubscribe(FEED, 1501, [(1, 22)])
        fake.reply = lambda s: web.json_response(env("error", "e", "x", {}), status=500)
        with pytest.raises(TransportFailure):
            await client.logout(FEED)


# -- secrets and sessions --------------------------------------------------------------------


async def test_no_secret_in_logs_reprs_or_errors(
    fake: FakeXts, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []

    def echo_everything(s: Seen) -> web.Response:
        # A hostile server echoing the request (incl. headers) into its error description.
        return web.json_response(
            env("error", "e-x", json.dumps([s.headers, s.body]), {}), status=418
        )

    async with XtsRestClient(fake.url) as client:
        fake.reply = login_ok
        res = await client.login(APP_KEY, SECRET)
        texts += [repr(client), repr(res), str(res.token), repr(res.token)]
        fake.reply = echo_everything
        for coro in (
            client.login(APP_KEY, SECRET),
            client.subscribe(res.token, 1501, [(1, 22)]),
            client.quotes(res.token, 1501, [(1, 22)]),
            client.unsubscribe(res.token, 1501, [(1, 22)]),
        ):
            with pytest.raises(Exception) as ei:
                await coro
            texts += [str(ei.value), repr(ei.value)]
    info_or_above = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert not info_or_above, [r.getMessage() for r in info_or_above]
    texts += [r.getMessage() for r in caplog.records]
    assert any("auth/login" in r.getMessage() for r in caplog.records)  # debug lines exist
    for t in texts:
        assert_clean(t)


async def test_shared_session_is_not_closed(fake: FakeXts) -> None:
    fake.reply = login_ok
    async with aiohttp.ClientSession() as shared:
        async with XtsRestClient(fake.url, session=shared) as client:
            await client.login(APP_KEY, SECRET)
        assert not shared.closed
    with pytest.raises(TransportFailure, match="closed"):
        await XtsRestClient(fake.url, session=shared).login(APP_KEY, SECRET)


async def test_owned_session_reopens_after_aclose(fake: FakeXts) -> None:
    fake.reply = login_ok
    client = XtsRestClient(fake.url)
    await client.aclose()  # nothing to close yet
    await client.login(APP_KEY, SECRET)
    await client.aclose()
    await client.login(APP_KEY, SECRET)  # a new session on demand
    await client.aclose()
    assert len(fake.seen) == 2
