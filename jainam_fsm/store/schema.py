"""Schema creation and upgrades, run by the store on first use.

Alembic earns its place here: it versions the schema (table ``jainam_alembic_version``), orders
the upgrade steps, and rewrites ``ALTER TABLE`` into SQLite's copy-and-move dance when a later
revision needs it. The revisions live in ``jainam_fsm/store/migrations/versions`` and run
programmatically (no ``alembic.ini``, no ``env.py``): :func:`upgrade` is handed a connection that
already holds the store's migration lock inside an open transaction, so several processes
starting on an empty database create the schema exactly once.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from jainam_fsm.store.models import VERSION_TABLE, Base

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Alembic's `context`/`op` are module-level proxies: one migration at a time per process.
_PROCESS_LOCK = threading.Lock()


def script_directory() -> ScriptDirectory:
    """The packaged Alembic revisions."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return ScriptDirectory.from_config(cfg)


def head_revision() -> str:
    """The newest revision this code knows."""
    head = script_directory().get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    """The revision the database is at (``None`` for an empty database)."""
    ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return ctx.get_current_revision()


def upgrade(conn: Connection) -> None:
    """Upgrade the database behind ``conn`` to the head revision, inside ``conn``'s transaction."""
    script = script_directory()
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))

    def _steps(rev: Any, _context: Any) -> Any:
        return script._upgrade_revs("head", rev)

    with _PROCESS_LOCK, EnvironmentContext(cfg, script, fn=_steps, destination_rev="head") as env:
        env.configure(
            connection=conn,
            target_metadata=Base.metadata,
            version_table=VERSION_TABLE,
            transactional_ddl=True,
        )
        env.run_migrations()
