"""StoredTokenSource with a counting fake login, on SQLite and PostgreSQL: reuse, refresh,
stale handling, single flight across threads, failures and telemetry."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from jainam_fsm.core.ports import FeedToken, TokenSource
from jainam_fsm.errors import CredentialsRejected, TokenUnavailable, TransportFailure
from jainam_fsm.store import StoredTokenSource, TokenStore
from jainam_fsm.store.source import (
    EV_LOGIN,
    EV_LOGIN_FAILED,
    EV_REFRESHED,
    EV_REUSED,
    EV_STORE_ERROR,
    EV_WAITED,
)
from jainam_fsm.transport.rest import LoginResult
from tests.test_rest_client import make_jwt
from tests.test_store_support import (
    OTHER_PEPPER,
    PEPPER,
    RecordingSink,
    db_url,
    pg_session_url,
)

__all__ = ["db_url", "pg_session_url"]

APP_SECRET = "app-secret-never-logged-0123"


class FakeLogin:
    """Counts logins and hands out distinct tokens valid for ``ttl`` seconds."""

    def __init__(
        self, ttl: float | None = 3600.0, delay: float = 0.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.ttl, self.delay, self.clock = ttl, delay, clock
        self.calls = 0
        self.fail: BaseException | None = None
        self._lock = threading.Lock()
        self.issued: list[str] = []

    def __call__(self) -> LoginResult:
        with self._lock:
            self.calls += 1
            n = self.calls
        if self.delay:
            time.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        now = self.clock()
        exp = None if self.ttl is None else now + self.ttl
        claims: dict[str, object] = {"userID": "WD4594_key", "n": n, "iat": int(now)}
        if exp is not None:
            claims["exp"] = exp
        value = make_jwt(claims)
        self.issued.append(value)
        return LoginResult(FeedToken(value, "WD4594", exp), "sim")


@pytest.fixture
def store(db_url: str) -> Iterator[TokenStore]:
    s = TokenStore(db_url, pepper=PEPPER, lock_timeout=10)
    yield s
    s.close()


def test_is_a_token_source(store: TokenStore) -> None:
    src: TokenSource = StoredTokenSource(store, "u", FakeLogin())
    assert "u" in repr(src)


def test_first_login_then_reuse_with_zero_logins(store: TokenStore) -> None:
    login, sink = FakeLogin(), RecordingSink()
    src = StoredTokenSource(store, "alice", login, sink)
    tok = src.get_token()
    assert login.calls == 1 and tok.value == login.issued[0]
    assert sink.names() == [EV_LOGIN]
    ev = sink.of(EV_LOGIN)[0]
    assert ev.fields["reason"] == "missing" and ev.fields["fingerprint"] == tok.fingerprint
    assert ev.level == logging.INFO
    # A new process (new source, new store object) reuses it: zero logins.
    other_store = TokenStore(store.url, pepper=PEPPER)
    try:
        sink2 = RecordingSink()
        again = StoredTokenSource(other_store, "alice", login, sink2).get_token()
    finally:
        other_store.close()
    assert again == tok and login.calls == 1
    assert sink2.names() == [EV_REUSED]
    assert store.get_feed_token("alice") == tok.value


def test_refresh_shortly_before_expiry(store: TokenStore) -> None:
    now = [1_000_000.0]
    login, sink = FakeLogin(ttl=3600, clock=lambda: now[0]), RecordingSink()
    src = StoredTokenSource(store, "bob", login, sink, refresh_margin=300, clock=lambda: now[0])
    first = src.get_token()
    now[0] += 3600 - 301
    assert src.get_token() == first and login.calls == 1
    now[0] += 2  # inside the margin
    second = src.get_token()
    assert second != first and login.calls == 2
    ev = sink.of(EV_REFRESHED)[0]
    assert ev.fields["reason"] == "expiring" and ev.fields["old_fingerprint"] == first.fingerprint
    now[0] += 7200  # long expired
    third = src.get_token()
    assert third not in (first, second) and login.calls == 3
    assert sink.of(EV_REFRESHED)[-1].fields["reason"] == "expired"


def test_short_lived_tokens_do_not_cause_a_refresh_storm(store: TokenStore) -> None:
    login = FakeLogin(ttl=60)  # shorter than the 300 s margin
    src = StoredTokenSource(store, "carl", login, refresh_margin=300)
    tok = src.get_token()
    for _ in range(5):
        assert src.get_token() == tok
    assert login.calls == 1
    # An opaque (non-JWT) token: the lifetime is counted from when it was stored.
    calls = []

    def opaque() -> FeedToken:
        calls.append(1)
        return FeedToken(f"opaque-{len(calls)}", "U", time.time() + 60)

    src2 = StoredTokenSource(store, "carl2", opaque, refresh_margin=300)
    tok2 = src2.get_token()
    assert [src2.get_token() for _ in range(3)] == [tok2] * 3 and len(calls) == 1


def test_token_without_exp_is_reused(store: TokenStore) -> None:
    login = FakeLogin(ttl=None)
    src = StoredTokenSource(store, "dan", login)
    tok = src.get_token()
    assert src.get_token() == tok and login.calls == 1


def test_stale_token_logs_in_once(store: TokenStore) -> None:
    login, sink = FakeLogin(), RecordingSink()
    src = StoredTokenSource(store, "eve", login, sink)
    old = src.get_token()
    new = src.get_token(stale=old)
    assert new != old and login.calls == 2
    ev = sink.of(EV_REFRESHED)[0]
    assert ev.fields["reason"] == "stale" and ev.fields["old_fingerprint"] == old.fingerprint
    # The same stale token reported again (another worker, late): no new login.
    assert src.get_token(stale=old) == new and login.calls == 2
    assert sink.names()[-1] == EV_WAITED
    assert sink.of(EV_WAITED)[-1].fields["replaced"] == old.fingerprint


def test_stale_flag_survives_a_failed_login(store: TokenStore) -> None:
    login = FakeLogin()
    src = StoredTokenSource(store, "fay", login)
    old = src.get_token()
    login.fail = TransportFailure("login endpoint 503")
    with pytest.raises(TokenUnavailable, match="503"):
        src.get_token(stale=old)
    rec = store.get_record("fay")
    assert rec is not None and rec.stale
    # A freshly started worker does not reuse the known-bad token.
    login.fail = None
    fresh = StoredTokenSource(store, "fay", login).get_token()
    assert fresh != old and login.calls == 3


def test_revoked_row_means_login(store: TokenStore) -> None:
    login, sink = FakeLogin(), RecordingSink()
    src = StoredTokenSource(store, "gus", login, sink)
    src.get_token()
    store.revoke("gus")
    src.get_token()
    assert login.calls == 2 and sink.of(EV_LOGIN)[-1].fields["reason"] == "revoked"
    assert not store.get_record("gus").revoked  # type: ignore[union-attr]


def test_single_flight_across_threads(store: TokenStore) -> None:
    login = FakeLogin(delay=0.3)  # a slow login widens the race window
    n = 8
    barrier = threading.Barrier(n)
    sinks = [RecordingSink() for _ in range(n)]
    results: list[FeedToken | BaseException] = [None] * n  # type: ignore[list-item]

    def worker(i: int) -> None:
        s = TokenStore(store.url, pepper=PEPPER, lock_timeout=20)
        try:
            src = StoredTokenSource(s, "team", login, sinks[i])
            barrier.wait(10)
            results[i] = src.get_token()
        except BaseException as exc:
            results[i] = exc
        finally:
            s.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert login.calls == 1, results
    assert all(isinstance(r, FeedToken) for r in results), results
    assert len({r.value for r in results if isinstance(r, FeedToken)}) == 1
    kinds = sorted(e.name for s in sinks for e in s.events)
    assert kinds.count(EV_LOGIN) == 1
    assert kinds.count(EV_WAITED) + kinds.count(EV_REUSED) == n - 1

    # Now everyone reports the token stale at once: exactly one new login.
    old = results[0]
    assert isinstance(old, FeedToken)
    barrier.reset()

    def stale_worker(i: int) -> None:
        s = TokenStore(store.url, pepper=PEPPER, lock_timeout=20)
        try:
            src = StoredTokenSource(s, "team", login, sinks[i])
            barrier.wait(10)
            results[i] = src.get_token(stale=old)
        except BaseException as exc:
            results[i] = exc
        finally:
            s.close()

    threads = [threading.Thread(target=stale_worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert login.calls == 2, results
    values = {r.value for r in results if isinstance(r, FeedToken)}
    assert len(values) == 1 and old.value not in values


def test_credentials_rejected_propagates_and_is_reported(store: TokenStore) -> None:
    login, sink = FakeLogin(), RecordingSink()
    login.fail = CredentialsRejected("login refused: HTTP 400 e-app-0005")
    src = StoredTokenSource(store, "hal", login, sink)
    with pytest.raises(CredentialsRejected):
        src.get_token()
    assert login.calls == 1
    ev = sink.of(EV_LOGIN_FAILED)[0]
    assert ev.fields["reason"] == "credentials_rejected" and ev.level == logging.ERROR
    assert store.get_record("hal") is None


@pytest.mark.parametrize(
    "failure",
    [
        TransportFailure("HTTP 503"),
        TokenUnavailable("down"),
        RuntimeError(APP_SECRET),
        ConnectionResetError(APP_SECRET),
    ],
    ids=["transport", "unavailable", "runtime", "oserror"],
)
def test_login_failures_become_token_unavailable(
    store: TokenStore, failure: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    login, sink = FakeLogin(), RecordingSink()
    login.fail = failure
    src = StoredTokenSource(store, "ian", login, sink)
    with pytest.raises(TokenUnavailable) as ei:
        src.get_token()
    assert APP_SECRET not in str(ei.value) and APP_SECRET not in repr(ei.value.__cause__)
    assert sink.of(EV_LOGIN_FAILED)[0].fields["reason"] == "unavailable"
    assert APP_SECRET not in caplog.text and APP_SECRET not in repr(sink.events)


def test_login_returning_garbage_is_unavailable(store: TokenStore) -> None:
    src = StoredTokenSource(store, "jo", lambda: "not a login result")  # type: ignore[arg-type,return-value]
    with pytest.raises(TokenUnavailable, match="no feed token"):
        src.get_token()
    src = StoredTokenSource(store, "jo", lambda: FeedToken("", "U"))
    with pytest.raises(TokenUnavailable):
        src.get_token()
    src = StoredTokenSource(store, "jo", lambda: FeedToken("bare-token-value", "U"))
    assert src.get_token().value == "bare-token-value"


def test_wrong_pepper_never_logs_in_or_overwrites(store: TokenStore) -> None:
    login = FakeLogin()
    good = StoredTokenSource(store, "kim", login).get_token()
    wrong_store = TokenStore(store.url, pepper=OTHER_PEPPER)
    sink = RecordingSink()
    try:
        src = StoredTokenSource(wrong_store, "kim", login, sink)
        for stale in (None, good):
            with pytest.raises(TokenUnavailable, match="JAINAM_TOKEN_PEPPER"):
                src.get_token(stale=stale)
    finally:
        wrong_store.close()
    assert login.calls == 1
    errs = sink.of(EV_STORE_ERROR)
    assert errs and all(e.fields["reason"] == "decrypt_failed" for e in errs)
    assert all(e.level == logging.ERROR for e in errs)
    assert store.get_feed_token("kim") == good.value


@pytest.mark.postgres
def test_dead_postgres_is_unavailable_with_telemetry() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = TokenStore(f"postgresql+psycopg://postgres@127.0.0.1:{port}/test", pepper=PEPPER)
    login, sink = FakeLogin(), RecordingSink()
    try:
        src = StoredTokenSource(dead, "lee", login, sink)
        for _ in range(3):  # a retry loop keeps getting the same clean error
            with pytest.raises(TokenUnavailable):
                src.get_token()
    finally:
        dead.close()
    assert login.calls == 0  # never log in without a store to share the token through
    errs = sink.of(EV_STORE_ERROR)
    assert len(errs) == 3 and {e.fields["reason"] for e in errs} == {"unreachable"}
    assert errs[0].fields["op"] == "read" and errs[0].level == logging.WARNING


def test_dead_sqlite_is_unavailable_with_telemetry(tmp_path: Path) -> None:
    d = tmp_path / "dir.db"
    d.mkdir()
    store = TokenStore(f"sqlite:///{d}", pepper=PEPPER)
    sink = RecordingSink()
    with pytest.raises(TokenUnavailable):
        StoredTokenSource(store, "max", FakeLogin(), sink).get_token()
    assert sink.of(EV_STORE_ERROR)[0].fields["reason"] == "unreachable"


def test_lock_timeout_is_unavailable_with_telemetry(store: TokenStore) -> None:
    login, sink = FakeLogin(), RecordingSink()
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with store.locked("ned"):
            held.set()
            release.wait(60)  # released by the test (finally): held however slow the machine

    t = threading.Thread(target=holder)
    t.start()
    try:
        assert held.wait(10)
        src = StoredTokenSource(store, "ned", login, sink, lock_timeout=0.3)
        with pytest.raises(TokenUnavailable):
            src.get_token()
    finally:
        release.set()
        t.join(10)
    assert login.calls == 0
    ev = sink.of(EV_STORE_ERROR)[0]
    assert ev.fields["reason"] == "lock_timeout" and ev.fields["op"] == "lock"
    assert src.get_token().value == login.issued[0]  # recovers once the lock is free


def test_login_kept_when_store_write_fails(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jainam_fsm.store.db import LockedUser

    def broken(self: LockedUser, token: FeedToken, *, broker: str | None = None) -> None:
        raise sa.exc.OperationalError("UPDATE jainam_auth", {}, Exception("disk I/O error"))

    monkeypatch.setattr(LockedUser, "store_feed_token", broken)
    login, sink = FakeLogin(), RecordingSink()
    tok = StoredTokenSource(store, "oli", login, sink).get_token()
    assert tok.value == login.issued[0]
    err = sink.of(EV_STORE_ERROR)[0]
    assert err.fields["persisted"] is False and err.fields["op"] == "write"
    assert sink.names()[-1] == EV_LOGIN


def test_broken_telemetry_sink_does_not_break_tokens(store: TokenStore) -> None:
    class Broken:
        def emit(self, event: str, level: int, fields: dict[str, object]) -> None:
            raise RuntimeError("sink down")

    login = FakeLogin()
    assert StoredTokenSource(store, "pam", login, Broken()).get_token().value == login.issued[0]


def test_no_token_in_logs_or_telemetry(store: TokenStore, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    login = FakeLogin()
    sink = RecordingSink()
    src = StoredTokenSource(store, "quinn", login, sink)
    a = src.get_token()
    b = src.get_token(stale=a)
    src.get_token(stale=a)
    StoredTokenSource(store, "quinn", login).get_token()  # no sink: logs instead
    text = caplog.text + repr(sink.events) + repr(src)
    for secret in (a.value, b.value, PEPPER):
        assert secret not in text
    assert "gAAAA" not in text  # nor ciphertext
    assert "token.reused" in caplog.text
