"""Record which market-data API (JSON or binary) issued the feed token.

Revision ID: 0003
Revises: 0002

A nullable column: rows written before it say nothing, and an ``api="auto"`` adapter then asks
the server once (without logging in) instead of trusting the row (docs/configuration.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add ``feed_api`` ("json" or "binary", NULL when unknown)."""
    op.add_column("jainam_auth", sa.Column("feed_api", sa.String(16), nullable=True))


def downgrade() -> None:
    """Drop the column (the information is a cache: the adapter can probe again)."""
    with op.batch_alter_table("jainam_auth") as batch:
        batch.drop_column("feed_api")
