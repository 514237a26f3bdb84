"""Simulator REST API, driven by plain aiohttp requests (no jainam-fsm client code)."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from jainam_fsm.simulator import Simulator, SimUser
from jainam_fsm.simulator.tokens import decode_claims
from tests.conftest import XtsProbe

SimFactory = Callable[..., Awaitable[Simulator]]


async def test_login_form_encoded_returns_documented_envelope(xts: XtsProbe) -> None:
    u = xts.user
    status, body = await xts.request(
        "POST",
        "/auth/login",
        data={"appKey": u.app_key, "secretKey": u.secret_key, "source": "WEBAPI"},
    )
    assert status == 200
    assert body["type"] == "success"
    assert body["code"] == "e-response-0010"
    assert body["description"] == "Provided Valid Credentials"
    assert body["result"]["userID"] == u.user_id
    claims = decode_claims(body["result"]["token"])
    assert claims["userID"] == f"{u.user_id}_{u.app_key}"
    assert claims["publicKey"] == u.app_key
    assert isinstance(claims["iat"], int)
    assert claims["exp"] == claims["iat"] + 86400


async def test_login_accepts_json_body(xts: XtsProbe) -> None:
    u = xts.user
    status, body = await xts.request(
        "POST",
        "/auth/login",
        json={"appKey": u.app_key, "secretKey": u.secret_key, "source": "WebAPI"},
    )
    assert status == 200
    assert body["code"] == "e-response-0010"
    token = body["result"]["token"]
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "==").decode())
    assert header == {"alg": "HS256", "typ": "JWT"}


async def test_token_lifetime_is_configurable(simulator_factory: SimFactory) -> None:
    sim = await simulator_factory(token_ttl=120)
    async with aiohttp.ClientSession() as http:
        token = await XtsProbe(sim, http).login()
    claims = decode_claims(token)
    assert claims["exp"] == claims["iat"] + 120


@pytest.mark.parametrize("field", ["appKey", "secretKey"])
async def test_login_with_wrong_credentials_gets_error_envelope(xts: XtsProbe, field: str) -> None:
    form = {"appKey": xts.user.app_key, "secretKey": xts.user.secret_key, "source": "WEBAPI"}
    form[field] = "wrong"
    status, body = await xts.request("POST", "/auth/login", data=form)
    assert status == 400
    assert body["type"] == "error"
    assert body["code"] == "e-app-0005"
    assert body["result"] == {}


async def test_login_without_fields_is_a_bad_request(xts: XtsProbe) -> None:
    status, body = await xts.request("POST", "/auth/login", data={"source": "WEBAPI"})
    assert status == 400
    assert body["description"] == "Bad Request"
    assert {e["field"] for e in body["result"]["errors"]} == {"appKey", "secretKey"}


async def test_new_login_invalidates_the_previous_token(xts: XtsProbe) -> None:
    first = await xts.login()
    second = await xts.login()
    assert first != second
    status, body = await xts.subscribe(first, 1501, (1, 22))
    assert (status, body["code"], body["description"]) == (400, "e-session-0007", "Invalid Token")
    status, body = await xts.subscribe(second, 1501, (1, 22))
    assert status == 200


async def test_logout_ends_the_session(xts: XtsProbe) -> None:
    token = await xts.login()
    status, body = await xts.request("DELETE", "/auth/logout", token)
    assert status == 200
    assert body["type"] == "success"
    assert body["code"] == "s-login-0005"
    status, body = await xts.subscribe(token, 1501, (1, 22))
    assert (status, body["code"]) == (400, "e-session-0007")
    status, body = await xts.request("DELETE", "/auth/logout", token)
    assert (status, body["code"]) == (400, "e-session-0007")
    assert xts.sim.stats()["logouts"] == 1


async def test_subscribe_returns_snapshots_as_json_strings(xts: XtsProbe) -> None:
    token = await xts.login()
    status, body = await xts.subscribe(token, 1501, (1, 22), (1, 2885), (2, 35001))
    assert status == 200
    assert body["type"] == "success"
    assert body["code"] == "s-session-0001"
    assert body["description"] == "Instrument subscribed successfully!"
    result = body["result"]
    assert result["mdp"] == 1501
    assert result["Remaining_Subscription_Count"] == 47
    assert result["quotesList"] == [
        {"exchangeSegment": 1, "exchangeInstrumentID": 22},
        {"exchangeSegment": 1, "exchangeInstrumentID": 2885},
        {"exchangeSegment": 2, "exchangeInstrumentID": 35001},
    ]
    assert len(result["listQuotes"]) == 3
    for raw, (seg, iid) in zip(result["listQuotes"], [(1, 22), (1, 2885), (2, 35001)], strict=True):
        assert isinstance(raw, str)  # double-encoded, like the real server
        quote = json.loads(raw)
        assert quote["MessageCode"] == 1501
        assert (quote["ExchangeSegment"], quote["ExchangeInstrumentID"]) == (seg, iid)


async def test_any_instrument_gets_a_price_walk(xts: XtsProbe) -> None:
    token = await xts.login()
    status, body = await xts.subscribe(token, 1512, (51, 424242))  # not in the universe
    assert status == 200
    quote = json.loads(body["result"]["listQuotes"][0])
    assert quote["ExchangeInstrumentID"] == 424242


async def test_repeat_subscription_is_400_already_subscribed(xts: XtsProbe) -> None:
    token = await xts.login()
    await xts.subscribe(token, 1501, (1, 22), (1, 467))
    status, body = await xts.subscribe(token, 1501, (1, 467), (1, 22))
    assert status == 400
    assert body["type"] == "error"
    assert body["code"] == "e-session-0002"
    assert body["description"] == "Instrument Already Subscribed !"
    assert body["result"]["Remaining_Subscription_Count"] == 48
    assert "listQuotes" not in body["result"]
    # the same instrument for another message code is a new subscription
    status, _ = await xts.subscribe(token, 1502, (1, 22))
    assert status == 200
    assert xts.sim.stats()["already_subscribed"] == 1


async def test_mixed_batch_subscribes_the_new_ones_only(xts: XtsProbe) -> None:
    token = await xts.login()
    await xts.subscribe(token, 1501, (1, 22))
    status, body = await xts.subscribe(token, 1501, (1, 22), (1, 467), (1, 2885))
    assert status == 200
    assert body["result"]["quotesList"] == [
        {"exchangeSegment": 1, "exchangeInstrumentID": 467},
        {"exchangeSegment": 1, "exchangeInstrumentID": 2885},
    ]
    assert len(body["result"]["listQuotes"]) == 2
    assert xts.sim.subscriptions() == {1501: {(1, 22), (1, 467), (1, 2885)}}


async def test_subscription_limit_counts_instrument_code_pairs(
    simulator_factory: SimFactory,
) -> None:
    sim = await simulator_factory(subscription_limit=3)
    async with aiohttp.ClientSession() as http:
        xts = XtsProbe(sim, http)
        token = await xts.login()
        status, body = await xts.subscribe(token, 1501, (1, 22), (1, 467))
        assert (status, body["result"]["Remaining_Subscription_Count"]) == (200, 1)
        # two new pairs, one slot left: the whole batch is refused
        status, body = await xts.subscribe(token, 1502, (1, 22), (1, 467))
        assert status == 400
        assert body["code"] == "e-session-0004"
        assert body["description"] == "Subscription limit exceeded"
        assert body["result"]["Remaining_Subscription_Count"] == 1
        assert sim.subscriptions() == {1501: {(1, 22), (1, 467)}}
        status, body = await xts.subscribe(token, 1502, (1, 22))
        assert (status, body["result"]["Remaining_Subscription_Count"]) == (200, 0)
        # unsubscribing frees a slot
        status, body = await xts.unsubscribe(token, 1501, (1, 467))
        assert (status, body["result"]["Remaining_Subscription_Count"]) == (200, 1)
        assert sim.stats()["limit_exceeded"] == 1


async def test_default_limit_is_fifty(xts: XtsProbe) -> None:
    token = await xts.login()
    status, body = await xts.subscribe(token, 1501, *[(1, 100 + i) for i in range(50)])
    assert (status, body["result"]["Remaining_Subscription_Count"]) == (200, 0)
    status, body = await xts.subscribe(token, 1512, (1, 22))
    assert (status, body["code"]) == (400, "e-session-0004")


async def test_unsubscribe_is_idempotent(xts: XtsProbe) -> None:
    token = await xts.login()
    await xts.subscribe(token, 1501, (1, 22), (1, 467))
    status, body = await xts.unsubscribe(token, 1501, (1, 22), (1, 999))
    assert status == 200
    assert body["type"] == "success"
    assert body["code"] == "s-response-0001"
    assert body["description"] == "Instrument subscription deleted!"
    assert body["result"]["mdp"] == 1501
    assert body["result"]["unsubList"] == [{"exchangeSegment": 1, "exchangeInstrumentID": 22}]
    assert body["result"]["Remaining_Subscription_Count"] == 49
    status, _ = await xts.unsubscribe(token, 1501, (1, 22))
    assert status == 200
    assert xts.sim.subscriptions() == {1501: {(1, 467)}}
    # after unsubscribing, subscribing again is a fresh subscription with a snapshot
    status, body = await xts.subscribe(token, 1501, (1, 22))
    assert status == 200 and len(body["result"]["listQuotes"]) == 1


async def test_quotes_need_publish_format(xts: XtsProbe) -> None:
    token = await xts.login()
    status, body = await xts.request(
        "POST", "/instruments/quotes", token, json=xts.body(1502, (1, 22))
    )
    assert status == 400
    assert body["result"]["errors"][0]["field"] == "publishFormat"
    await xts.subscribe(token, 1502, (1, 22))
    status, body = await xts.request(
        "POST",
        "/instruments/quotes",
        token,
        json=xts.body(1502, (1, 22), (1, 467), publishFormat="JSON"),
    )
    assert status == 200
    assert body["code"] == "s-quotes-0001"
    quotes = [json.loads(q) for q in body["result"]["listQuotes"]]
    assert [(q["ExchangeSegment"], q["ExchangeInstrumentID"]) for q in quotes] == [
        (1, 22),
        (1, 467),
    ]
    assert all(q["MessageCode"] == 1502 for q in quotes)


@pytest.mark.parametrize(
    "header",
    [None, "", "not-a-token", "Bearer {token}", "{token}x"],
    ids=["missing", "empty", "bogus", "bearer-prefix", "altered"],
)
async def test_invalid_token_is_400_e_session_0007(xts: XtsProbe, header: str | None) -> None:
    token = await xts.login()
    headers = {} if header is None else {"Authorization": header.format(token=token)}
    for method, path, body in [
        ("POST", "/instruments/subscription", xts.body(1501, (1, 22))),
        ("PUT", "/instruments/subscription", xts.body(1501, (1, 22))),
        ("POST", "/instruments/quotes", xts.body(1501, (1, 22), publishFormat="JSON")),
        ("DELETE", "/auth/logout", None),
    ]:
        status, answer = await xts.request(method, path, headers=headers, json=body)
        assert status == 400, (method, path)
        assert answer == {
            "type": "error",
            "code": "e-session-0007",
            "description": "Invalid Token",
            "result": {},
        }
    assert xts.sim.stats()["invalid_token_requests"] == 4


async def test_authorization_header_name_is_case_insensitive(xts: XtsProbe) -> None:
    token = await xts.login()
    status, _ = await xts.request(
        "POST",
        "/instruments/subscription",
        headers={"authorization": token},
        json=xts.body(1501, (1, 22)),
    )
    assert status == 200


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        "[]",
        {"instruments": [], "xtsMessageCode": 1501},
        {"instruments": [{"exchangeSegment": 1, "exchangeInstrumentID": 22}], "xtsMessageCode": 9},
        {
            "instruments": [{"exchangeSegment": 99, "exchangeInstrumentID": 22}],
            "xtsMessageCode": 1501,
        },
        {
            "instruments": [{"exchangeSegment": 1, "exchangeInstrumentID": "x"}],
            "xtsMessageCode": 1501,
        },
        {"instruments": ["1_22"], "xtsMessageCode": 1501},
    ],
    ids=["text", "array", "no-instruments", "bad-code", "bad-segment", "bad-id", "bad-item"],
)
async def test_malformed_subscription_is_a_bad_request(xts: XtsProbe, payload: object) -> None:
    token = await xts.login()
    kwargs = {"data": payload} if isinstance(payload, str) else {"json": payload}
    status, body = await xts.request("POST", "/instruments/subscription", token, **kwargs)
    assert status == 400
    assert body["type"] == "error"
    assert body["description"] == "Bad Request"
    assert body["result"]["errors"]
    assert xts.sim.stats()["bad_requests"] == 1


async def test_numeric_strings_are_accepted_as_ids(xts: XtsProbe) -> None:
    token = await xts.login()
    body = {
        "instruments": [{"exchangeSegment": "1", "exchangeInstrumentID": "22"}],
        "xtsMessageCode": "1501",
    }
    status, _ = await xts.request("POST", "/instruments/subscription", token, json=body)
    assert status == 200
    assert xts.sim.subscriptions() == {1501: {(1, 22)}}


async def test_new_login_clears_subscriptions_by_default(xts: XtsProbe) -> None:
    token = await xts.login()
    await xts.subscribe(token, 1501, (1, 22))
    token2 = await xts.login()
    assert xts.sim.subscriptions() == {}
    status, body = await xts.subscribe(token2, 1501, (1, 22))
    assert status == 200 and body["result"]["Remaining_Subscription_Count"] == 49


async def test_new_login_can_keep_subscriptions(simulator_factory: SimFactory) -> None:
    sim = await simulator_factory(keep_subscriptions_on_login=True)
    async with aiohttp.ClientSession() as http:
        xts = XtsProbe(sim, http)
        token = await xts.login()
        await xts.subscribe(token, 1501, (1, 22), (1, 467))
        token2 = await xts.login()
        assert sim.subscriptions() == {1501: {(1, 22), (1, 467)}}
        status, body = await xts.subscribe(token2, 1501, (1, 22))
        assert (status, body["code"]) == (400, "e-session-0002")
        assert body["result"]["Remaining_Subscription_Count"] == 48


async def test_sessions_of_different_app_keys_are_independent(
    simulator_factory: SimFactory,
) -> None:
    a = SimUser("appkey-a", "secret-a", "AAA001")
    b = SimUser("appkey-b", "secret-b", "BBB001")
    sim = await simulator_factory(users=(a, b))
    async with aiohttp.ClientSession() as http:
        xts = XtsProbe(sim, http)
        ta = await xts.login(a)
        tb = await xts.login(b)
        assert (await xts.subscribe(ta, 1501, (1, 22)))[0] == 200
        assert (await xts.subscribe(tb, 1501, (1, 22)))[0] == 200  # not "already": own session
        assert sim.subscriptions("AAA001") == {1501: {(1, 22)}}
        assert sim.subscriptions("BBB001") == {1501: {(1, 22)}}


async def test_prefix_is_configurable(simulator_factory: SimFactory) -> None:
    sim = await simulator_factory(prefix="/apibinarymarketdata")
    assert sim.base_url.endswith("/apibinarymarketdata")
    assert sim.socketio_path == "/apibinarymarketdata/socket.io"
    async with aiohttp.ClientSession() as http:
        token = await XtsProbe(sim, http).login()
        async with http.post(
            f"{sim.root_url}/apimarketdata/auth/login", data={"appKey": "x", "secretKey": "y"}
        ) as resp:
            assert resp.status == 404
    assert token


async def test_client_config(xts: XtsProbe) -> None:
    token = await xts.login()
    status, body = await xts.request("GET", "/config/clientConfig", token)
    assert status == 200
    assert body["result"]["exchangeSegments"]["NSECM"] == 1
    assert body["result"]["xtsMessageCode"]["touchlineEvent"] == 1501
    assert body["result"]["broadCastMode"] == ["Full", "Partial"]


async def test_stats_count_requests_and_batches(xts: XtsProbe) -> None:
    token = await xts.login()
    await xts.subscribe(token, 1501, (1, 22), (1, 467), (1, 2885))
    await xts.subscribe(token, 1501, (1, 22))
    await xts.unsubscribe(token, 1501, (1, 467), (1, 2885))
    stats = xts.sim.stats()
    assert stats["logins"] == 1
    assert stats["subscribe_requests"] == 2
    assert stats["unsubscribe_requests"] == 1
    assert stats["already_subscribed"] == 1
    assert stats["max_subscribe_batch"] == 3
    assert stats["subscribe_batch_sizes"] == [3, 1]
    assert stats["max_unsubscribe_batch"] == 2
    (session,) = stats["sessions"]
    assert session["user_id"] == xts.user.user_id
    assert session["subscriptions"] == {"1501": [[1, 22]]}
    assert session["remaining"] == 49
    json.dumps(stats)  # serialisable


async def test_secrets_never_reach_logs_or_stats(
    xts: XtsProbe, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = await xts.login()
    await xts.subscribe(token, 1501, (1, 22))
    await xts.request("POST", "/auth/login", data={"appKey": xts.user.app_key, "secretKey": "bad"})
    rec = await xts.connect(token)
    await rec.wait_count("1501-json-full", 1)
    await xts.sim.sever()
    await rec.wait_disconnect()
    text = caplog.text + json.dumps(xts.sim.stats()) + repr(xts.sim.config)
    assert xts.user.secret_key not in text
    assert token not in text
    assert token.split(".")[2] not in text
