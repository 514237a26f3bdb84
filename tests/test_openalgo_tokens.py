"""HostTokenSource: the host's stored feed token is reused until it is rejected, missing or
expired; then exactly one login, whose token goes back through the host's hook."""

from __future__ import annotations

import base64
import json
import threading

import pytest

from jainam_fsm.core.ports import FeedToken
from jainam_fsm.errors import CredentialsRejected, TokenUnavailable, TransportFailure
from jainam_fsm.integrations import HostTokenSource


def jwt(exp: float) -> str:
    def part(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256'})}.{part({'exp': exp, 'userID': 'JWT-CLAIM'})}.sig"


class Host:
    def __init__(self, token: str | None, uid: str | None) -> None:
        self.row = (token, uid)
        self.writes: list[tuple[str, str]] = []

    def read(self) -> tuple[str | None, str | None]:
        return self.row

    def write(self, token: str, uid: str) -> None:
        self.row = (token, uid)
        self.writes.append((token, uid))


class Login:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> FeedToken:
        self.calls += 1
        return FeedToken(jwt(2_000), f"UID{self.calls}", 2_000)


def source(host: Host, login: object) -> HostTokenSource:
    return HostTokenSource(host.read, login, host.write, clock=lambda: 1_000.0)


def test_valid_host_token_is_reused_with_the_stored_user_id() -> None:
    host, login = Host(jwt(1_500), "UID0"), Login()
    src = source(host, login)
    for _ in range(3):
        token = src.get_token()
        assert token.user_id == "UID0" and token.value == host.row[0]
    assert login.calls == 0 and src.reused == 3 and host.writes == []


@pytest.mark.parametrize(
    "row",
    [(None, None), (jwt(1_500), None), (jwt(999), "UID0")],
    ids=["missing", "no-user-id", "expired"],
)
def test_unusable_host_token_means_one_login_stored_back(
    row: tuple[str | None, str | None],
) -> None:
    host, login = Host(*row), Login()
    src = source(host, login)
    first = src.get_token()
    assert login.calls == 1 and host.writes == [(first.value, "UID1")]
    assert src.get_token() == first  # now the host holds a good one: reused
    assert login.calls == 1


def test_rejected_token_logs_in_once_and_a_host_refresh_wins() -> None:
    host, login = Host(jwt(1_500), "UID0"), Login()
    src = source(host, login)
    stale = src.get_token()
    fresh = src.get_token(stale=stale)
    assert login.calls == 1 and fresh.value != stale.value
    # The host logged in itself meanwhile: its new token is used, no login of ours.
    host.row = (jwt(1_600), "UID9")
    newer = src.get_token(stale=fresh)
    assert newer.user_id == "UID9" and login.calls == 1


def test_concurrent_rejections_log_in_once() -> None:
    host, login = Host(jwt(1_500), "UID0"), Login()
    src = source(host, login)
    stale = src.get_token()
    results: list[FeedToken] = []
    threads = [
        threading.Thread(target=lambda: results.append(src.get_token(stale=stale)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert login.calls == 1 and len({r.value for r in results}) == 1


def test_login_errors_and_a_failing_store() -> None:
    host = Host(None, None)

    def rejected() -> FeedToken:
        raise CredentialsRejected("bad key")

    with pytest.raises(CredentialsRejected):
        source(host, rejected).get_token()

    def down() -> FeedToken:
        raise TransportFailure("connection refused")

    with pytest.raises(TokenUnavailable):
        source(host, down).get_token()

    def broken_write(token: str, uid: str) -> None:
        raise OSError("database is locked")

    login = Login()
    src = HostTokenSource(host.read, login, broken_write, clock=lambda: 1_000.0)
    assert src.get_token().user_id == "UID1"  # streams on with the token it has
