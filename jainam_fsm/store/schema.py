"""Schema creation and upgrades, run by the store on first use.

Alembic earns its place here: it versions the schema (table ``jainam_alembic_version``), orders
the upgrade steps, and rewrites ``ALTER TABLE`` into SQLite's copy-and-move dance when a later
revision needs it. The revisions live in ``jainam_fsm/store/migrations/versions`` and run through
Alembic's public ``command.upgrade`` (no ``alembic.ini``; ``migrations/env.py`` reads the
connection from ``Config.attributes``): :func:`upgrade` is handed a connection that already
holds the store's migration lock inside an open transaction, so several processes starting on
an empty database create the schema exactly once.
"""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from jainam_fsm.store.models import VERSION_TABLE

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Alembic's `context`/`op` are module-level proxies: one migration at a time per process.
_PROCESS_LOCK = threading.Lock()


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


def script_directory() -> ScriptDirectory:
    """The packaged Alembic revisions."""
    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    """The newest revision this code knows."""
    head = script_directory().get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    """The revision the database is at (``None`` for an empty database)."""
    ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return ctx.get_current_revision()


def upgrade(conn: Connection, revision: str = "head") -> None:
    """Upgrade the database behind ``conn`` to ``revision``, inside ``conn``'s transaction.

    Runs ``alembic.command.upgrade`` (Alembic's public API) with the connection passed in
    ``Config.attributes``; ``migrations/env.py`` picks it up.
    """
    cfg = _config()
    cfg.attributes["connection"] = conn
    with _PROCESS_LOCK:
        command.upgrade(cfg, revision)
