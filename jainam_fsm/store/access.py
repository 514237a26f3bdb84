"""Database access under the token store: failures as :class:`StoreUnavailable`, per-name
locks that span threads, processes and hosts, and the schema created or upgraded on first use.

:class:`StoreAccess` is the part of :class:`~jainam_fsm.store.db.TokenStore` that knows nothing
of token rows; the rows, their encryption and the integration API are in :mod:`.db`.

* PostgreSQL locks: ``pg_advisory_xact_lock`` on a key derived from the lock name, bounded by
  ``SET LOCAL lock_timeout``; released by the commit (or by the server if the process dies).
* SQLite locks: a ``BEGIN IMMEDIATE`` write transaction, bounded by ``PRAGMA busy_timeout``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from jainam_fsm.core.causes import Cause
from jainam_fsm.errors import TokenUnavailable
from jainam_fsm.store import schema
from jainam_fsm.store.engine import BEGIN_OPTION
from jainam_fsm.store.models import TABLE_NAME

__all__ = ["SchemaError", "StoreAccess", "StoreLockTimeout", "StoreUnavailable"]

log = logging.getLogger("jainam_fsm.store")

_PG_LOCK_NOT_AVAILABLE = "55P03"


class StoreUnavailable(TokenUnavailable):
    """The database cannot be reached or answered with an error. Transient: retry later."""

    def __init__(self, message: str = "", *, cause: Cause | None = Cause.STORE) -> None:
        super().__init__(message, cause=cause)


class StoreLockTimeout(StoreUnavailable):
    """Another worker held the user's lock longer than the lock timeout."""


class SchemaError(StoreUnavailable):
    """The database schema is at a revision this version does not know (a newer one wrote it)."""


def _lock_key(name: str) -> int:
    """A signed 64-bit advisory-lock key, the same on every host."""
    digest = hashlib.sha256(f"jainam_fsm:{TABLE_NAME}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _short(exc: BaseException) -> str:
    """First line of an exception's text (bound parameters are hidden by the engine)."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(getattr(exc, 'orig', None) or exc).__name__}: {text[0] if text else ''}"[:300]


class StoreAccess:
    """Connections, locks and the schema of one store's database (a base of ``TokenStore``)."""

    url: URL
    lock_timeout: float
    _engine: Engine
    _schema_lock: threading.Lock
    _schema_ready: bool

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.url.get_backend_name()

    # -- connections and locks --------------------------------------------------------------

    @contextmanager
    def _errors(self, op: str) -> Iterator[None]:
        try:
            yield
        except StoreUnavailable:
            raise
        except SQLAlchemyError as exc:
            orig = getattr(exc, "orig", None)
            msg = (
                f"token store: {op} failed on "
                f"{self.url.render_as_string(hide_password=True)}: {_short(exc)}"
            )
            if getattr(orig, "sqlstate", None) == _PG_LOCK_NOT_AVAILABLE or (
                self.dialect == "sqlite" and "locked" in str(orig or exc).lower()
            ):
                raise StoreLockTimeout(
                    f"token store: {op}: lock not granted in time ({_short(exc)})"
                ) from exc
            raise StoreUnavailable(msg) from exc

    @contextmanager
    def _locked_connection(self, key_name: str, timeout: float) -> Iterator[Connection]:
        """A connection inside a transaction that holds the lock ``key_name``; commits on exit."""
        ms = max(1, int(timeout * 1000))
        with self._engine.connect() as conn:
            if self.dialect == "sqlite":
                conn.execution_options(**{BEGIN_OPTION: ms})
                conn.begin()
            else:
                conn.begin()
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = {ms}")
                conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key(key_name)}
                )
            yield conn
            conn.commit()

    def _ensure_schema(self) -> None:
        if self._schema_ready:
            return
        deadline = time.monotonic() + self.lock_timeout
        pause = 0.02
        while True:
            try:
                self._ensure_schema_once()
                return
            except StoreLockTimeout:
                # SQLite can answer "database is locked" at once, without its busy handler,
                # while several processes open a brand-new file (the switch to WAL, a read
                # that meets another process's DDL): retry within the lock timeout.
                if self.dialect != "sqlite" or time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.5)

    def _ensure_schema_once(self) -> None:
        with self._schema_lock, self._errors("schema check"):
            if self._schema_ready:
                return
            head = schema.head_revision()
            with self._engine.connect() as conn:
                current = schema.current_revision(conn)
                conn.rollback()
            if current != head:
                with self._locked_connection("__schema__", self.lock_timeout) as conn:
                    current = schema.current_revision(conn)
                    if current != head:
                        known = {r.revision for r in schema.script_directory().walk_revisions()}
                        if current is not None and current not in known:
                            raise SchemaError(
                                f"token store: the database schema is at revision {current!r}, "
                                f"newer than this jainam-fsm knows ({head!r}); upgrade jainam-fsm"
                            )
                        log.debug("token store: upgrading schema %s -> %s", current, head)
                        schema.upgrade(conn)
            self._schema_ready = True

    def ensure_schema(self) -> None:
        """Create or upgrade the schema now (otherwise done on first use)."""
        self._ensure_schema()

    def schema_revision(self) -> str | None:
        """The database's schema revision."""
        with self._errors("schema check"), self._engine.connect() as conn:
            return schema.current_revision(conn)

    # -- for jainam-fsm's other tables in this database (the instrument cache) -------------

    @contextmanager
    def read_connection(self, op: str) -> Iterator[Connection]:
        """A connection for reads, the schema ensured first; a database failure is raised as
        :class:`StoreUnavailable` naming ``op``. Internal: for jainam-fsm modules that keep their
        own tables in the store's database (:mod:`jainam_fsm.instruments.cache`)."""
        self._ensure_schema()
        with self._errors(op), self._engine.connect() as conn:
            yield conn

    @contextmanager
    def write_transaction(self, op: str, lock: str) -> Iterator[Connection]:
        """A transaction holding the lock named ``lock`` (across threads, processes and hosts,
        granted within ``lock_timeout`` or :class:`StoreLockTimeout`), committed on a clean
        exit; the schema is ensured first and failures are raised as :class:`StoreUnavailable`
        naming ``op``. Internal, like :meth:`read_connection`."""
        self._ensure_schema()
        with self._errors(op), self._locked_connection(lock, self.lock_timeout) as conn:
            yield conn

    @contextmanager
    def _read_session(self, op: str) -> Iterator[Session]:
        self._ensure_schema()
        with self._errors(op), self._engine.connect() as conn, Session(bind=conn) as session:
            yield session
            conn.rollback()
