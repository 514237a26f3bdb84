"""The instrument-master cache tables (SQLAlchemy Core), created by revision 0004.

``jainam_instruments`` holds one row per instrument of the master (its key is the XTS
``(segment, instrument id)``); ``jainam_instrument_fetches`` one row per exchange segment saying
when its master was last downloaded and from which server root, so a stale segment is refreshed
and a fresh one is never fetched again (docs/instruments.md).
"""

from __future__ import annotations

import sqlalchemy as sa

from jainam_fsm.store.models import Base, UTCDateTime

INSTRUMENTS_TABLE = "jainam_instruments"
FETCHES_TABLE = "jainam_instrument_fetches"

instruments = sa.Table(
    INSTRUMENTS_TABLE,
    Base.metadata,
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
    sa.Index("idx_jainam_instruments_symbol", "segment", "symbol"),
)

fetches = sa.Table(
    FETCHES_TABLE,
    Base.metadata,
    sa.Column("segment", sa.Integer, primary_key=True),
    sa.Column("server", sa.String(255), nullable=False),
    sa.Column("fetched_at", UTCDateTime(), nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
)
