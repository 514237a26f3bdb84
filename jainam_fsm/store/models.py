"""The ORM model of the token table (typed SQLAlchemy 2.0 declarative mapping).

One row per platform user/account **and binding** (server root, app key), modelled on
OpenAlgo's ``auth`` table: the broker, the encrypted broker auth token, the encrypted feed
token, the broker's user id, a soft revoke flag, plus what the feed adapter needs: the feed
token's expiry, a "stale" flag set when the server rejected it, an HMAC fingerprint of the
secret key the token was obtained with, and created/updated times. Token columns only ever hold
Fernet ciphertext.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Boolean, DateTime, Dialect, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

TABLE_NAME = "jainam_auth"
#: Alembic's bookkeeping table, named so it never clashes with a host application's own.
VERSION_TABLE = "jainam_alembic_version"


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend (SQLite drops the zone, so store naive UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base for the token store's tables (separate from any host app's metadata)."""


class AuthRecord(Base):
    """One user/account's broker tokens."""

    __tablename__ = TABLE_NAME

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: The platform user/account name: with ``server`` and ``app_key``, the key of every lookup.
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    #: Server root the token belongs to (``https://host:443``); "" for an unbound row.
    server: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    #: App key the token was issued to; "" for an unbound row.
    app_key: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    #: HMAC-SHA256 (hex) of the secret key, keyed with the store key; never the secret itself.
    secret_fp: Mapped[str | None] = mapped_column(String(64), nullable=True)
    broker: Mapped[str] = mapped_column(String(32), nullable=False)
    #: Encrypted broker (interactive) auth token.
    auth: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Encrypted market-data feed token.
    feed_token: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: The broker's client id (``result.userID`` of the login answer).
    user_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    is_revoked: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    #: Set when the server rejected the stored feed token; cleared by the next store.
    feed_token_stale: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    #: The market-data API that issued the feed token ("json" or "binary"), when known.
    feed_api: Mapped[str | None] = mapped_column(String(16), nullable=True)
    #: The feed token's expiry (JWT ``exp``), when known.
    feed_token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (
        UniqueConstraint("name", "server", "app_key", name="uq_jainam_auth_binding"),
        Index("idx_jainam_auth_broker", "broker"),
        Index("idx_jainam_auth_user_id", "user_id"),
        Index("idx_jainam_auth_is_revoked", "is_revoked"),
    )

    def __repr__(self) -> str:
        # Token columns are ciphertext, but even that stays out of reprs and logs.
        return (
            f"AuthRecord(name={self.name!r}, server={self.server!r}, broker={self.broker!r}, "
            f"is_revoked={self.is_revoked!r}, feed_token_stale={self.feed_token_stale!r})"
        )
