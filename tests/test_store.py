"""TokenStore on real SQLite files and a real PostgreSQL server: encryption, upsert, revoke,
locking, schema versioning, configuration errors and dead databases."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from jainam_fsm.core.ports import FeedToken
from jainam_fsm.errors import ConfigError, TokenUnavailable
from jainam_fsm.store import (
    SchemaError,
    StoreLockTimeout,
    StoreUnavailable,
    TokenDecryptError,
    TokenStore,
    default_database_url,
)
from jainam_fsm.store.crypto import DEFAULT_SALT, KeySpec, TokenCipher, derive_key
from tests.test_store_support import OTHER_PEPPER, PEPPER, SALT_HEX, db_url, pg_session_url

__all__ = ["db_url", "pg_session_url"]

FEED = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjQxMDI0NDQ4MDB9.feed-token-plaintext-XYZ"
AUTH = "interactive-auth-token-plaintext-ABC"


def raw_rows(url: str) -> list[tuple[object, ...]]:
    """The table as the database holds it, read around the store."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text("SELECT * FROM jainam_auth"))]
    finally:
        engine.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- crypto ----------------------------------------------------------------------------------


def test_cipher_round_trip_is_nondeterministic_and_keyed() -> None:
    c = TokenCipher(KeySpec(PEPPER, bytes.fromhex(SALT_HEX)))
    a, b = c.encrypt(FEED), c.encrypt(FEED)
    assert a != b and FEED not in a
    assert c.decrypt(a) == FEED == c.decrypt(b)
    other = TokenCipher(KeySpec(OTHER_PEPPER, bytes.fromhex(SALT_HEX)))
    with pytest.raises(TokenDecryptError, match="JAINAM_TOKEN_PEPPER") as ei:
        other.decrypt(a)
    assert a not in str(ei.value) and FEED not in str(ei.value)
    # Same pepper, different salt: a different key.
    assert derive_key(PEPPER, DEFAULT_SALT) != derive_key(PEPPER, bytes.fromhex(SALT_HEX))
    assert PEPPER not in repr(c) and PEPPER not in repr(KeySpec(PEPPER))


def test_cipher_from_env_and_rotation() -> None:
    old = TokenCipher.from_env({"JAINAM_TOKEN_PEPPER": OTHER_PEPPER})
    ct = old.encrypt(FEED)
    both = TokenCipher.from_env(
        {
            "JAINAM_TOKEN_PEPPER": PEPPER,
            "JAINAM_TOKEN_SALT": SALT_HEX,
            "JAINAM_TOKEN_PEPPER_PREVIOUS": OTHER_PEPPER,
        }
    )
    assert both.decrypt(ct) == FEED
    rotated = both.rotate(ct)
    new_only = TokenCipher(KeySpec(PEPPER, bytes.fromhex(SALT_HEX)))
    assert new_only.decrypt(rotated) == FEED
    with pytest.raises(TokenDecryptError):
        new_only.decrypt(ct)
    with pytest.raises(TokenDecryptError):
        new_only.decrypt("not even base64 !!!")


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"JAINAM_TOKEN_PEPPER": "short"}, "JAINAM_TOKEN_PEPPER"),
        ({"JAINAM_TOKEN_PEPPER": PEPPER, "JAINAM_TOKEN_SALT": "xyz"}, "JAINAM_TOKEN_SALT"),
        ({"JAINAM_TOKEN_PEPPER": PEPPER, "JAINAM_TOKEN_SALT": "0011"}, "JAINAM_TOKEN_SALT"),
        (
            {"JAINAM_TOKEN_PEPPER": PEPPER, "JAINAM_TOKEN_PEPPER_PREVIOUS": "short"},
            "JAINAM_TOKEN_PEPPER_PREVIOUS",
        ),
        (
            {"JAINAM_TOKEN_PEPPER": PEPPER, "JAINAM_DATABASE_URL": "not a url"},
            "JAINAM_DATABASE_URL",
        ),
        (
            {"JAINAM_TOKEN_PEPPER": PEPPER, "JAINAM_DATABASE_URL": "mysql://u@h/db"},
            "JAINAM_DATABASE_URL",
        ),
        (
            {"JAINAM_TOKEN_PEPPER": PEPPER, "JAINAM_DATABASE_URL": "postgresql+psycopg2://u@h/db"},
            "JAINAM_DATABASE_URL",
        ),
        (
            {"JAINAM_TOKEN_PEPPER": PEPPER, "JAINAM_DATABASE_URL": "sqlite://"},
            "JAINAM_DATABASE_URL",
        ),
        (
            {"JAINAM_TOKEN_PEPPER": PEPPER, "JAINAM_DATABASE_URL": "sqlite:///:memory:"},
            "JAINAM_DATABASE_URL",
        ),
        (
            {
                "JAINAM_TOKEN_PEPPER": PEPPER,
                "JAINAM_DATABASE_URL": "sqlite:////nonexistent-dir-jfsm/sub/tokens.db",
            },
            "JAINAM_DATABASE_URL",
        ),
    ],
)
def test_bad_configuration_names_the_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable) as ei:
        TokenStore.from_env(environ)
    pepper = environ.get("JAINAM_TOKEN_PEPPER")
    if pepper and len(pepper) > 5:
        assert pepper not in str(ei.value)
    assert not Path("/nonexistent-dir-jfsm").exists()


def test_default_location_and_env_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_database_url() == f"sqlite:///{tmp_path / 'xdg' / 'jainam-fsm' / 'tokens.db'}"
    store = TokenStore.from_env({"JAINAM_TOKEN_PEPPER": PEPPER})
    try:
        store.store_broker_auth_token("u", AUTH, feed_token=FEED)
        db = tmp_path / "xdg" / "jainam-fsm" / "tokens.db"
        assert db.exists() and (db.stat().st_mode & 0o077) == 0  # owner-only
        assert (db.parent.stat().st_mode & 0o077) == 0
    finally:
        store.close()
    other = tmp_path / "other.db"
    store = TokenStore.from_env(
        {"JAINAM_TOKEN_PEPPER": PEPPER, "JAINAM_DATABASE_URL": f"sqlite:///{other}"}
    )
    assert store.url.database == str(other) and store.dialect == "sqlite"
    store.close()
    pg = TokenStore("postgresql://user:hunter2secret@db.example/x", pepper=PEPPER)
    assert pg.dialect == "postgresql" and pg.url.drivername == "postgresql+psycopg"
    assert "hunter2secret" not in repr(pg)
    pg.close()


# -- the store on both backends --------------------------------------------------------------


def test_round_trip_encrypted_at_rest(db_url: str) -> None:
    with TokenStore(db_url, pepper=PEPPER, salt=SALT_HEX) as store:
        assert store.get_feed_token("alice") is None and store.get_record("alice") is None
        exp = time.time() + 3600
        assert store.store_broker_auth_token(
            "alice",
            AUTH,
            "jainam_prop",
            feed_token=FEED,
            user_id="WD4594",
            feed_token_expires_at=exp,
        )
        assert store.get_feed_token("alice") == FEED
        assert store.get_auth_token("alice") == AUTH
        assert store.get_user_id("alice") == "WD4594"
        rec = store.get_record("alice")
        assert rec is not None and rec.feed_token is not None
        assert rec.feed_token.expires_at == pytest.approx(exp, abs=1e-3)
        assert rec.feed_token.user_id == "WD4594" and rec.broker == "jainam_prop"
        assert rec.created_at.tzinfo is not None
        assert FEED not in repr(rec) and AUTH not in repr(rec)
        assert store.schema_revision() == "0004"
    rows = raw_rows(db_url)
    assert len(rows) == 1
    dump = repr(rows)
    assert FEED not in dump and AUTH not in dump and "feed-token-plaintext" not in dump
    assert "gAAAAA" in dump  # Fernet ciphertext is what is stored


def test_upsert_writes_only_on_change(db_url: str) -> None:
    with TokenStore(db_url, pepper=PEPPER) as store:
        assert store.store_broker_auth_token("bob", AUTH, feed_token=FEED, user_id="U1")
        before = raw_rows(db_url)
        first = store.get_record("bob")
        # Same values again: no write at all (ciphertext and updated_at untouched).
        assert not store.store_broker_auth_token("bob", AUTH, feed_token=FEED, user_id="U1")
        assert not store.store_broker_auth_token("bob")
        assert raw_rows(db_url) == before
        assert store.store_broker_auth_token("bob", feed_token=FEED + "2")
        rec = store.get_record("bob")
        assert rec is not None and first is not None
        assert rec.updated_at > first.updated_at and rec.created_at == first.created_at
        assert rec.auth_token == AUTH  # None leaves the stored value alone
        assert store.store_broker_auth_token("bob", broker="other_broker")
        assert store.get_record("bob").broker == "other_broker"  # type: ignore[union-attr]


def test_revoke_hides_tokens_until_stored_again(db_url: str) -> None:
    with TokenStore(db_url, pepper=PEPPER) as store:
        assert not store.revoke("nobody")
        store.store_broker_auth_token("carol", AUTH, feed_token=FEED, user_id="U2")
        assert store.revoke("carol")
        assert not store.revoke("carol")
        assert store.get_feed_token("carol") is None
        assert store.get_auth_token("carol") is None and store.get_user_id("carol") is None
        assert store.get_record("carol").revoked  # type: ignore[union-attr]
        # Storing the same tokens un-revokes: that is a change.
        assert store.store_broker_auth_token("carol", AUTH, feed_token=FEED)
        assert store.get_feed_token("carol") == FEED


def test_stale_and_expired_tokens_are_not_served(db_url: str) -> None:
    with TokenStore(db_url, pepper=PEPPER) as store:
        store.store_broker_auth_token("dave", feed_token=FEED, feed_token_expires_at=1000.0)
        assert store.get_feed_token("dave") is None  # expired in 1970
        assert store.get_feed_token("dave", now=999.0) == FEED
        # None keeps the stored expiry while the token stays the same ...
        assert not store.store_broker_auth_token("dave", feed_token=FEED)
        assert store.get_feed_token("dave") is None
        # ... and a new token replaces it, expiry included.
        assert store.store_broker_auth_token("dave", feed_token=FEED + "2")
        assert store.get_feed_token("dave") == FEED + "2"
        assert store.get_record("dave").feed_token.expires_at is None  # type: ignore[union-attr]
        assert not store.mark_stale("dave", FeedToken("some-other-token", "U"))
        assert store.mark_stale("dave", FeedToken(FEED + "2", "U"))
        assert store.get_feed_token("dave") is None
        assert store.get_record("dave").stale  # type: ignore[union-attr]
        assert store.store_broker_auth_token("dave", feed_token="fresh-token-value")
        assert store.get_feed_token("dave") == "fresh-token-value"


def test_reads_see_other_writers_immediately(db_url: str) -> None:
    a = TokenStore(db_url, pepper=PEPPER)
    b = TokenStore(db_url, pepper=PEPPER)
    try:
        a.store_broker_auth_token("erin", feed_token="one-token-value")
        assert b.get_feed_token("erin") == "one-token-value"
        b.store_broker_auth_token("erin", feed_token="two-token-value")
        assert a.get_feed_token("erin") == "two-token-value"
    finally:
        a.close()
        b.close()


def test_wrong_pepper_is_a_clear_error(db_url: str) -> None:
    with TokenStore(db_url, pepper=PEPPER) as store:
        store.store_broker_auth_token("frank", AUTH, feed_token=FEED)
    with TokenStore(db_url, pepper=OTHER_PEPPER) as wrong:
        for call in (wrong.get_feed_token, wrong.get_record, wrong.get_auth_token):
            with pytest.raises(TokenDecryptError, match="JAINAM_TOKEN_PEPPER") as ei:
                call("frank")
            assert isinstance(ei.value, ConfigError)
            assert FEED not in str(ei.value) and "gAAAA" not in str(ei.value)
        with pytest.raises(TokenDecryptError):  # never overwritten blindly
            wrong.store_broker_auth_token("frank", feed_token="other")
    with TokenStore(db_url, pepper=PEPPER) as store:
        assert store.get_feed_token("frank") == FEED


def test_key_rotation(db_url: str) -> None:
    with TokenStore(db_url, pepper=OTHER_PEPPER) as old:
        old.store_broker_auth_token("gina", AUTH, feed_token=FEED)
        old.store_broker_auth_token("hank", feed_token=FEED + "h")
    with TokenStore(db_url, pepper=PEPPER, salt=SALT_HEX, previous_pepper=OTHER_PEPPER) as both:
        assert both.get_feed_token("gina") == FEED  # readable during the rotation window
        assert both.rotate_key() == 2
    with TokenStore(db_url, pepper=PEPPER, salt=bytes.fromhex(SALT_HEX)) as new:
        assert new.get_feed_token("gina") == FEED and new.get_auth_token("gina") == AUTH
        assert new.get_feed_token("hank") == FEED + "h"
    with TokenStore(db_url, pepper=OTHER_PEPPER) as old, pytest.raises(TokenDecryptError):
        old.get_feed_token("gina")


def test_lock_is_exclusive_bounded_and_does_not_block_reads(db_url: str) -> None:
    with TokenStore(db_url, pepper=PEPPER, lock_timeout=5) as store:
        store.store_broker_auth_token("ivy", feed_token=FEED)
        held, release = threading.Event(), threading.Event()

        def holder() -> None:
            with store.locked("ivy") as locked:
                assert locked.read() is not None
                held.set()
                release.wait(60)  # released by the test (finally), not by this wait

        t = threading.Thread(target=holder)
        t.start()
        try:
            assert held.wait(10)
            t0 = time.monotonic()
            # The holder keeps the lock until the test ends: the raise alone shows the 0.3 s
            # bound was kept (a wait for the holder would end with the lock, not a raise).
            with pytest.raises(StoreLockTimeout) as ei, store.locked("ivy", timeout=0.3):
                pass
            assert time.monotonic() - t0 > 0.2
            assert isinstance(ei.value, TokenUnavailable)
            assert store.get_feed_token("ivy") == FEED  # readers are not blocked
            if store.dialect == "postgresql":
                # Locks are per user on PostgreSQL: another user is not held up.
                with store.locked("someone-else", timeout=0.5):
                    pass
        finally:
            release.set()
            t.join(10)
        with store.locked("ivy", timeout=5) as locked:
            locked.mark_stale()
        assert store.get_record("ivy").stale  # type: ignore[union-attr]


def test_lock_rolls_back_on_error(db_url: str) -> None:
    with TokenStore(db_url, pepper=PEPPER) as store:
        with pytest.raises(RuntimeError), store.locked("jay") as locked:
            locked.store_feed_token(FeedToken("never-committed", "U"))
            raise RuntimeError("boom")
        assert store.get_record("jay") is None


def test_schema_is_versioned_and_created_once(db_url: str) -> None:
    stores = [TokenStore(db_url, pepper=PEPPER) for _ in range(6)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(stores))

    def first_use(s: TokenStore) -> None:
        try:
            barrier.wait(10)
            s.ensure_schema()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_use, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert stores[0].schema_revision() == "0004"
    for s in stores:
        s.close()
    # A database written by a newer release is refused, not mangled.
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE jainam_alembic_version SET version_num = '9999'"))
    engine.dispose()
    with TokenStore(db_url, pepper=PEPPER) as store, pytest.raises(SchemaError, match="9999"):
        store.get_record("x")


# -- dead databases --------------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_on_a_closed_port_is_unavailable() -> None:
    store = TokenStore(
        f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test",
        pepper=PEPPER,
        connect_timeout=2,
    )
    try:
        for call in (
            lambda: store.get_record("u"),
            lambda: store.store_broker_auth_token("u", feed_token=FEED),
        ):
            with pytest.raises(StoreUnavailable) as ei:
                call()
            assert isinstance(ei.value, TokenUnavailable)
            assert FEED not in str(ei.value)
    finally:
        store.close()


@pytest.mark.postgres
def test_postgres_missing_database_then_created(tmp_path: Path) -> None:
    # The store recovers once the database appears: nothing is cached from the failure.
    import uuid

    name = f"jfsm_late_{uuid.uuid4().hex[:8]}"
    store = TokenStore(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", pepper=PEPPER)
    try:
        with pytest.raises(StoreUnavailable):
            store.get_record("u")
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        store.store_broker_auth_token("u", feed_token=FEED)
        assert store.get_feed_token("u") == FEED
    finally:
        store.close()
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_sqlite_unusable_file_is_unavailable(tmp_path: Path) -> None:
    a_dir = tmp_path / "a-directory.db"
    a_dir.mkdir()
    store = TokenStore(f"sqlite:///{a_dir}", pepper=PEPPER)
    with pytest.raises(StoreUnavailable):
        store.get_record("u")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a sqlite database" * 100)
    store2 = TokenStore(f"sqlite:///{garbage}", pepper=PEPPER)
    with pytest.raises(StoreUnavailable):
        store2.store_broker_auth_token("u", feed_token=FEED)
    # Directory removed after start: still a clean StoreUnavailable.
    gone = tmp_path / "gone"
    gone.mkdir()
    store3 = TokenStore(f"sqlite:///{gone / 't.db'}", pepper=PEPPER)
    (gone / "t.db").unlink()
    gone.rmdir()
    with pytest.raises(StoreUnavailable):
        store3.get_record("u")


def test_sqlite_is_wal_with_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    with TokenStore(f"sqlite:///{path}", pepper=PEPPER) as store:
        store.store_broker_auth_token("u", feed_token=FEED)
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        finally:
            conn.close()
