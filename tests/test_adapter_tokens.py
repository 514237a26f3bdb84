"""Feed tokens of the real adapter: reuse from the SQLite store, exactly one refresh when the
server rejects a token (at REST or at the socket), and no retry on bad credentials.
"""

# ruff: noqa: F811  (the harness fixture is imported, then requested by name)
from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from jainam_fsm.core.machine import State
from jainam_fsm.streaming import StreamingAdapter
from tests.test_adapter_support import (
    PEPPER,
    A,
    B,
    C,
    Harness,
    RecordingTelemetry,
    TickLog,
    current_token,
    harness,  # noqa: F401  (fixture)
    keys,
    wait_for,
)


def connected(
    h: Harness, *insts: tuple[int, int], tel: RecordingTelemetry | None = None, **overrides: Any
) -> tuple[StreamingAdapter, TickLog]:
    """A ready adapter subscribed to ``insts``, and its tick log."""
    ticks = TickLog()
    adapter = h.adapter(ticks, telemetry=tel, **overrides)
    for inst in insts:
        adapter.subscribe(*inst)
    adapter.connect()
    assert adapter.wait_ready(10)
    return adapter, ticks


def ticks_of_all(ticks: TickLog, *insts: tuple[int, int]) -> None:
    since = time.monotonic()
    for inst in insts:
        wait_for(ticks.has(2, inst, since), what=f"ticks of {inst}")


def test_a_second_adapter_reuses_the_stored_token(harness: Harness) -> None:
    tel1 = RecordingTelemetry()
    first, _ = connected(harness, A, tel=tel1)
    assert harness.sim.stats()["logins"] == 1
    assert tel1.count("token.login") == 1
    token = current_token(first)
    first.shutdown()

    tel2 = RecordingTelemetry()
    second, ticks = connected(harness, A, B, tel=tel2)
    ticks_of_all(ticks, A, B)
    assert harness.sim.stats()["logins"] == 1  # zero logins for the second adapter
    assert second.stats().get("logins", 0) == 0
    assert tel2.count("token.reused") == 1 and tel2.count("token.login") == 0
    assert current_token(second) == token
    assert harness.server_set() == keys(A, B)

    # A third one while the second still runs: also zero logins, both stream. Two live
    # adapters on one session is outside the one-adapter-per-app-key rule (operations.md):
    # the third must not reconcile the session it shares, or it removes the second's B.
    _third, ticks3 = connected(harness, A, list_subscriptions=False)
    ticks_of_all(ticks3, A)
    ticks_of_all(ticks, A, B)
    assert harness.sim.stats()["logins"] == 1


def test_one_refresh_when_rest_rejects_the_token(harness: Harness) -> None:
    tel = RecordingTelemetry()
    adapter, ticks = connected(harness, A, B, tel=tel)
    old = current_token(adapter)
    harness.sim.invalidate_tokens()  # the socket stays up, mute; REST answers e-session-0007
    adapter.subscribe(*C)  # the next REST call finds out
    wait_for(lambda: harness.sim.stats()["logins"] == 2, what="refresh login")
    wait_for(lambda: adapter.stats()["socket_connects"] == 2, what="new socket")
    assert adapter.wait_ready(10)
    assert harness.sim.stats()["logins"] == 2  # exactly one refresh
    assert harness.sim.stats()["invalid_token_requests"] == 1
    assert tel.count("token.refreshed") == 1
    assert current_token(adapter) != old
    record = harness.store.get_record("u")
    assert record is not None and record.feed_token == current_token(adapter)
    rejected = [t for t in tel.of("lifecycle.transition") if t["trigger"] == "token_rejected"]
    assert [t["reason"] for t in rejected] == ["token_rejected_at_rest"]
    # The new session starts empty: every desired instrument was subscribed again.
    assert harness.server_set() == keys(A, B, C)
    assert tel.of("replay")[-1]["subscribed"] == 3
    ticks_of_all(ticks, A, B, C)
    assert harness.sim.stats()["logins"] == 2


def test_one_refresh_when_the_socket_gets_a_logout(harness: Harness) -> None:
    tel = RecordingTelemetry()
    adapter, ticks = connected(harness, A, B, tel=tel)
    harness.sim.invalidate_tokens(disconnect=True)  # `logout` event, then a server disconnect
    wait_for(lambda: harness.sim.stats()["logins"] == 2, what="refresh login")
    wait_for(lambda: adapter.stats()["socket_connects"] == 2, what="new socket")
    assert adapter.wait_ready(10)
    assert harness.sim.stats()["logout_events"] == 1
    assert tel.count("token.refreshed") == 1
    assert harness.server_set() == keys(A, B)
    assert tel.of("replay")[-1]["subscribed"] == 2
    ticks_of_all(ticks, A, B)
    assert harness.sim.stats()["logins"] == 2
    assert adapter.stats()["link_token_rejected"] == 1


def test_one_refresh_when_the_socket_handshake_rejects_the_token(harness: Harness) -> None:
    """The stored token still looks valid (JWT exp far away) but the server expired it."""
    tel = RecordingTelemetry()
    adapter, ticks = connected(harness, A, B, tel=tel)
    harness.sim.expire_tokens()
    harness.sim.sever()  # the reconnect presents the expired token at the handshake
    wait_for(lambda: adapter.stats()["socket_connects"] == 2, what="new socket")
    assert adapter.wait_ready(10)
    stats = harness.sim.stats()
    assert stats["socket_rejects"] == 1 and stats["logins"] == 2
    rejected = [t for t in tel.of("lifecycle.transition") if t["trigger"] == "token_rejected"]
    assert [t["reason"] for t in rejected] == ["token_rejected_at_socket"]
    assert tel.count("token.refreshed") == 1
    assert harness.server_set() == keys(A, B)
    ticks_of_all(ticks, A, B)
    assert harness.sim.stats()["logins"] == 2


def test_rejected_credentials_exhaust_at_once_without_retry(harness: Harness) -> None:
    tel = RecordingTelemetry()
    reasons: list[str] = []
    called = threading.Event()

    def on_exhausted(reason: str) -> None:
        reasons.append(reason)
        called.set()

    harness.sim.reject_credentials()
    adapter = harness.adapter(telemetry=tel, on_exhausted=on_exhausted)
    adapter.subscribe(*A)
    adapter.connect()
    assert adapter.wait_state(State.EXHAUSTED, 10)
    assert called.wait(5)
    assert reasons == ["credentials_rejected"]
    assert adapter.stats()["exhausted_reason"] == "credentials_rejected"
    assert [t["dest"] for t in tel.of("lifecycle.transition")] == ["authenticating", "exhausted"]
    assert tel.count("reconnect.scheduled") == 0
    # No retry: 10 x the first backoff delay later, still one login attempt.
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        assert harness.sim.stats()["login_failures"] == 1
        time.sleep(0.02)
    assert harness.sim.stats()["logins"] == 0 and harness.sim.stats()["socket_connects"] == 0
    record = harness.store.get_record("u")
    assert record is None or record.feed_token is None
    assert len(reasons) == 1

    # Fixed credentials + connect(): streams.
    harness.sim.reject_credentials(False)
    adapter.connect()
    assert adapter.wait_ready(10)
    assert harness.sim.stats()["logins"] == 1
    assert harness.server_set() == keys(A)


def test_a_refresh_that_fails_for_a_while_is_retried_then_logs_in_once(harness: Harness) -> None:
    """The server ends the session while logins answer 503: back off, then one good login."""
    tel = RecordingTelemetry()
    adapter, ticks = connected(harness, A, B, tel=tel)
    harness.sim.reject_logins(0.5)
    harness.sim.invalidate_tokens(disconnect=True)
    wait_for(lambda: harness.sim.stats()["logins"] == 2, timeout=10, what="the good login")
    wait_for(lambda: adapter.stats()["socket_connects"] == 2, what="new socket")
    assert adapter.wait_ready(10)
    stats = harness.sim.stats()
    assert stats["logins_refused"] >= 1
    assert stats["logins"] == 2  # exactly one successful refresh
    assert stats["login_failures"] == 0
    assert tel.count("reconnect.scheduled") >= 1
    assert harness.server_set() == keys(A, B)
    ticks_of_all(ticks, A, B)
    assert adapter.stats()["attempt"] == 0


@pytest.mark.parametrize("harness", [{"on_session_end": "silent"}], indirect=True)
def test_a_silently_ended_session_is_found_by_the_watchdog_then_refreshed_once(
    harness: Harness,
) -> None:
    """No logout event, no disconnect: the feed just goes mute."""
    tel = RecordingTelemetry()
    ticks = TickLog()
    adapter = harness.adapter(ticks, telemetry=tel, stall_timeout=0.5)
    adapter.subscribe(*A)
    adapter.connect()
    assert adapter.wait_ready(10)
    harness.sim.invalidate_tokens(disconnect=True)
    wait_for(lambda: adapter.stats()["socket_connects"] == 2, what="new socket")
    assert adapter.wait_ready(10)
    reasons = [(t["trigger"], t["reason"]) for t in tel.of("lifecycle.transition")]
    assert ("connection_lost", "stall") in reasons
    assert ("token_rejected", "token_rejected_at_socket") in reasons
    assert harness.sim.stats()["logins"] == 2
    assert harness.server_set() == keys(A)
    ticks_of_all(ticks, A)


def test_dead_token_database_backs_off_and_keeps_subscriptions(harness: Harness) -> None:
    """A token store that cannot be reached is a telemetry event and a trip to backing_off:
    no crash, no login, no lost subscription; the stream comes up once it is reachable."""
    from jainam_fsm.store import StoredTokenSource, TokenStore

    tel = RecordingTelemetry()
    dead = TokenStore(
        "postgresql+psycopg://postgres@127.0.0.1:1/test", pepper=PEPPER, connect_timeout=1
    )
    live = harness.store
    use = [dead]

    def factory(login, telemetry):  # type: ignore[no-untyped-def]
        class Switching:
            def get_token(self, *, stale=None):  # type: ignore[no-untyped-def]
                return StoredTokenSource(use[0], "u", login, telemetry).get_token(stale=stale)

        return Switching()

    adapter = StreamingAdapter(harness.config(), TickLog(), token_source=factory, telemetry=tel)
    harness.adapters.append(adapter)
    adapter.subscribe(*A)
    adapter.connect()
    wait_for(lambda: tel.count("reconnect.scheduled") >= 2, what="backing off on the dead store")
    assert adapter.state() in (State.BACKING_OFF, State.AUTHENTICATING)
    assert tel.count("token.store_error") >= 1
    reasons = [t["reason"] for t in tel.of("lifecycle.transition") if t["dest"] == "backing_off"]
    assert all("token_unavailable" in str(r) for r in reasons)
    assert harness.sim.stats()["logins"] == 0
    assert adapter.registry.keys() == keys(A)  # nothing lost
    use[0] = live  # the database is back
    assert adapter.wait_ready(15)
    assert harness.server_set() == keys(A)
    dead.close()
