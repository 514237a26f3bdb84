"""Where the token store's key comes from: a pepper, a key file, or a key file made for you.

Order (the first that is set wins):

1. the ``pepper`` argument, then ``JAINAM_TOKEN_PEPPER``;
2. the ``key_file`` argument, then ``JAINAM_TOKEN_KEY_FILE`` (the file must exist);
3. SQLite only: ``<database file>.key`` beside the database, created on first use with a random
   key and mode 0600, reused afterwards. A PostgreSQL store is shared by several hosts, which
   must all use the same key, so there it is an error to set neither variable.

A key file is refused when group or others may read or write it (``chmod 600``), when it is not
a regular file, or when it holds fewer than 32 characters. The key's contents are registered
with the log redactor. Messages never show the contents; they show the path of an existing
file (never the value of ``JAINAM_TOKEN_KEY_FILE`` when that names nothing, since a secret
typed into the wrong variable must not be printed).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from jainam_fsm.errors import ConfigError
from jainam_fsm.store.crypto import MIN_PEPPER_LENGTH, PEPPER_ENV, validate_pepper
from jainam_fsm.telemetry import REDACTOR

log = logging.getLogger("jainam_fsm.store")

KEY_FILE_ENV = "JAINAM_TOKEN_KEY_FILE"
#: Largest key file read (a key is a line of text; anything bigger is not a key file).
MAX_KEY_FILE_BYTES = 4096

_announced: set[tuple[str, str]] = set()
_announce_lock = threading.Lock()


@dataclass(frozen=True)
class StoreKey:
    """The pepper to use and where it came from. ``repr`` never shows the pepper."""

    pepper: str = field(repr=False)
    #: ``"argument"``, ``JAINAM_TOKEN_PEPPER``, or ``"key file"``.
    source: str
    path: Path | None = None
    created: bool = False

    def describe(self) -> str:
        """Where the key is, for the one INFO line (never the key itself)."""
        if self.path is None:
            return self.source
        return f"key file {self.path}" + (" (created now)" if self.created else "")


def key_file_beside(database: Path) -> Path:
    """The automatic key file of a SQLite database: ``<database file>.key``."""
    return database.with_name(database.name + ".key")


def resolve_key(
    env: Mapping[str, str],
    *,
    pepper: str | None,
    key_file: str | os.PathLike[str] | None,
    dialect: str,
    sqlite_path: Path | None,
) -> StoreKey:
    """Pick the store key following the order of the module docstring."""
    if pepper is not None:
        return StoreKey(validate_pepper(pepper), "argument")
    env_pepper = env.get(PEPPER_ENV)
    if env_pepper:
        return StoreKey(validate_pepper(env_pepper), PEPPER_ENV)
    if key_file is not None:
        path = Path(key_file).expanduser()
        return StoreKey(read_key_file(path, "the key_file argument"), "key file", path)
    env_file = (env.get(KEY_FILE_ENV) or "").strip()
    if env_file:
        path = Path(env_file).expanduser()
        return StoreKey(read_key_file(path, KEY_FILE_ENV), "key file", path)
    if dialect != "sqlite" or sqlite_path is None:
        raise ConfigError(
            f"a PostgreSQL token store is shared by several hosts and needs the same explicit "
            f"key on each: set {PEPPER_ENV} (at least {MIN_PEPPER_LENGTH} characters) or "
            f"{KEY_FILE_ENV} (a file with mode 0600)"
        )
    return load_or_create(key_file_beside(sqlite_path))


def read_key_file(path: Path, where: str) -> str:
    """The key in ``path``; one-line :class:`ConfigError` for a missing, open or bad file."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise ConfigError(
            f"{where} names a key file that does not exist; create one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))' > FILE` "
            "and `chmod 600 FILE`"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"{where}: the key file cannot be opened ({type(exc).__name__}; "
            "a symbolic link is not followed)"
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{where}: the key file {path} is not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if os.name == "posix" and mode & 0o077:
            raise ConfigError(
                f"{where}: the key file {path} is open to group or others (mode {mode:04o}); "
                f"run: chmod 600 {path}"
            )
        raw = os.read(fd, MAX_KEY_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(raw) > MAX_KEY_FILE_BYTES:
        raise ConfigError(
            f"{where}: the key file {path} is larger than a key ({MAX_KEY_FILE_BYTES} bytes)"
        )
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: the key file {path} is not UTF-8 text") from None
    REDACTOR.add(text)
    if len(text) < MIN_PEPPER_LENGTH:
        raise ConfigError(
            f"{where}: the key in {path} is too short: use at least {MIN_PEPPER_LENGTH} characters"
        )
    return text


def load_or_create(path: Path) -> StoreKey:
    """Read the key file at ``path``, or create it (random key, mode 0600) if it is missing.

    Creation is atomic: the key is written to a private temporary file that is then hard-linked
    into place, so a process that starts at the same moment reads either nothing (and creates
    its own attempt, which loses the link race) or the complete key, never half of it.
    """
    if path.exists() or path.is_symlink():
        return StoreKey(read_key_file(path, "token store"), "key file", path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)  # 43 characters, 256 bits
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        if hasattr(os, "fchmod"):  # POSIX: 0600 whatever the umask did
            os.fchmod(fd, 0o600)
        os.write(fd, (key + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    created = False
    try:
        os.link(tmp, path)
        created = True
    except FileExistsError:
        pass  # another process created it first: use theirs
    except OSError:
        # A file system without hard links: a plain exclusive create (tiny window for a reader).
        created = _create_directly(path, key)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    pepper = read_key_file(path, "token store")
    return StoreKey(pepper, "key file", path, created=created and pepper == key)


def _create_directly(path: Path, key: str) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return False
    except OSError as exc:
        raise ConfigError(
            f"token store: cannot create the key file {path} ({type(exc).__name__}); "
            f"set {PEPPER_ENV} or {KEY_FILE_ENV}"
        ) from None
    try:
        os.write(fd, (key + "\n").encode("ascii"))
    finally:
        os.close(fd)
    return True


def announce(database: str, key: StoreKey) -> None:
    """Say once per process (INFO) where the database and the key are."""
    entry = (database, key.describe())
    with _announce_lock:
        if entry in _announced:
            return
        _announced.add(entry)
    log.info("token store: database %s, key from %s", database, key.describe())
