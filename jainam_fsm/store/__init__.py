"""Feed-token storage: an encrypted SQLAlchemy store and the adapter's TokenSource on top of it."""

from jainam_fsm.store.access import SchemaError, StoreLockTimeout, StoreUnavailable
from jainam_fsm.store.binding import TokenBinding, server_root
from jainam_fsm.store.crypto import TokenCipher, TokenDecryptError
from jainam_fsm.store.db import LockedUser, StoredToken, TokenStore
from jainam_fsm.store.engine import DATABASE_URL_ENV, default_database_url
from jainam_fsm.store.source import StoredTokenSource

__all__ = [
    "DATABASE_URL_ENV",
    "LockedUser",
    "SchemaError",
    "StoreLockTimeout",
    "StoreUnavailable",
    "StoredToken",
    "StoredTokenSource",
    "TokenBinding",
    "TokenCipher",
    "TokenDecryptError",
    "TokenStore",
    "default_database_url",
    "server_root",
]
