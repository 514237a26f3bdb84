"""The token store: one encrypted row per user/account in SQLite or PostgreSQL.

Every read goes to the database (no per-process cache, so a token another process wrote is
seen at once). Writes for one user are serialised by a per-user lock that also spans hosts
(PostgreSQL advisory locks, SQLite write transactions; WAL mode keeps plain reads unblocked
meanwhile): see :mod:`jainam_fsm.store.access`, which also keeps the schema and turns database
failures into :class:`~jainam_fsm.store.access.StoreUnavailable`.

The same lock makes the login single-flight (:meth:`TokenStore.locked`, used by
:class:`~jainam_fsm.store.source.StoredTokenSource`) and creates the schema exactly once.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from jainam_fsm.core.ports import FeedToken
from jainam_fsm.store.access import StoreAccess
from jainam_fsm.store.binding import UNBOUND, TokenBinding
from jainam_fsm.store.crypto import TokenCipher, key_specs
from jainam_fsm.store.engine import make_engine, resolve_url
from jainam_fsm.store.keyfile import announce, resolve_key
from jainam_fsm.store.models import AuthRecord
from jainam_fsm.telemetry import REDACTOR

log = logging.getLogger("jainam_fsm.store")

DEFAULT_BROKER = "jainam_prop"


@dataclass(frozen=True)
class StoredToken:
    """A decrypted row. Its ``repr`` never shows a token (FeedToken shows a fingerprint)."""

    user: str
    broker: str
    feed_token: FeedToken | None
    auth_token: str | None = field(repr=False)
    broker_user_id: str | None
    revoked: bool
    stale: bool
    created_at: datetime
    updated_at: datetime
    #: Server root and app key of the row ("" and "" for an unbound row).
    server: str = UNBOUND
    app_key: str = UNBOUND
    #: HMAC fingerprint of the secret key the token was obtained with (``None``: unknown).
    secret_fp: str | None = field(default=None, repr=False)

    def usable(self, now: float, margin: float = 0.0) -> bool:
        """A feed token is present, not revoked, not stale, and valid beyond ``now + margin``."""
        if self.revoked or self.stale or self.feed_token is None:
            return False
        exp = self.feed_token.expires_at
        return exp is None or exp > now + margin


def _to_dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def _to_ts(dt: datetime | None) -> float | None:
    return None if dt is None else dt.timestamp()


def _where(user: str, binding: TokenBinding | None) -> Any:
    """The row of ``user`` under ``binding`` (``None``: the unbound row)."""
    server, app_key = (UNBOUND, UNBOUND) if binding is None else (binding.server, binding.app_key)
    return sa.and_(
        AuthRecord.name == user, AuthRecord.server == server, AuthRecord.app_key == app_key
    )


def _lock_name(user: str, binding: TokenBinding | None) -> str:
    return f"user:{user}" if binding is None else f"user:{user}|{binding.lock_name}"


class LockedUser:
    """Reads and writes one user's row while holding the user's lock (:meth:`TokenStore.locked`)."""

    def __init__(
        self, store: TokenStore, session: Session, user: str, binding: TokenBinding | None = None
    ) -> None:
        self._store = store
        self._session = session
        self.user = user
        self.binding = binding

    def _row(self) -> AuthRecord | None:
        return self._session.execute(
            select(AuthRecord).where(_where(self.user, self.binding))
        ).scalar_one_or_none()

    def read(self) -> StoredToken | None:
        """The row as it is now (revoked and stale rows included)."""
        row = self._row()
        return None if row is None else self._store._decode(row)

    def mark_stale(self) -> None:
        """Flag the stored feed token as rejected by the server."""
        row = self._row()
        if row is not None and not row.feed_token_stale:
            row.feed_token_stale = True
            row.updated_at = datetime.now(UTC)
            self._session.flush()

    def store_feed_token(self, token: FeedToken, *, broker: str | None = None) -> FeedToken:
        """Write a fresh feed token (clears the stale and revoked flags); return it as stored
        (the expiry at the database's microsecond precision, so later reads compare equal)."""
        self._store._upsert(
            self._session,
            self.user,
            self.binding,
            broker=broker,
            auth_token=None,
            feed_token=token.value,
            user_id=token.user_id,
            expires_at=token.expires_at,
            revoke=False,
            set_expiry=True,
            feed_api=token.api,
        )
        return FeedToken(
            token.value, token.user_id, _to_ts(_to_dt(token.expires_at)), api=token.api
        )


class TokenStore(StoreAccess):
    """Encrypted token rows in SQLite or PostgreSQL; see the module docstring.

    Arguments fall back to the environment: ``url`` to ``JAINAM_DATABASE_URL`` (then the
    default SQLite file), ``pepper`` to ``JAINAM_TOKEN_PEPPER``, ``key_file`` to
    ``JAINAM_TOKEN_KEY_FILE``; with neither, a SQLite store makes its own key file beside the
    database (see :mod:`jainam_fsm.store.keyfile`); ``salt`` (hex) to
    ``JAINAM_TOKEN_SALT``; ``previous_pepper``/``previous_salt`` (a key being rotated out) to
    ``JAINAM_TOKEN_PEPPER_PREVIOUS``/``JAINAM_TOKEN_SALT_PREVIOUS``. Invalid values raise
    :class:`~jainam_fsm.errors.ConfigError` naming the variable. Nothing connects until first use.
    """

    def __init__(
        self,
        url: str | URL | None = None,
        *,
        pepper: str | None = None,
        salt: str | bytes | None = None,
        previous_pepper: str | None = None,
        previous_salt: str | bytes | None = None,
        key_file: str | os.PathLike[str] | None = None,
        broker: str = DEFAULT_BROKER,
        lock_timeout: float = 30.0,
        busy_timeout: float = 15.0,
        connect_timeout: float = 5.0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self.broker = broker
        self.lock_timeout = float(lock_timeout)
        self.busy_timeout = float(busy_timeout)
        self.url = resolve_url(url, env)
        key = resolve_key(
            env,
            pepper=pepper,
            key_file=key_file,
            dialect=self.dialect,
            sqlite_path=Path(self.url.database)
            if self.dialect == "sqlite" and self.url.database
            else None,
        )
        #: Where the key came from (``key.describe()``); never the key itself.
        self.key_source = key.describe()
        self._cipher = TokenCipher(
            *key_specs(
                env,
                pepper=key.pepper,
                salt=salt,
                previous_pepper=previous_pepper,
                previous_salt=previous_salt,
            )
        )
        self._engine = make_engine(
            self.url,
            busy_timeout=self.busy_timeout,
            lock_timeout=self.lock_timeout,
            connect_timeout=connect_timeout,
        )
        announce(self.url.render_as_string(hide_password=True), key)
        self._schema_lock = threading.Lock()
        self._schema_ready = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> TokenStore:
        """A store configured entirely from the environment (see the class docstring)."""
        return cls(environ=environ, **kwargs)

    # -- configuration ----------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"TokenStore(url={self.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        """Dispose of the engine and its connections. The store can be used again afterwards."""
        self._engine.dispose()

    def __enter__(self) -> TokenStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def locked(
        self, user: str, timeout: float | None = None, *, binding: TokenBinding | None = None
    ) -> Iterator[LockedUser]:
        """Hold ``user``'s lock (across threads, processes and hosts) for a read-modify-write.

        With a ``binding`` the lock and the row are those of ``user`` on that server and app key.

        Waits at most ``timeout`` seconds (default: the store's ``lock_timeout``) and then
        raises :class:`StoreLockTimeout`. Changes commit when the block exits normally and roll
        back if it raises. Database failures raise :class:`StoreUnavailable`.
        """
        self._ensure_schema()
        wait = self.lock_timeout if timeout is None else timeout
        with (
            self._errors("locked update"),
            self._locked_connection(_lock_name(user, binding), wait) as conn,
            Session(bind=conn, expire_on_commit=False) as session,
        ):
            yield LockedUser(self, session, user, binding)
            session.flush()

    # -- row helpers ------------------------------------------------------------------------

    def _decode(self, row: AuthRecord) -> StoredToken:
        feed: FeedToken | None = None
        if row.feed_token:
            feed = FeedToken(
                self._cipher.decrypt(row.feed_token),
                row.user_id or "",
                _to_ts(row.feed_token_expires_at),
                api=row.feed_api,
            )
        auth = self._cipher.decrypt(row.auth) if row.auth else None
        # Every decrypted secret is scrubbed from logs from now on, whoever prints it.
        REDACTOR.add(feed.value if feed else None, auth)
        return StoredToken(
            user=row.name,
            broker=row.broker,
            feed_token=feed,
            auth_token=auth,
            broker_user_id=row.user_id,
            revoked=row.is_revoked,
            stale=row.feed_token_stale,
            created_at=row.created_at,
            updated_at=row.updated_at,
            server=row.server,
            app_key=row.app_key,
            secret_fp=row.secret_fp,
        )

    def secret_changed(self, record: StoredToken, binding: TokenBinding | None) -> bool:
        """Whether ``record`` was written with a secret key other than ``binding``'s.

        ``False`` when either side does not know the secret (no fingerprint to compare).
        """
        if binding is None or binding.secret_key is None or record.secret_fp is None:
            return False
        return not self._cipher.fingerprint_matches(binding.secret_key, record.secret_fp)

    def _upsert(
        self,
        session: Session,
        user: str,
        binding: TokenBinding | None,
        *,
        broker: str | None,
        auth_token: str | None,
        feed_token: str | None,
        user_id: str | None,
        expires_at: float | None,
        revoke: bool,
        set_expiry: bool,
        feed_api: str | None = None,
    ) -> bool:
        row = session.execute(select(AuthRecord).where(_where(user, binding))).scalar_one_or_none()
        now = datetime.now(UTC)
        secret_fp = (
            None
            if binding is None or binding.secret_key is None or not feed_token
            else self._cipher.fingerprint(binding.secret_key)
        )
        if row is None:
            if revoke:
                return False
            session.add(
                AuthRecord(
                    name=user,
                    server=UNBOUND if binding is None else binding.server,
                    app_key=UNBOUND if binding is None else binding.app_key,
                    secret_fp=secret_fp,
                    broker=broker or self.broker,
                    auth=self._cipher.encrypt(auth_token) if auth_token else None,
                    feed_token=self._cipher.encrypt(feed_token) if feed_token else None,
                    user_id=user_id,
                    is_revoked=False,
                    feed_token_stale=False,
                    feed_token_expires_at=_to_dt(expires_at),
                    feed_api=feed_api if feed_token else None,
                    created_at=now,
                    updated_at=now,
                )
            )
            session.flush()
            return True
        # Fernet ciphertext differs on every encryption, so compare plaintexts.
        changed = False
        if broker is not None and broker != row.broker:
            row.broker, changed = broker, True
        if auth_token and (row.auth is None or self._cipher.decrypt(row.auth) != auth_token):
            row.auth, changed = self._cipher.encrypt(auth_token), True
        if feed_token and (
            row.feed_token is None or self._cipher.decrypt(row.feed_token) != feed_token
        ):
            row.feed_token, changed = self._cipher.encrypt(feed_token), True
            row.feed_token_stale = False
            set_expiry = True
        if feed_token and row.feed_api != feed_api:
            row.feed_api, changed = feed_api, True  # a new token: its own API (or unknown)
        if set_expiry and _to_ts(row.feed_token_expires_at) != expires_at:
            row.feed_token_expires_at, changed = _to_dt(expires_at), True
        if user_id is not None and user_id != row.user_id:
            row.user_id, changed = user_id, True
        if row.is_revoked != revoke:
            row.is_revoked, changed = revoke, True
        if feed_token and row.feed_token_stale:
            row.feed_token_stale, changed = False, True
        if secret_fp is not None and row.secret_fp != secret_fp:
            row.secret_fp, changed = secret_fp, True
        if changed:
            row.updated_at = now
            session.flush()
        return changed

    # -- the integration API ----------------------------------------------------------------

    def get_record(self, user: str, *, binding: TokenBinding | None = None) -> StoredToken | None:
        """The decrypted row for ``user`` under ``binding`` (``None``: the unbound row),
        revoked or stale included, or ``None``."""
        with self._read_session("read") as session:
            row = session.execute(
                select(AuthRecord).where(_where(user, binding))
            ).scalar_one_or_none()
            return None if row is None else self._decode(row)

    def list_users(self) -> list[str]:
        """Every user with a row (revoked included), sorted, each once."""
        with self._read_session("list users") as session:
            return sorted(set(session.execute(select(AuthRecord.name)).scalars()))

    def list_records(self, users: list[str] | None = None) -> list[StoredToken]:
        """Every row (of ``users`` if given), decrypted, by user, server and app key.

        A row the current key cannot decrypt raises ``TokenDecryptError``.
        """
        with self._read_session("list") as session:
            query = select(AuthRecord).order_by(
                AuthRecord.name, AuthRecord.server, AuthRecord.app_key
            )
            if users:
                query = query.where(AuthRecord.name.in_(users))
            return [self._decode(row) for row in session.execute(query).scalars()]

    def get_feed_token(
        self, user: str, *, now: float | None = None, binding: TokenBinding | None = None
    ) -> str | None:
        """The stored feed token if usable (present, not revoked, not stale, not expired)."""
        rec = self.get_record(user, binding=binding)
        if rec is None or rec.feed_token is None:
            return None
        t = datetime.now(UTC).timestamp() if now is None else now
        return rec.feed_token.value if rec.usable(t) else None

    def get_auth_token(self, user: str, *, binding: TokenBinding | None = None) -> str | None:
        """The stored broker auth token, unless the row is revoked."""
        rec = self.get_record(user, binding=binding)
        return None if rec is None or rec.revoked else rec.auth_token

    def get_user_id(self, user: str, *, binding: TokenBinding | None = None) -> str | None:
        """The broker's client id for ``user``, unless the row is revoked."""
        rec = self.get_record(user, binding=binding)
        return None if rec is None or rec.revoked else rec.broker_user_id

    def store_broker_auth_token(
        self,
        user: str,
        auth_token: str | None = None,
        broker: str | None = None,
        *,
        feed_token: str | None = None,
        user_id: str | None = None,
        feed_token_expires_at: float | None = None,
        revoke: bool = False,
        binding: TokenBinding | None = None,
    ) -> bool:
        """Insert or update ``user``'s row; return whether anything changed.

        ``None`` leaves a stored value as it is. When nothing changed there is no write at all,
        so callers tear down live sessions only when this returns ``True``. Storing a new feed
        token clears the stale flag; storing with ``revoke=False`` clears the revoked flag.
        ``binding`` names the server and app key the token belongs to (and, with its secret,
        records the secret's fingerprint); ``None`` writes the unbound row, which the adapter's
        bound lookups never use.
        """
        with self.locked(user, binding=binding) as locked:
            return self._upsert(
                locked._session,
                user,
                binding,
                broker=broker,
                auth_token=auth_token,
                feed_token=feed_token,
                user_id=user_id,
                expires_at=feed_token_expires_at,
                revoke=revoke,
                set_expiry=feed_token_expires_at is not None,
            )

    def revoke(self, user: str, *, binding: TokenBinding | None = None) -> bool:
        """Soft-revoke ``user``'s tokens under ``binding`` (getters then treat the row as
        missing)."""
        with self.locked(user, binding=binding) as locked:
            return self._upsert(
                locked._session,
                user,
                binding,
                broker=None,
                auth_token=None,
                feed_token=None,
                user_id=None,
                expires_at=None,
                revoke=True,
                set_expiry=False,
            )

    def revoke_all(self, user: str) -> int:
        """Soft-revoke every row of ``user`` (every server and app key); return how many
        changed."""
        count = 0
        for rec in self.list_records([user]):
            binding = _binding_of(rec.server, rec.app_key)
            count += self.revoke(user, binding=binding)
        return count

    def mark_stale(
        self, user: str, token: FeedToken, *, binding: TokenBinding | None = None
    ) -> bool:
        """Flag the stored feed token stale if it is still ``token``; return whether it was."""
        with self.locked(user, binding=binding) as locked:
            rec = locked.read()
            if rec is None or rec.feed_token is None or rec.feed_token.value != token.value:
                return False
            locked.mark_stale()
            return True

    def rotate_key(self) -> int:
        """Re-encrypt every row under the current key; return how many rows were rewritten.

        Run with the new pepper in ``JAINAM_TOKEN_PEPPER`` and the old one in
        ``JAINAM_TOKEN_PEPPER_PREVIOUS`` (see docs/tokens.md).
        """
        count = 0
        with self._read_session("list") as session:
            keys = list(
                session.execute(select(AuthRecord.name, AuthRecord.server, AuthRecord.app_key))
            )
        for user, server, app_key in keys:
            with self.locked(user, binding=_binding_of(server, app_key)) as locked:
                row = locked._row()
                if row is None:
                    continue
                if row.auth:
                    row.auth = self._cipher.rotate(row.auth)
                if row.feed_token:
                    row.feed_token = self._cipher.rotate(row.feed_token)
                locked._session.flush()
                count += 1
        return count


def _binding_of(server: str, app_key: str) -> TokenBinding | None:
    """The binding of a stored row (``None`` for an unbound one)."""
    if server == UNBOUND and app_key == UNBOUND:
        return None
    return TokenBinding(server, app_key)
