"""Store keys without ceremony: the key file beside a SQLite database, JAINAM_TOKEN_KEY_FILE,
the PostgreSQL rule, and a one-line error when the psycopg driver is missing.

Real files, real permissions, real SQLite and PostgreSQL, real subprocesses.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jainam_fsm.errors import ConfigError
from jainam_fsm.store import TokenStore
from jainam_fsm.store.keyfile import KEY_FILE_ENV
from jainam_fsm.telemetry import REDACTOR
from tests.test_store_support import PEPPER, fresh_pg_database

FEED = "header.key-file-test-feed-token.signature"
ROOT = Path(__file__).resolve().parents[1]


def _write_key(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_default_store_creates_a_private_key_file_and_reuses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    caplog.set_level(logging.INFO, logger="jainam_fsm.store")
    store = TokenStore.from_env({})
    db = tmp_path / "xdg" / "jainam-fsm" / "tokens.db"
    key = db.with_name("tokens.db.key")
    try:
        assert store.url.database == str(db)
        assert key.exists() and (key.stat().st_mode & 0o777) == 0o600
        assert (key.parent.stat().st_mode & 0o077) == 0
        store.store_broker_auth_token("u", feed_token=FEED)
    finally:
        store.close()
    text = key.read_text()
    assert len(text.strip()) >= 32
    assert text.strip() not in REDACTOR(f"x {text.strip()} y")  # registered with the redactor
    lines = [r.getMessage() for r in caplog.records if "token store:" in r.getMessage()]
    assert len(lines) == 1 and str(db) in lines[0] and str(key) in lines[0], lines
    assert "created" in lines[0] and text.strip() not in lines[0]
    assert all(r.levelno == logging.INFO for r in caplog.records if "token store:" in r.message)

    # A second store (a restart) reuses the key: the row decrypts, the file is unchanged.
    again = TokenStore.from_env({})
    try:
        assert again.get_feed_token("u") == FEED
        assert key.read_text() == text
        assert again.key_source == f"key file {key}"
    finally:
        again.close()
    reused = [r.getMessage() for r in caplog.records if "token store:" in r.getMessage()]
    assert len(reused) == 2 and "created" not in reused[1]  # said once per location
    third = TokenStore.from_env({})
    third.close()
    assert len([r for r in caplog.records if "token store:" in r.getMessage()]) == 2


def test_explicit_sqlite_path_gets_its_own_key_file(tmp_path: Path) -> None:
    db = tmp_path / "desk.sqlite"
    store = TokenStore(f"sqlite:///{db}", environ={})
    try:
        store.store_broker_auth_token("u", feed_token=FEED)
    finally:
        store.close()
    assert (tmp_path / "desk.sqlite.key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606])
def test_a_key_file_open_to_others_is_refused(tmp_path: Path, mode: int) -> None:
    db = tmp_path / "t.db"
    secret = "k" * 20 + "-open-key-file-contents"
    key = _write_key(tmp_path / "t.db.key", secret, mode)
    with pytest.raises(ConfigError) as ei:
        TokenStore(f"sqlite:///{db}", environ={})
    text = str(ei.value)
    assert "\n" not in text and "chmod 600" in text and str(key) in text
    assert secret not in text
    with pytest.raises(ConfigError, match=KEY_FILE_ENV):
        TokenStore(f"sqlite:///{db}", environ={KEY_FILE_ENV: str(key)})


def test_key_file_variable_is_used_and_pepper_wins(tmp_path: Path) -> None:
    key_text = "explicit-key-file-0123456789-abcdefghij"
    key = _write_key(tmp_path / "shared.key", key_text + "\n")
    url = f"sqlite:///{tmp_path / 't.db'}"
    with TokenStore(url, environ={KEY_FILE_ENV: str(key)}) as store:
        assert store.key_source == f"key file {key}"
        store.store_broker_auth_token("file", feed_token=FEED)
    assert not (tmp_path / "t.db.key").exists()  # no automatic key when one is named
    # The same key given as a pepper reads the row: the file's contents are the pepper.
    with TokenStore(url, pepper=key_text) as same:
        assert same.get_feed_token("file") == FEED
    # JAINAM_TOKEN_PEPPER wins over JAINAM_TOKEN_KEY_FILE.
    with TokenStore(url, environ={KEY_FILE_ENV: str(key), "JAINAM_TOKEN_PEPPER": PEPPER}) as s:
        assert s.key_source == "JAINAM_TOKEN_PEPPER"
    with TokenStore(url, key_file=key, environ={}) as s:
        assert s.get_feed_token("file") == FEED


@pytest.mark.parametrize(
    ("content", "what"),
    [("", "too short"), ("short-key", "too short"), (b"\xff\xfe" * 20, "not UTF-8")],
)
def test_bad_key_file_contents(tmp_path: Path, content: str | bytes, what: str) -> None:
    key = tmp_path / "bad.key"
    if isinstance(content, bytes):
        key.write_bytes(content)
    else:
        key.write_text(content)
    key.chmod(0o600)
    with pytest.raises(ConfigError, match=what) as ei:
        TokenStore(f"sqlite:///{tmp_path / 't.db'}", environ={KEY_FILE_ENV: str(key)})
    assert "\n" not in str(ei.value)
    if isinstance(content, str) and content:
        assert content not in str(ei.value)


def test_missing_or_linked_key_file(tmp_path: Path) -> None:
    typed = "typed-a-secret-into-the-wrong-variable-1234"
    with pytest.raises(ConfigError, match=KEY_FILE_ENV) as ei:
        TokenStore(f"sqlite:///{tmp_path / 't.db'}", environ={KEY_FILE_ENV: typed})
    assert typed not in str(ei.value) and "does not exist" in str(ei.value)
    real = _write_key(tmp_path / "real.key", "r" * 40)
    link = tmp_path / "link.key"
    link.symlink_to(real)
    with pytest.raises(ConfigError, match="symbolic link"):
        TokenStore(f"sqlite:///{tmp_path / 't.db'}", environ={KEY_FILE_ENV: str(link)})
    directory = tmp_path / "dir.key"
    directory.mkdir(mode=0o700)
    with pytest.raises(ConfigError, match="not a regular file"):
        TokenStore(f"sqlite:///{tmp_path / 't.db'}", environ={KEY_FILE_ENV: str(directory)})


def test_postgresql_needs_an_explicit_key() -> None:
    with pytest.raises(ConfigError) as ei:
        TokenStore("postgresql+psycopg://u@127.0.0.1:1/x", environ={})
    text = str(ei.value)
    assert "JAINAM_TOKEN_PEPPER" in text and KEY_FILE_ENV in text and "\n" not in text


@pytest.mark.postgres
def test_postgresql_with_a_key_file(tmp_path: Path) -> None:
    key = _write_key(tmp_path / "pg.key", "p" * 12 + "-postgres-shared-key-file-xyz")
    with fresh_pg_database() as url:
        with TokenStore(url, environ={KEY_FILE_ENV: str(key)}) as store:
            store.store_broker_auth_token("pg", feed_token=FEED)
        with TokenStore(url, key_file=str(key), environ={}) as other_host:
            assert other_host.get_feed_token("pg") == FEED


def test_processes_starting_together_share_one_created_key(tmp_path: Path) -> None:
    """Four processes create the missing key file at once: one key, every row readable."""
    db = tmp_path / "race.db"
    code = textwrap.dedent(
        f"""
        import sys, time
        from jainam_fsm.store import TokenStore
        start = float(sys.argv[2])
        while time.time() < start:
            time.sleep(0.001)
        with TokenStore("sqlite:///{db}", environ={{}}) as store:
            store.store_broker_auth_token(sys.argv[1], feed_token="{FEED}-" + sys.argv[1])
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAINAM_")}
    import time

    start = str(time.time() + 1.5)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, f"w{i}", start],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    with TokenStore(f"sqlite:///{db}", environ={}) as store:
        assert {u: store.get_feed_token(u) for u in store.list_users()} == {
            f"w{i}": f"{FEED}-w{i}" for i in range(4)
        }
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def _run_without_psycopg(code: str) -> subprocess.CompletedProcess[str]:
    prelude = "import sys\nsys.modules['psycopg'] = None  # as if the extra were not installed\n"
    env = {**os.environ, "JAINAM_TOKEN_PEPPER": PEPPER}
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_postgresql_url_without_the_driver_is_one_line() -> None:
    res = _run_without_psycopg(
        """
        from jainam_fsm.errors import ConfigError
        from jainam_fsm.store import TokenStore
        try:
            TokenStore("postgresql://u@127.0.0.1:5432/x")
        except ConfigError as exc:
            print(exc)
        """
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("\n") == 1
    assert "pip install 'jainam-fsm[postgres]'" in res.stdout
    cli = _run_without_psycopg(
        """
        from jainam_fsm.cli import main
        sys.exit(main(["tokens", "--database-url", "postgresql://u@127.0.0.1:5432/x", "status"]))
        """
    )
    assert cli.returncode == 2, cli.stderr
    assert cli.stderr.strip().count("\n") == 0 and "Traceback" not in cli.stderr
    assert "pip install 'jainam-fsm[postgres]'" in cli.stderr
