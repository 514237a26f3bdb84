"""The instrument-master cache: instruments and, per segment, when they were fetched.

Revision ID: 0004
Revises: 0003

Two new tables, nothing else touched: a symbol lookup (``NSE:RELIANCE``) then needs no network
(docs/instruments.md). Downgrading drops them (the data is a cache of the server's master).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from jainam_fsm.store.models import UTCDateTime

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create ``jainam_instruments`` and ``jainam_instrument_fetches``."""
    op.create_table(
        "jainam_instruments",
        sa.Column("segment", sa.Integer, primary_key=True),
        sa.Column("instrument_id", sa.BigInteger, primary_key=True),
        sa.Column("exchange", sa.String(16), nullable=False),
        sa.Column("symbol", sa.String(128), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.String(255), nullable=False),
        sa.Column("series", sa.String(32), nullable=False),
        sa.Column("instrument_type", sa.Integer, nullable=False),
        sa.Column("lot_size", sa.Integer, nullable=True),
        sa.Column("tick_size", sa.Float, nullable=True),
        sa.Column("expiry", sa.Date, nullable=True),
        sa.Column("strike", sa.String(32), nullable=True),
        sa.Column("option_type", sa.String(4), nullable=True),
        sa.Column("line", sa.Text, nullable=False),
    )
    op.create_index("idx_jainam_instruments_symbol", "jainam_instruments", ["segment", "symbol"])
    op.create_table(
        "jainam_instrument_fetches",
        sa.Column("segment", sa.Integer, primary_key=True),
        sa.Column("server", sa.String(255), nullable=False),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    """Drop both tables."""
    op.drop_table("jainam_instrument_fetches")
    op.drop_index("idx_jainam_instruments_symbol", table_name="jainam_instruments")
    op.drop_table("jainam_instruments")
