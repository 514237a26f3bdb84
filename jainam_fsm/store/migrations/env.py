"""Alembic environment of the token store, run by ``alembic.command.upgrade`` (public API).

There is no ``alembic.ini``: :func:`jainam_fsm.store.schema.upgrade` hands over a connection
that already holds the store's migration lock inside an open transaction, in
``config.attributes["connection"]`` (Alembic's documented way to share a connection). The
migrations run inside that transaction, so they commit or roll back with the lock.
"""

from __future__ import annotations

from alembic import context

from jainam_fsm.store.models import VERSION_TABLE, Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
