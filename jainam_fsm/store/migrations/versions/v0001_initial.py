"""Create the jainam_auth token table.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from jainam_fsm.store.models import UTCDateTime

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create the table and its indexes."""
    op.create_table(
        "jainam_auth",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("broker", sa.String(32), nullable=False),
        sa.Column("auth", sa.Text(), nullable=True),
        sa.Column("feed_token", sa.Text(), nullable=True),
        sa.Column("user_id", sa.String(255), nullable=True),
        sa.Column("is_revoked", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("feed_token_stale", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("feed_token_expires_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("idx_jainam_auth_broker", "jainam_auth", ["broker"])
    op.create_index("idx_jainam_auth_user_id", "jainam_auth", ["user_id"])
    op.create_index("idx_jainam_auth_is_revoked", "jainam_auth", ["is_revoked"])


def downgrade() -> None:
    """Drop the table."""
    op.drop_table("jainam_auth")
