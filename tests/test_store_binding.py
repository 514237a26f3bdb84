"""A token belongs to one server root and one app key: rows keyed by (user, server, app key),
the secret's HMAC fingerprint, and the Alembic upgrade of rows from revision 0001.

Real SQLite files and a real PostgreSQL database; the login is a counting fake (as in
tests/test_store_source.py), the end-to-end proof with sockets is tests/test_adapter_binding.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from jainam_fsm.errors import ConfigError
from jainam_fsm.store import StoredTokenSource, TokenBinding, TokenStore, schema, server_root
from jainam_fsm.store.crypto import KeySpec, TokenCipher
from jainam_fsm.store.source import EV_REFRESHED, EV_REUSED
from tests.test_store_source import FakeLogin
from tests.test_store_support import OTHER_PEPPER, PEPPER, RecordingSink, db_url, pg_session_url

__all__ = ["db_url", "pg_session_url"]

SECRET = "binding-secret-key-0123456789"
A = TokenBinding("https://feed.example:5000", "app-1", SECRET)
A_OTHER_PORT = TokenBinding("https://feed.example:5001", "app-1", SECRET)
A_OTHER_KEY = TokenBinding("https://feed.example:5000", "app-2", SECRET)
A_OTHER_SECRET = TokenBinding("https://feed.example:5000", "app-1", "another-secret-key-987")


@pytest.fixture
def store(db_url: str) -> Iterator[TokenStore]:
    s = TokenStore(db_url, pepper=PEPPER, lock_timeout=10)
    yield s
    s.close()


def test_server_root_is_normalised() -> None:
    assert server_root("https://Feed.Example/apimarketdata") == "https://feed.example:443"
    assert server_root("http://127.0.0.1") == "http://127.0.0.1:80"
    assert server_root("HTTPS://h:5000/x?y") == "https://h:5000"
    assert server_root("http://[::1]:9/") == "http://[::1]:9"
    assert TokenBinding("https://h", "k") == TokenBinding("https://H:443/p", "k", "secret")
    for bad in ("ftp://h", "h:5000", "http://[::1", "http://h:99999"):
        with pytest.raises(ConfigError):
            server_root(bad)
    with pytest.raises(ConfigError):
        TokenBinding("https://h", "")
    assert SECRET not in repr(A)


def test_rows_are_keyed_by_user_server_and_app_key(store: TokenStore) -> None:
    for i, binding in enumerate((A, A_OTHER_PORT, A_OTHER_KEY, None)):
        store.store_broker_auth_token("alice", feed_token=f"tok-{i}", binding=binding)
    assert store.get_feed_token("alice", binding=A) == "tok-0"
    assert store.get_feed_token("alice", binding=A_OTHER_PORT) == "tok-1"
    assert store.get_feed_token("alice", binding=A_OTHER_KEY) == "tok-2"
    assert store.get_feed_token("alice") == "tok-3"  # the unbound row
    assert store.get_feed_token("bob", binding=A) is None
    assert store.list_users() == ["alice"]
    records = store.list_records()
    assert [(r.server, r.app_key) for r in records] == [
        ("", ""),
        ("https://feed.example:5000", "app-1"),
        ("https://feed.example:5000", "app-2"),
        ("https://feed.example:5001", "app-1"),
    ]
    assert store.revoke_all("alice") == 4
    assert store.get_feed_token("alice", binding=A) is None


def test_secret_fingerprint_is_an_hmac_and_detects_a_change(store: TokenStore) -> None:
    store.store_broker_auth_token("alice", feed_token="tok", binding=A)
    rec = store.get_record("alice", binding=A)
    assert rec is not None and rec.secret_fp is not None
    assert SECRET not in rec.secret_fp and len(rec.secret_fp) == 64
    assert rec.secret_fp != hashlib.sha256(SECRET.encode()).hexdigest()  # keyed, not a hash
    assert SECRET not in repr(rec) and rec.secret_fp not in repr(rec)
    assert not store.secret_changed(rec, A)
    assert store.secret_changed(rec, A_OTHER_SECRET)
    assert not store.secret_changed(rec, TokenBinding(A.server, A.app_key))  # secret unknown
    # Another store key gives another fingerprint for the same secret.
    other = TokenCipher(KeySpec(OTHER_PEPPER))
    assert other.fingerprint(SECRET) != rec.secret_fp
    # A rotated key still recognises fingerprints written under the previous one.
    rotating = TokenCipher(KeySpec(OTHER_PEPPER), [KeySpec(PEPPER)])
    assert rotating.fingerprint_matches(SECRET, rec.secret_fp)
    assert not rotating.fingerprint_matches("something-else", rec.secret_fp)


def test_secret_never_reaches_the_database(tmp_path: Path) -> None:
    db = tmp_path / "raw.db"
    with TokenStore(f"sqlite:///{db}", pepper=PEPPER) as store:
        store.store_broker_auth_token("alice", feed_token="tok-raw", binding=A)
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("raw.db"))
    assert SECRET.encode() not in raw and b"tok-raw" not in raw
    assert b"app-1" in raw and b"https://feed.example:5000" in raw


def test_source_reuses_only_within_its_binding(store: TokenStore) -> None:
    login, sink = FakeLogin(), RecordingSink()

    def source(binding: TokenBinding | None) -> StoredTokenSource:
        return StoredTokenSource(store, "alice", login, sink, binding=binding)

    first = source(A).get_token()
    assert login.calls == 1
    assert source(A).get_token() == first and login.calls == 1  # same binding: reuse
    assert sink.of(EV_REUSED)[-1].fields["server"] == "https://feed.example:5000"
    for n, binding in enumerate((A_OTHER_PORT, A_OTHER_KEY, None), start=2):
        tok = source(binding).get_token()
        assert login.calls == n and tok != first  # never A's token
    # A changed secret: a fresh login, telemetry says why, and the row now holds the new one.
    changed = source(A_OTHER_SECRET).get_token()
    assert login.calls == 5 and changed != first
    assert sink.of(EV_REFRESHED)[-1].fields["reason"] == "secret_changed"
    assert source(A_OTHER_SECRET).get_token() == changed and login.calls == 5
    # The old secret is now the changed one.
    assert source(A).get_token() != changed and login.calls == 6


def _create_at_revision_0001(url: str, cipher: TokenCipher) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            schema.upgrade(conn, "0001")
            now = datetime.now(UTC).replace(tzinfo=None)
            conn.execute(
                sa.text(
                    "INSERT INTO jainam_auth (name, broker, auth, feed_token, user_id, "
                    "is_revoked, feed_token_stale, feed_token_expires_at, created_at, "
                    "updated_at) VALUES (:n, 'jainam_prop', NULL, :t, 'WD1', :f, :f, NULL, "
                    ":now, :now)"
                ),
                [
                    {"n": "alice", "t": cipher.encrypt("legacy-token-a"), "f": False, "now": now},
                    {"n": "bob", "t": cipher.encrypt("legacy-token-b"), "f": False, "now": now},
                ],
            )
        with engine.connect() as conn:
            assert schema.current_revision(conn) == "0001"
    finally:
        engine.dispose()


def test_upgrade_from_revision_0001_keeps_rows_unbound(db_url: str) -> None:
    _create_at_revision_0001(db_url, TokenCipher(KeySpec(PEPPER)))
    with TokenStore(db_url, pepper=PEPPER) as store:
        assert store.get_feed_token("alice") == "legacy-token-a"  # kept, as the unbound row
        assert store.get_feed_token("bob") == "legacy-token-b"
        assert store.schema_revision() == "0004"  # upgraded through 0002 to the head
        rec = store.get_record("alice")
        assert rec is not None and (rec.server, rec.app_key, rec.secret_fp) == ("", "", None)
        assert rec.broker_user_id == "WD1"
        # A bound source never sends the legacy token anywhere: it logs in once.
        login = FakeLogin()
        tok = StoredTokenSource(store, "alice", login, binding=A).get_token()
        assert login.calls == 1 and tok.value != "legacy-token-a"
        # Both rows of alice now coexist; the unique key is (name, server, app_key).
        assert len(store.list_records(["alice"])) == 2
        store.store_broker_auth_token("alice", feed_token="again", binding=A)
        assert len(store.list_records(["alice"])) == 2
