"""The /_sim/ HTTP control API, the SimulatorThread API and the command line."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio

from jainam_fsm.simulator import Simulator, SimulatorConfig, SimulatorThread, SimUser
from jainam_fsm.simulator.cli import add_subcommand, build_config
from tests.conftest import XtsProbe, eventually

REPO = Path(__file__).resolve().parents[1]


async def control(
    xts: XtsProbe, action: str, method: str = "POST", **kwargs: Any
) -> tuple[int, Any]:
    async with xts.http.request(method, f"{xts.sim.root_url}/_sim/{action}", **kwargs) as resp:
        return resp.status, await resp.json()


# -- HTTP control API -----------------------------------------------------------------------


async def test_control_sever_and_disconnect(xts: XtsProbe) -> None:
    token = await xts.login()
    rec = await xts.connect(token)
    status, body = await control(xts, "sever")
    assert status == 200 and body["ok"] and body["connections"] >= 1
    assert await rec.wait_disconnect() == "transport error"
    rec2 = await xts.connect(token)
    status, body = await control(xts, "disconnect")
    assert (status, body["sockets"]) == (200, 1)
    assert await rec2.wait_disconnect() == "server disconnect"


async def test_control_stall_with_json_body_and_query(xts: XtsProbe) -> None:
    status, body = await control(xts, "stall", json={"seconds": 30})
    assert (status, body["seconds"]) == (200, 30)
    assert xts.sim.stats()["stalled"]
    assert (await control(xts, "unstall"))[0] == 200
    assert not xts.sim.stats()["stalled"]
    status, _ = await control(xts, "stall", params={"seconds": "0.01"})
    assert status == 200
    await eventually(lambda: not xts.sim.stats()["stalled"])
    status, _ = await control(xts, "stall")  # no seconds: until unstalled
    assert status == 200 and xts.sim.stats()["stalled"]


async def test_control_down(xts: XtsProbe) -> None:
    token = await xts.login()
    rec = await xts.connect(token)
    status, body = await control(xts, "down", json={"seconds": 0.5})
    assert (status, body["action"]) == (200, "down")
    assert await rec.wait_disconnect() == "transport error"
    await eventually(lambda: not xts.sim.stats()["down"], what="back up")
    assert await xts.login()


async def test_control_logins_and_tokens(xts: XtsProbe) -> None:
    assert (await control(xts, "reject-logins", params={"seconds": 30}))[0] == 200
    u = xts.user
    status, _ = await xts.request(
        "POST", "/auth/login", data={"appKey": u.app_key, "secretKey": u.secret_key}
    )
    assert status == 503
    assert (await control(xts, "reject-logins", json={"seconds": 0}))[0] == 200
    assert (await control(xts, "reject-credentials", json={"on": True}))[0] == 200
    status, body = await xts.request(
        "POST", "/auth/login", data={"appKey": u.app_key, "secretKey": u.secret_key}
    )
    assert (status, body["code"]) == (400, "e-app-0005")
    assert (await control(xts, "reject-credentials", params={"on": "false"}))[0] == 200
    token = await xts.login()
    status, body = await control(xts, "invalidate-tokens")
    assert (status, body["sessions"]) == (200, 1)
    assert (await xts.subscribe(token, 1501, (1, 22)))[0] == 400
    token = await xts.login()
    assert (await control(xts, "expire-tokens"))[0] == 200
    assert (await xts.subscribe(token, 1501, (1, 22)))[0] == 400
    token = await xts.login()
    rec = await xts.connect(token)
    status, _ = await control(xts, "invalidate-tokens", json={"disconnect": True})
    assert status == 200
    assert await rec.wait_disconnect() == "server disconnect"


async def test_control_slow_malformed_restart_stats(xts: XtsProbe) -> None:
    assert (await control(xts, "slow", json={"seconds": 0.2}))[0] == 200
    start = time.monotonic()
    token = await xts.login()
    assert time.monotonic() - start >= 0.2
    assert (await control(xts, "slow", json={"seconds": 0}))[0] == 200
    rec = await xts.connect(token)
    status, body = await control(xts, "malformed", json={"count": 3})
    assert (status, body["frames"]) == (200, 3)
    await rec.wait_count("1501-json-full", 3)
    status, stats = await control(xts, "stats", "GET")
    assert status == 200
    for key in (
        "logins",
        "logouts",
        "subscribe_requests",
        "unsubscribe_requests",
        "already_subscribed",
        "invalid_token_requests",
        "socket_connects",
        "socket_disconnects",
        "events_emitted",
        "max_subscribe_batch",
        "sessions",
    ):
        assert key in stats
    assert stats["malformed_sent"] == 3
    assert stats["sessions"][0]["user_id"] == xts.user.user_id
    status, _ = await control(xts, "restart")
    assert status == 200
    assert await rec.wait_disconnect() == "transport error"
    assert (await xts.subscribe(token, 1501, (1, 22)))[0] == 400


@pytest.mark.parametrize(
    ("action", "kwargs"),
    [
        ("stall", {"json": {"seconds": -1}}),
        ("stall", {"params": {"seconds": "soon"}}),
        ("down", {}),
        ("reject-logins", {"data": "{not json"}),
        ("reject-credentials", {"json": {"on": "maybe"}}),
        ("slow", {"json": ["seconds", 1]}),
        ("malformed", {"json": {"count": "inf"}}),
        ("down", {"json": {"seconds": float("inf")}}),  # sent as Infinity, read back as inf
    ],
)
async def test_control_rejects_bad_parameters(
    xts: XtsProbe, action: str, kwargs: dict[str, Any]
) -> None:
    status, body = await control(xts, action, **kwargs)
    assert status == 400
    assert body["ok"] is False and body["error"]
    assert not xts.sim.stats()["down"]


async def test_control_sever_spares_the_caller(xts: XtsProbe) -> None:
    # the control request's own connection survives its sever and gets an answer
    for _ in range(3):
        status, body = await control(xts, "sever")
        assert status == 200 and body["ok"]


# -- SimulatorThread (sync) ------------------------------------------------------------------


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _login(sim: SimulatorThread) -> str:
    u = sim.credentials
    form = f"appKey={u.app_key}&secretKey={u.secret_key}&source=WEBAPI".encode()
    with urllib.request.urlopen(sim.base_url + "/auth/login", data=form, timeout=5) as resp:
        return str(json.load(resp)["result"]["token"])


def _subscribe(sim: SimulatorThread, token: str) -> None:
    body = json.dumps(
        {
            "instruments": [{"exchangeSegment": 1, "exchangeInstrumentID": 22}],
            "xtsMessageCode": 1501,
        }
    ).encode()
    req = urllib.request.Request(
        sim.base_url + "/instruments/subscription",
        data=body,
        headers={"Authorization": token, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 200


def _wait(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_thread_api_with_a_sync_socketio_client(simulator_thread: SimulatorThread) -> None:
    sim = simulator_thread
    token = _login(sim)
    _subscribe(sim, token)
    client = socketio.Client(reconnection=False)
    ticks: list[str] = []
    reasons: list[str] = []
    client.on("1501-json-full", ticks.append)
    client.on("disconnect", lambda reason=None: reasons.append(str(reason)))
    url = (
        f"{sim.root_url}/?token={token}&userID={sim.credentials.user_id}"
        "&publishFormat=JSON&broadcastMode=Full"
    )
    client.connect(url, transports=["websocket"], socketio_path=sim.socketio_path)
    try:
        _wait(lambda: len(ticks) >= 2)
        assert sim.stats()["socket_connects"] == 1
        assert sim.subscriptions() == {1501: {(1, 22)}}
        sim.stall(30)
        assert sim.stats()["stalled"]
        sim.unstall()
        assert sim.send_malformed(1) == 1
        assert sim.sever() >= 1
        _wait(lambda: reasons)
        assert reasons == ["transport error"]
    finally:
        client.disconnect()
        client.shutdown()


def test_thread_faults_round_trip(simulator_thread: SimulatorThread) -> None:
    sim = simulator_thread
    token = _login(sim)
    sim.set_rest_delay(0)
    sim.reject_credentials(True)
    with pytest.raises(urllib.error.HTTPError) as err:
        _login(sim)
    assert err.value.code == 400
    sim.reject_credentials(False)
    sim.reject_logins(30)
    with pytest.raises(urllib.error.HTTPError) as err:
        _login(sim)
    assert err.value.code == 503
    sim.reject_logins(0)
    token = _login(sim)
    assert sim.expire_tokens() == 1
    token = _login(sim)
    assert sim.invalidate_tokens() == 1
    assert sim.disconnect_all() == 0
    sim.go_down()
    assert not _port_open(sim.port)
    sim.come_up()
    assert _port_open(sim.port)
    sim.restart()
    assert sim.stats()["sessions"] == []
    assert token


def test_thread_stop_leaves_nothing_behind() -> None:
    before = {t.ident for t in threading.enumerate()}
    sim = SimulatorThread(SimulatorConfig(rate=50)).start()
    port = sim.port
    token = _login(sim)
    _subscribe(sim, token)
    client = socketio.Client(reconnection=False)
    url = f"{sim.root_url}/?token={token}&userID={sim.credentials.user_id}&publishFormat=JSON"
    client.connect(url, transports=["websocket"], socketio_path=sim.socketio_path)
    sim.stop()
    _wait(lambda: not client.connected)
    client.shutdown()
    sim.stop()  # idempotent
    assert not _port_open(port)
    _wait(lambda: {t.ident for t in threading.enumerate()} <= before)
    with pytest.raises(RuntimeError):
        sim.stats()


def test_thread_start_failure_is_reported() -> None:
    with SimulatorThread() as first:
        taken = SimulatorThread(SimulatorConfig(port=first.port))
        with pytest.raises(OSError):
            taken.start()


# -- command line ----------------------------------------------------------------------------


def _spawn(*args: str, entry: tuple[str, ...] = ("jainam_fsm.simulator",)) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", *entry, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


@pytest.mark.parametrize(
    ("sig", "entry"),
    [
        (signal.SIGTERM, ("jainam_fsm.simulator",)),
        (signal.SIGINT, ("jainam_fsm.simulator",)),
        (signal.SIGTERM, ("jainam_fsm.cli", "simulator")),  # `jainam-fsm simulator`
    ],
)
def test_cli_prints_credentials_then_serves_until_signal(
    sig: signal.Signals, entry: tuple[str, ...]
) -> None:
    proc = _spawn("--port", "0", "--app-key", "cli-app", "--secret-key", "cli-secret", entry=entry)
    try:
        assert proc.stdout is not None
        line = json.loads(proc.stdout.readline())
        assert {"base_url", "app_key", "secret_key", "user_id"} <= set(line)
        assert (line["app_key"], line["secret_key"], line["user_id"]) == (
            "cli-app",
            "cli-secret",
            "SIM001",
        )
        assert line["base_url"].startswith("http://127.0.0.1:")
        form = b"appKey=cli-app&secretKey=cli-secret&source=WEBAPI"
        with urllib.request.urlopen(line["base_url"] + "/auth/login", data=form, timeout=5) as r:
            token = json.load(r)["result"]["token"]
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
        _, err = proc.communicate()
        assert token not in err and "cli-secret" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_random_credentials_by_default() -> None:
    proc = _spawn("--rate", "5", "--seed", "3", "--instrument", "1:22", "--instrument", "2_35001")
    try:
        assert proc.stdout is not None
        line = json.loads(proc.stdout.readline())
        assert line["app_key"].startswith("sim") and len(line["secret_key"]) > 8
        with urllib.request.urlopen(line["root_url"] + "/_sim/stats", timeout=5) as r:
            assert json.load(r)["universe"] == [[1, 22], [2, 35001]]
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_add_subcommand_builds_the_config() -> None:
    parser = argparse.ArgumentParser(prog="jainam-fsm")
    add_subcommand(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "simulator",
            "--port",
            "0",
            "--rate",
            "7.5",
            "--broadcast-mode",
            "partial",
            "--subscription-limit",
            "10",
            "--seed",
            "42",
            "--on-session-end",
            "silent",
            "--keep-subscriptions-on-login",
        ]
    )
    assert callable(args.func)
    config = build_config(args)
    assert config.rate == 7.5
    assert config.broadcast_mode.value == "Partial"
    assert config.subscription_limit == 10
    assert config.seed == 42
    assert config.on_session_end == "silent"
    assert config.keep_subscriptions_on_login
    with pytest.raises(SystemExit):
        parser.parse_args(["simulator", "--instrument", "nonsense"])


async def test_cli_style_config_drives_a_real_simulator() -> None:
    """Sanity: a config built from flags serves logins (guards the flag plumbing)."""
    parser = argparse.ArgumentParser()
    add_subcommand(parser.add_subparsers())
    config = build_config(parser.parse_args(["simulator", "--app-key", "k", "--secret-key", "s"]))
    async with Simulator(config) as sim, aiohttp.ClientSession() as http:
        status, _ = await XtsProbe(sim, http).request(
            "POST", "/auth/login", data={"appKey": "k", "secretKey": "s"}
        )
        assert status == 200


# -- configuration and lifecycle ---------------------------------------------------------------

_SAME = SimUser("same-key", "s1", "U1")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"users": ()},
        {"users": (_SAME, _SAME)},
        {"prefix": "apimarketdata"},
        {"prefix": "/apimarketdata/"},
        {"rate": -1},
        {"emit_interval": 0},
        {"subscription_limit": -1},
        {"token_ttl": 0},
        {"ping_interval": 0},
        {"on_session_end": "loud"},
        {"login_failure_status": 404},
    ],
)
def test_config_rejects_bad_values(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SimulatorConfig(**kwargs)


def test_secret_stays_out_of_reprs() -> None:
    config = SimulatorConfig(users=(SimUser("key", "very-secret-value", "U1"),))
    assert "very-secret-value" not in repr(config)
    assert "very-secret-value" not in repr(config.users[0])


async def test_simulator_starts_once_and_stops_idempotently() -> None:
    sim = Simulator(SimulatorConfig())
    await sim.start()
    with pytest.raises(RuntimeError):
        await sim.start()
    port = sim.port
    await sim.stop()
    await sim.stop()
    assert not _port_open(port)
    with pytest.raises(RuntimeError):
        await sim.start()


def test_control_does_not_import_the_server() -> None:
    # The control API drives a protocol; importing the server from it made an import loop.
    import ast
    import inspect

    from jainam_fsm.simulator import control

    tree = ast.parse(inspect.getsource(control))
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert not any(m.startswith("jainam_fsm.simulator.server") for m in imported), imported
