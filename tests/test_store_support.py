"""Shared helpers for the token-store tests: databases (SQLite file, fresh PostgreSQL database)
and a recording telemetry sink. Holds no tests itself."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

PEPPER = "unit-test-pepper-0123456789abcdef-XYZ"
OTHER_PEPPER = "another-pepper-0123456789abcdef-ABC!"
SALT_HEX = "00112233445566778899aabbccddeeff"

PG_HOST = os.environ.get("JAINAM_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("JAINAM_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("JAINAM_TEST_PG_USER", "postgres")
PG_ADMIN_DB = os.environ.get("JAINAM_TEST_PG_DB", "test")


def pg_url(dbname: str) -> str:
    return f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{dbname}"


@contextmanager
def fresh_pg_database() -> Iterator[str]:
    """A uniquely named database in the local cluster, dropped afterwards: parallel runs never
    collide and every test starts from an empty schema."""
    name = f"jfsm_store_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(
        host=PG_HOST,
        port=PG_PORT,
        user=PG_USER,
        dbname=PG_ADMIN_DB,
        autocommit=True,
        connect_timeout=5,
    ) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg_url(name)
    finally:
        with psycopg.connect(
            host=PG_HOST,
            port=PG_PORT,
            user=PG_USER,
            dbname=PG_ADMIN_DB,
            autocommit=True,
            connect_timeout=5,
        ) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_session_url() -> Iterator[str]:
    """One private PostgreSQL database for the session (CREATE DATABASE costs ~0.5 s)."""
    with fresh_pg_database() as url:
        yield url


def reset_pg_schema(url: str) -> None:
    """Drop the store's tables so the next test starts from an empty database."""
    dbname = url.rsplit("/", 1)[1]
    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=dbname, autocommit=True, connect_timeout=5
    ) as conn:
        conn.execute("SET lock_timeout = '5s'")
        conn.execute(
            "DROP TABLE IF EXISTS jainam_auth, jainam_instruments, jainam_instrument_fetches, "
            "jainam_alembic_version"
        )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tokens.db'}"
    else:
        url = request.getfixturevalue("pg_session_url")
        reset_pg_schema(url)
        yield url


@dataclass
class Event:
    name: str
    level: int
    fields: dict[str, object]


class RecordingSink:
    """A TelemetrySink that keeps every event (thread-safe)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def emit(self, event: str, level: int, fields: dict[str, object]) -> None:
        with self._lock:
            self.events.append(Event(event, level, dict(fields)))

    def names(self) -> list[str]:
        with self._lock:
            return [e.name for e in self.events]

    def of(self, name: str) -> list[Event]:
        with self._lock:
            return [e for e in self.events if e.name == name]
