"""``GET /instruments/subscription?xtsMessageCode=N``: the simulator's answer, read by plain
clients and by our REST client; servers without the route; answer shapes we accept."""

from __future__ import annotations

from typing import Any

import pytest

from jainam_fsm.core.ports import FeedToken
from jainam_fsm.errors import ConfigError, TokenRejected
from jainam_fsm.simulator import Simulator
from jainam_fsm.streaming import AdapterConfig
from jainam_fsm.transport.rest import XtsRestClient, _listed_instruments
from tests.conftest import XtsProbe


async def test_the_simulator_lists_a_sessions_subscriptions_per_code(xts: XtsProbe) -> None:
    token = await xts.login()
    await xts.subscribe(token, 1501, (1, 22), (1, 2885))
    await xts.subscribe(token, 1512, (2, 35001))
    status, body = await xts.request("GET", "/instruments/subscription?xtsMessageCode=1501", token)
    assert status == 200 and body["type"] == "success"
    listed = {
        (q["exchangeSegment"], q["exchangeInstrumentID"]) for q in body["result"]["quotesList"]
    }
    assert listed == {(1, 22), (1, 2885)} and body["result"]["mdp"] == 1501
    status, body = await xts.request("GET", "/instruments/subscription?xtsMessageCode=1505", token)
    assert status == 200 and body["result"]["quotesList"] == []
    status, body = await xts.request("GET", "/instruments/subscription?xtsMessageCode=1501", "bad")
    assert status == 400 and body["code"] == "e-session-0007"
    status, body = await xts.request("GET", "/instruments/subscription?xtsMessageCode=77", token)
    assert status == 400 and body["code"] == "e-app-0001"


async def test_our_client_reads_the_list_and_knows_when_it_is_not_offered(
    simulator_factory: Any,
) -> None:
    with_list: Simulator = await simulator_factory()
    without: Simulator = await simulator_factory(subscription_list=False)
    for sim, expected in ((with_list, ((1, 22),)), (without, None)):
        async with XtsRestClient(sim.root_url, prefix=sim.config.rest_prefix) as rest:
            user = sim.credentials
            login = await rest.login(user.app_key, user.secret_key)
            await rest.subscribe(login.token, 1501, [(1, 22)])
            assert await rest.subscription_list(login.token, 1501) == expected
            if expected is None:
                continue  # no route: nothing to say about the token
            # A 4xx error envelope (here: an unknown code) means "not offered", not a failure.
            assert await rest.subscription_list(login.token, 77) is None
            with pytest.raises(TokenRejected) as err:
                await rest.subscription_list(FeedToken("nope", "U"), 1501)
            assert "nope" not in str(err.value)


async def test_a_plain_http_server_without_the_route_means_not_offered() -> None:
    from aiohttp import web

    app = web.Application()
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with XtsRestClient(f"http://127.0.0.1:{port}") as rest:
            assert await rest.subscription_list(FeedToken("t", "U"), 1501) is None
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (
            {"mdp": 1501, "quotesList": [{"exchangeSegment": 1, "exchangeInstrumentID": 22}]},
            ((1, 22),),
        ),
        (
            {"instruments": [{"exchangeSegment": "2", "exchangeInstrumentID": "35001"}]},
            ((2, 35001),),
        ),
        ({"listQuotes": ['{"ExchangeSegment":1,"ExchangeInstrumentID":467}']}, ((1, 467),)),
        ([{"exchangeSegment": 1, "exchangeInstrumentID": 5}], ((1, 5),)),
        ({"quotesList": []}, ()),
        ({"Remaining_Subscription_Count": 48}, None),  # no list we know how to read
        ({"quotesList": [{"exchangeSegment": None, "exchangeInstrumentID": 1}]}, None),
        ({"quotesList": ["not json"]}, None),
        ({"quotesList": "x"}, None),
        (None, None),
    ],
)
def test_list_shapes(result: object, expected: object) -> None:
    assert _listed_instruments(result) == expected


def test_config_switches_are_booleans() -> None:
    base = {"base_url": "http://127.0.0.1:1", "app_key": "k", "secret_key": "s"}
    cfg = AdapterConfig(**base)
    assert cfg.list_subscriptions and not cfg.keep_server_subscriptions
    for name in ("keep_server_subscriptions", "list_subscriptions"):
        with pytest.raises(ConfigError) as err:
            AdapterConfig(**base, **{name: "yes"})  # type: ignore[arg-type]
        assert name in str(err.value) and "yes" not in str(err.value)
    env = {
        "JAINAM_BASE_URL": "http://127.0.0.1:1",
        "JAINAM_APP_KEY": "k",
        "JAINAM_SECRET_KEY": "s",
        "JAINAM_KEEP_SERVER_SUBSCRIPTIONS": "true",
        "JAINAM_LIST_SUBSCRIPTIONS": "off",
    }
    cfg = AdapterConfig.from_env(env)
    assert cfg.keep_server_subscriptions and not cfg.list_subscriptions
