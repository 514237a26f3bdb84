"""Database URL and engine of the token store (SQLite file or PostgreSQL via psycopg 3)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import platformdirs
import sqlalchemy as sa
from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import NullPool

from jainam_fsm.errors import ConfigError

log = logging.getLogger("jainam_fsm.store")

DATABASE_URL_ENV = "JAINAM_DATABASE_URL"
APP_NAME = "jainam-fsm"
POSTGRES_EXTRA_HINT = "pip install 'jainam-fsm[postgres]'"
#: Execution option carrying the lock wait (ms) of a ``BEGIN IMMEDIATE`` transaction.
BEGIN_OPTION = "jainam_begin_immediate_ms"


def default_database_url() -> str:
    """``sqlite:///<per-user data folder>/tokens.db`` (``platformdirs.user_data_path``).

    On Linux that is ``$XDG_DATA_HOME/jainam-fsm`` (``~/.local/share/jainam-fsm`` when XDG is
    unset); on macOS ``~/Library/Application Support/jainam-fsm``; on Windows the local
    AppData folder.
    """
    base = platformdirs.user_data_path(APP_NAME, appauthor=False)
    return f"sqlite:///{base / 'tokens.db'}"


def resolve_url(url: str | URL | None, env: Mapping[str, str]) -> URL:
    """The database URL to use: ``url``, else ``JAINAM_DATABASE_URL``, else the default file.

    Only SQLite files and PostgreSQL through psycopg 3 are accepted; a bad value is a one-line
    :class:`ConfigError` that never echoes the URL (it may hold a password).
    """
    where = "the url argument" if url is not None else DATABASE_URL_ENV
    raw = url if url is not None else (env.get(DATABASE_URL_ENV) or None)
    is_default = raw is None
    try:
        parsed = make_url(raw if raw is not None else default_database_url())
    except (ArgumentError, ValueError):
        raise ConfigError(
            f"{where} ({DATABASE_URL_ENV}) is not a valid database URL; "
            "use sqlite:///path/to/tokens.db or "
            "postgresql+psycopg://user@host/db"
        ) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgresql", "postgres"):
        if driver not in ("", "psycopg"):
            raise ConfigError(
                f"{where} ({DATABASE_URL_ENV}): only the psycopg 3 driver is "
                "supported for PostgreSQL; use postgresql+psycopg://..."
            )
        return parsed.set(drivername="postgresql+psycopg")
    if backend != "sqlite":
        raise ConfigError(
            f"{where} ({DATABASE_URL_ENV}): unsupported database; "
            "use sqlite:/// or postgresql+psycopg://"
        )
    if (
        not parsed.database
        or parsed.database == ":memory:"
        or parsed.database.startswith("file::memory:")
    ):
        raise ConfigError(
            f"{where} ({DATABASE_URL_ENV}): an in-memory SQLite database cannot "
            "be shared between workers; give a file path"
        )
    path = Path(parsed.database).expanduser()
    if is_default:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    elif not path.parent.is_dir():
        raise ConfigError(
            f"{where} ({DATABASE_URL_ENV}): the directory of the SQLite file does not exist"
        )
    if not path.exists() and path.parent.is_dir():
        # Create the file owner-only before SQLite does (it copies the mode to -wal/-shm).
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            pass
        except OSError as exc:
            log.debug("could not pre-create %s: %s", path, type(exc).__name__)
    return parsed.set(database=str(path))


def make_engine(
    url: URL, *, busy_timeout: float, lock_timeout: float, connect_timeout: float
) -> Engine:
    """The engine of a store: SQLite with ``BEGIN IMMEDIATE`` under our control, or a small
    PostgreSQL pool. A missing psycopg is a one-line :class:`ConfigError`."""
    if url.get_backend_name() == "sqlite":
        # NullPool: a connection per operation, so each one gets its own busy timeout and no
        # SQLite handle is ever shared between threads.
        engine = sa.create_engine(
            url,
            poolclass=NullPool,
            hide_parameters=True,
            connect_args={"timeout": busy_timeout, "check_same_thread": False},
        )
        busy_ms = int(busy_timeout * 1000)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Take transaction control away from the driver so BEGIN IMMEDIATE is ours.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            try:
                cur.execute(f"PRAGMA busy_timeout = {busy_ms}")
                cur.execute("PRAGMA journal_mode = WAL")
                cur.execute("PRAGMA synchronous = NORMAL")
            finally:
                cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            lock_ms = conn.get_execution_options().get(BEGIN_OPTION)
            if lock_ms is None:
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(lock_ms)}")
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    try:
        return _make_pg_engine(url, lock_timeout, connect_timeout)
    except ImportError:
        raise ConfigError(
            f"a PostgreSQL token store needs the psycopg driver: {POSTGRES_EXTRA_HINT}"
        ) from None


def _make_pg_engine(url: URL, lock_timeout: float, connect_timeout: float) -> Engine:
    return sa.create_engine(
        url,
        hide_parameters=True,
        pool_pre_ping=True,
        pool_size=2,
        max_overflow=4,
        pool_timeout=lock_timeout,
        connect_args={
            "connect_timeout": max(1, round(connect_timeout)),
            "application_name": "jainam_fsm",
        },
    )
