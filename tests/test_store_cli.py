"""``jainam-fsm tokens``: status, revoke, rotate-key, migrate; never prints a secret."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from jainam_fsm.store import TokenStore
from jainam_fsm.store.cli import add_subcommand
from tests.test_store_support import OTHER_PEPPER, PEPPER

FEED = "header.feed-token-for-cli-tests.signature"
AUTH = "auth-token-for-cli-tests"


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="jainam-fsm")
    add_subcommand(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["tokens", *argv])
    code: int = args.func(args)
    return code


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    u = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("JAINAM_DATABASE_URL", u)
    monkeypatch.setenv("JAINAM_TOKEN_PEPPER", PEPPER)
    monkeypatch.delenv("JAINAM_TOKEN_SALT", raising=False)
    monkeypatch.delenv("JAINAM_TOKEN_PEPPER_PREVIOUS", raising=False)
    return u


def test_status_revoke_migrate(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("migrate") == 0
    assert "revision 0004" in capsys.readouterr().out
    assert run("status") == 0
    assert "no tokens" in capsys.readouterr().out
    with TokenStore(url, pepper=PEPPER) as store:
        store.store_broker_auth_token(
            "desk", AUTH, feed_token=FEED, user_id="WD1", feed_token_expires_at=4102444800.0
        )
        fingerprint = store.get_record("desk").feed_token.fingerprint  # type: ignore[union-attr]
    assert run("status", "--json") == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["user"] == "desk" and row["feed_token"] == fingerprint and row["usable"]
    assert row["expires_at"] == "2100-01-01T00:00:00+00:00" and row["auth_token"] == "present"
    assert run("revoke", "desk") == 0
    assert run("status", "desk") == 0
    out = capsys.readouterr().out
    assert "revoked=True" in out and "usable=False" in out
    assert run("status", "ghost") == 1
    out = capsys.readouterr().out
    for secret in (FEED, AUTH, PEPPER, "gAAAA"):
        assert secret not in out


def test_rotate_and_errors(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with TokenStore(url, pepper=OTHER_PEPPER) as old:
        old.store_broker_auth_token("desk", AUTH, feed_token=FEED)
    assert run("status") == 1  # wrong key: the row is reported, not crashed on
    assert "cannot decrypt" in capsys.readouterr().out
    assert run("rotate-key") == 2
    err = capsys.readouterr().err
    assert "JAINAM_TOKEN_PEPPER" in err and FEED not in err
    monkeypatch.setenv("JAINAM_TOKEN_PEPPER_PREVIOUS", OTHER_PEPPER)
    assert run("rotate-key") == 0
    assert "1 row(s)" in capsys.readouterr().out
    monkeypatch.delenv("JAINAM_TOKEN_PEPPER_PREVIOUS")
    assert run("status") == 0
    monkeypatch.setenv("JAINAM_TOKEN_PEPPER", "short")
    assert run("status") == 2
    assert "JAINAM_TOKEN_PEPPER is too short" in capsys.readouterr().err
    monkeypatch.setenv("JAINAM_TOKEN_PEPPER", PEPPER)
    d = Path(url.removeprefix("sqlite:///")).parent / "a-dir.db"
    d.mkdir()
    assert run("--database-url", f"sqlite:///{d}", "status") == 1
    assert "token store" in capsys.readouterr().err
