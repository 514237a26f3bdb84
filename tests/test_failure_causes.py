"""Connection failures name their cause: one real server (or non-server) on 127.0.0.1 per cause,
dialled by the REST client (login), by the socket transport (Socket.IO connect), by the whole
adapter (telemetry, the give-up) and by ``jainam-fsm stream`` (its exit message)."""

# ruff: noqa: F811  (the harness fixture is imported, then requested by name)
from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from jainam_fsm.core.backoff import BackoffPolicy
from jainam_fsm.core.causes import Cause
from jainam_fsm.core.machine import State
from jainam_fsm.core.ports import FeedToken
from jainam_fsm.errors import TransportFailure
from jainam_fsm.store import TokenStore
from jainam_fsm.streaming import AdapterConfig, StreamingAdapter
from jainam_fsm.streaming.ioloop import IoThread
from jainam_fsm.streaming.transport import XtsTransport
from jainam_fsm.transport.rest import XtsRestClient
from tests.cause_servers import CauseServers
from tests.test_adapter_support import (
    PEPPER,
    Harness,
    RecordingTelemetry,
    harness,  # noqa: F401  (fixture)
    token_factory,
    wait_for,
)

APP_KEY = "cause-test-app-key"
SECRET = "cause-test-secret-0123456789"
TOKEN = "header.cause-test-token-value.sig"
#: A name that cannot resolve (RFC 6761 reserves .invalid).
UNRESOLVABLE = "https://jainam-fsm-cause-test.invalid:8443"

#: (case, server, scheme) -> the cause of a REST login / of a socket connect.
CASES: dict[str, tuple[str, str, Cause, Cause]] = {
    "tls_self_signed": ("tls", "https", Cause.TLS_VERIFY, Cause.TLS_VERIFY),
    "dns": ("", "", Cause.DNS, Cause.DNS),
    "refused": ("closed", "http", Cause.REFUSED, Cause.REFUSED),
    "blackhole": ("blackhole", "http", Cause.TIMEOUT, Cause.TIMEOUT),
    "html_200": ("html200", "http", Cause.NOT_XTS, Cause.NOT_SOCKETIO),
    "html_404": ("html404", "http", Cause.NOT_XTS, Cause.NOT_SOCKETIO),
    "html_502": ("html502", "http", Cause.HTTP_STATUS, Cause.HTTP_STATUS),
    "https_to_http": ("html200", "https", Cause.SCHEME_MISMATCH, Cause.SCHEME_MISMATCH),
    "http_to_tls": ("tls", "http", Cause.SCHEME_MISMATCH, Cause.SCHEME_MISMATCH),
}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CauseServers]:
    with CauseServers(tmp_path_factory.mktemp("tls")) as s:
        yield s


def _url(servers: CauseServers, case: str) -> str:
    server, scheme, _, _ = CASES[case]
    return UNRESOLVABLE if not server else servers.url(server, scheme)


def _timeout(case: str) -> float:
    """Short where the timeout is the cause; long elsewhere, so that an answer slowed by a loaded
    machine is never mistaken for a timeout (those cases end as soon as the answer comes)."""
    return 0.5 if CASES[case][2] is Cause.TIMEOUT else 10.0


@pytest.mark.parametrize("case", sorted(CASES))
def test_rest_login_failure_names_its_cause(servers: CauseServers, case: str) -> None:
    async def login() -> None:
        async with XtsRestClient(_url(servers, case), timeout=_timeout(case)) as rest:
            await rest.login(APP_KEY, SECRET)

    with pytest.raises(TransportFailure) as info:
        asyncio.run(login())
    assert info.value.cause is CASES[case][2], str(info.value)
    assert SECRET not in str(info.value) and APP_KEY not in str(info.value)


class _Snapshots:
    def begin(self, code: int, instruments: Sequence[tuple[int, int]]) -> None: ...

    def deliver(self, code: int, quotes: Sequence[str]) -> None: ...

    def end(self, code: int, instruments: Sequence[tuple[int, int]]) -> None: ...

    def connecting(self) -> None: ...


@pytest.mark.parametrize("case", sorted(CASES))
def test_socket_connect_failure_names_its_cause(servers: CauseServers, case: str) -> None:
    timeout = _timeout(case)
    config = AdapterConfig(
        base_url=_url(servers, case),
        app_key=APP_KEY,
        secret_key=SECRET,
        connect_timeout=timeout,
        request_timeout=timeout,
        join_timeout=timeout,
    )
    io = IoThread()
    io.start()
    transport = XtsTransport(
        config,
        io=io,
        rest=XtsRestClient(config.base_url, timeout=timeout),
        on_data=lambda name, data: None,
        on_link=lambda gen, kind, detail: None,
        on_snapshot=_Snapshots(),
    )
    try:
        with pytest.raises(TransportFailure) as info:
            transport.open(FeedToken(TOKEN, user_id="U1"))
    finally:
        transport.close()
        io.stop()
    assert info.value.cause is CASES[case][3], str(info.value)
    text = str(info.value)
    assert "Connection error" not in text  # python-socketio's word for everything
    assert TOKEN not in text and "cause-test-token" not in text


def _adapter(
    servers: CauseServers, tmp_path: Path, url: str, tel: RecordingTelemetry, policy: BackoffPolicy
) -> tuple[StreamingAdapter, list[str], TokenStore]:
    store = TokenStore(f"sqlite:///{tmp_path / 't.db'}", pepper=PEPPER)
    reasons: list[str] = []
    adapter = StreamingAdapter(
        AdapterConfig(
            base_url=url,
            app_key=APP_KEY,
            secret_key=SECRET,
            # The servers answer (TLS alert, refusal) at once; a long timeout only keeps a slow
            # answer on a loaded machine from turning into a timeout cause.
            connect_timeout=10.0,
            request_timeout=10.0,
            join_timeout=10.0,
            backoff=policy,
        ),
        lambda tick: None,
        token_source=token_factory(store),
        telemetry=tel,
        on_exhausted=reasons.append,
    )
    return adapter, reasons, store


def test_permanent_cause_is_error_at_once_and_gives_up_named(
    servers: CauseServers, tmp_path: Path
) -> None:
    """A self-signed certificate: ERROR on the first failure, exhausted on the confirming
    second, with the cause named; not 20 silent retries."""
    tel = RecordingTelemetry()
    policy = BackoffPolicy(initial=0.05, max_delay=0.1, max_attempts=20)
    adapter, reasons, store = _adapter(servers, tmp_path, servers.url("tls", "https"), tel, policy)
    try:
        adapter.subscribe(1, 22)
        adapter.connect()
        wait_for(lambda: reasons, timeout=20, what="the give-up")
        assert adapter.state() is State.EXHAUSTED
        assert adapter.stats()["exhausted_cause"] == "tls_verify"
    finally:
        adapter.shutdown()
        store.close()
    assert reasons[0].startswith("permanent failure [tls_verify] on 2 attempts in a row")
    scheduled = [(lvl, f) for e, lvl, f in tel.events if e == "reconnect.scheduled"]
    assert len(scheduled) == 1  # one confirming retry, not the budget of 20
    level, fields = scheduled[0]
    assert level == logging.ERROR and fields["cause"] == "tls_verify" and fields["permanent"]
    (exhausted,) = tel.of("lifecycle.exhausted")
    assert exhausted["cause"] == "tls_verify" and exhausted["permanent"] is True
    failed = tel.of("token.login_failed")
    assert failed and all(f["cause"] == "tls_verify" for f in failed)


def test_transient_cause_spends_the_budget_and_is_named(
    servers: CauseServers, tmp_path: Path
) -> None:
    tel = RecordingTelemetry()
    policy = BackoffPolicy(initial=0.05, max_delay=0.1, max_attempts=3)
    adapter, reasons, store = _adapter(servers, tmp_path, servers.url("closed"), tel, policy)
    try:
        adapter.subscribe(1, 22)
        adapter.connect()
        wait_for(lambda: reasons, timeout=20, what="the give-up")
    finally:
        adapter.shutdown()
        store.close()
    assert reasons[0].startswith("3 attempts spent; last: token_unavailable [refused]: ")
    assert adapter.stats()["exhausted_cause"] is None  # shut down: no longer exhausted
    scheduled = [(lvl, f) for e, lvl, f in tel.events if e == "reconnect.scheduled"]
    assert [lvl for lvl, _ in scheduled] == [logging.WARNING] * 3
    assert all(f["cause"] == "refused" and f["permanent"] is False for _, f in scheduled)
    assert tel.of("lifecycle.exhausted")[0]["cause"] == "refused"


def test_cli_exit_message_names_the_cause(servers: CauseServers, tmp_path: Path) -> None:
    env = dict(os.environ)
    env.update(
        JAINAM_APP_KEY=APP_KEY,
        JAINAM_SECRET_KEY=SECRET,
        JAINAM_TOKEN_PEPPER=PEPPER,
        JAINAM_BACKOFF_INITIAL="0.05",
        JAINAM_BACKOFF_MAX="0.1",
    )
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "jainam_fsm.cli",
            "stream",
            "--base-url",
            servers.url("html200", "https"),
            "--subscribe",
            "1:22",
            "--db",
            str(tmp_path / "t.db"),
            "--duration",
            "60",
        ],
        capture_output=True,
        check=False,
        env=env,
        text=True,
        timeout=60,
    )
    assert res.returncode == 1
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "jainam-fsm stream: gave up (exhausted, cause scheme_mismatch): "
        "permanent failure [scheme_mismatch] on 2 attempts in a row (http/https mix-up"
    )
    assert last.count("http/https mix-up") == 1  # the meaning once, not in head and reason
    assert SECRET not in res.stderr


def test_socket_path_that_is_not_socketio_gives_up_named(harness: Harness) -> None:
    """The login works (the REST prefix is right), the socket path is not Socket.IO: the
    socket connect's cause ends the stream after the confirming retry, and says where."""
    tel = RecordingTelemetry()
    reasons: list[str] = []
    adapter = harness.adapter(
        telemetry=tel, on_exhausted=reasons.append, socket_path="/not/socket.io"
    )
    adapter.subscribe(1, 22)
    adapter.connect()
    wait_for(lambda: reasons, timeout=20, what="the give-up")
    assert reasons[0].startswith("permanent failure [not_socketio] on 2 attempts in a row")
    assert "connect_failed [not_socketio]: " in reasons[0] and "HTTP 404" in reasons[0]
    assert harness.sim.stats()["logins"] == 1  # the token was good: reused, not refreshed
    (scheduled,) = [lvl for e, lvl, _ in tel.events if e == "reconnect.scheduled"]
    assert scheduled == logging.ERROR
    for token in harness.tokens:
        assert token not in repr(tel.events) and token not in reasons[0]
