"""Bind tokens to a server root and an app key; add the secret fingerprint.

Revision ID: 0002
Revises: 0001

The unique key changes from ``name`` to ``(name, server, app_key)``. Dropping an unnamed unique
constraint is dialect-specific (SQLite cannot at all), so the table is rebuilt the same way on
every backend: create the new table, copy every row, drop the old one, rename. Existing rows are
kept as *unbound* (server and app key ""): a bound lookup never matches them, so a token stored
before this revision is never sent to a server it may not belong to; the next connect logs in
once and stores a bound row.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from jainam_fsm.store.models import UTCDateTime

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_INDEXES = (
    ("idx_jainam_auth_broker", ["broker"]),
    ("idx_jainam_auth_user_id", ["user_id"]),
    ("idx_jainam_auth_is_revoked", ["is_revoked"]),
)
_COPY_ROWS = (
    "INSERT INTO jainam_auth_new (name, broker, auth, feed_token, user_id, is_revoked, "
    "feed_token_stale, feed_token_expires_at, created_at, updated_at, server, app_key) "
    "SELECT name, broker, auth, feed_token, user_id, is_revoked, feed_token_stale, "
    "feed_token_expires_at, created_at, updated_at, '', '' FROM jainam_auth ORDER BY id"
)


def upgrade() -> None:
    """Rebuild ``jainam_auth`` with the binding columns; old rows become unbound."""
    for name, _ in _INDEXES:
        op.drop_index(name, table_name="jainam_auth")
    op.create_table(
        "jainam_auth_new",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("server", sa.String(255), nullable=False, server_default=""),
        sa.Column("app_key", sa.String(255), nullable=False, server_default=""),
        sa.Column("secret_fp", sa.String(64), nullable=True),
        sa.Column("broker", sa.String(32), nullable=False),
        sa.Column("auth", sa.Text(), nullable=True),
        sa.Column("feed_token", sa.Text(), nullable=True),
        sa.Column("user_id", sa.String(255), nullable=True),
        sa.Column("is_revoked", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("feed_token_stale", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("feed_token_expires_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("name", "server", "app_key", name="uq_jainam_auth_binding"),
    )
    op.execute(_COPY_ROWS)
    op.drop_table("jainam_auth")
    op.rename_table("jainam_auth_new", "jainam_auth")
    for name, columns in _INDEXES:
        op.create_index(name, "jainam_auth", columns)


def downgrade() -> None:
    """Not supported: several bound rows per user cannot fold back into one."""
    raise NotImplementedError("the token binding cannot be downgraded; revoke and re-create")
