"""Encryption at rest for stored tokens: Fernet keys derived from a pepper.

The key is ``urlsafe_b64encode(PBKDF2-HMAC-SHA256(pepper, salt, 100_000 iterations, 32 bytes))``,
the same construction OpenAlgo's ``auth_db`` uses, so operators meet a familiar scheme. The pepper
is a long random secret (at least 32 characters), not a human password, which is why 100 000
iterations are enough.

Key rotation: a :class:`TokenCipher` holds the current key plus any number of previous keys.
It always encrypts with the current key and decrypts with whichever key works
(:class:`cryptography.fernet.MultiFernet`); :meth:`TokenCipher.rotate` re-encrypts a value
under the current key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from jainam_fsm.errors import ConfigError
from jainam_fsm.telemetry import REDACTOR

PEPPER_ENV = "JAINAM_TOKEN_PEPPER"
SALT_ENV = "JAINAM_TOKEN_SALT"
PREVIOUS_PEPPER_ENV = "JAINAM_TOKEN_PEPPER_PREVIOUS"
PREVIOUS_SALT_ENV = "JAINAM_TOKEN_SALT_PREVIOUS"

#: Shortest pepper accepted (characters), as OpenAlgo requires of ``API_KEY_PEPPER``.
MIN_PEPPER_LENGTH = 32
#: Shortest salt accepted, in bytes (``JAINAM_TOKEN_SALT`` is hex, so twice as many digits).
MIN_SALT_BYTES = 16
#: Salt used when ``JAINAM_TOKEN_SALT`` is not set. Setting your own salt is recommended.
DEFAULT_SALT = b"jainam_fsm.token_store.v1"
KDF_ITERATIONS = 100_000
#: Domain separation: the fingerprint key is derived from, but never equal to, the Fernet key.
_FINGERPRINT_LABEL = b"jainam_fsm/secret-fingerprint/v1"


class TokenDecryptError(ConfigError):
    """A stored value cannot be decrypted with the configured key (wrong pepper or salt).

    Never carries the ciphertext. The message names the variables to check.
    """


def validate_pepper(pepper: str | None, *, variable: str = PEPPER_ENV) -> str:
    """Return ``pepper`` if it is usable, else raise :class:`ConfigError` naming ``variable``."""
    if pepper is None or pepper == "":
        raise ConfigError(
            f"{variable} is not set: the token store needs a secret pepper "
            f"of at least {MIN_PEPPER_LENGTH} characters to encrypt tokens"
        )
    if len(pepper) < MIN_PEPPER_LENGTH:
        # Never echo the value, not even its length beyond "too short".
        raise ConfigError(f"{variable} is too short: use at least {MIN_PEPPER_LENGTH} characters")
    return pepper


def parse_salt(salt_hex: str | None, *, variable: str = SALT_ENV) -> bytes:
    """Decode a hex salt (``None``/empty: :data:`DEFAULT_SALT`); bad values raise ConfigError."""
    if salt_hex is None or salt_hex.strip() == "":
        return DEFAULT_SALT
    try:
        salt = bytes.fromhex(salt_hex.strip())
    except ValueError:
        raise ConfigError(
            f"{variable} must be hexadecimal (e.g. from `python -c "
            f"'import secrets; print(secrets.token_hex(16))'`)"
        ) from None
    if len(salt) < MIN_SALT_BYTES:
        raise ConfigError(
            f"{variable} is too short: use at least {MIN_SALT_BYTES} bytes "
            f"({2 * MIN_SALT_BYTES} hex digits)"
        )
    return salt


def derive_key(pepper: str, salt: bytes) -> bytes:
    """The Fernet key for ``pepper`` and ``salt`` (PBKDF2-HMAC-SHA256)."""
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=KDF_ITERATIONS)
    return base64.urlsafe_b64encode(kdf.derive(pepper.encode("utf-8")))


def key_specs(
    env: Mapping[str, str],
    *,
    pepper: str | None = None,
    salt: str | bytes | None = None,
    previous_pepper: str | None = None,
    previous_salt: str | bytes | None = None,
) -> tuple[KeySpec, list[KeySpec]]:
    """The current key and the one being rotated out (if any): each argument given wins over
    its variable in ``env`` (:data:`PEPPER_ENV`, :data:`SALT_ENV` and the ``_PREVIOUS`` pair).
    A salt is hex text or raw bytes. Bad values raise :class:`ConfigError` naming the variable;
    a ``pepper`` passed in is checked by :class:`TokenCipher`."""

    def _salt(value: str | bytes | None, variable: str) -> bytes:
        if isinstance(value, bytes):
            return parse_salt(value.hex(), variable=variable)
        return parse_salt(value if value is not None else env.get(variable), variable=variable)

    if pepper is None:
        pepper = validate_pepper(env.get(PEPPER_ENV))
    current = KeySpec(pepper, _salt(salt, SALT_ENV))
    previous: list[KeySpec] = []
    old = previous_pepper if previous_pepper is not None else env.get(PREVIOUS_PEPPER_ENV)
    if old:
        previous.append(
            KeySpec(
                validate_pepper(old, variable=PREVIOUS_PEPPER_ENV),
                _salt(previous_salt, PREVIOUS_SALT_ENV),
            )
        )
    return current, previous


@dataclass(frozen=True)
class KeySpec:
    """A pepper and its salt. ``repr`` never shows the pepper."""

    pepper: str
    salt: bytes = DEFAULT_SALT

    def __repr__(self) -> str:
        return "KeySpec(pepper=<hidden>, salt=<hidden>)"


class TokenCipher:
    """Encrypts and decrypts token strings with the current key, decrypting with old keys too."""

    def __init__(self, current: KeySpec, previous: Sequence[KeySpec] = ()) -> None:
        validate_pepper(current.pepper)
        for spec in previous:
            validate_pepper(spec.pepper, variable=PREVIOUS_PEPPER_ENV)
        REDACTOR.add(current.pepper, *(s.pepper for s in previous))
        self._has_previous = bool(previous)
        raw = [derive_key(s.pepper, s.salt) for s in (current, *previous)]
        self._fernet = MultiFernet([Fernet(k) for k in raw])
        self._mac_keys = [hmac.new(k, _FINGERPRINT_LABEL, hashlib.sha256).digest() for k in raw]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TokenCipher:
        """Build from ``JAINAM_TOKEN_PEPPER``/``JAINAM_TOKEN_SALT`` (and the ``_PREVIOUS`` pair)."""
        return cls(*key_specs(os.environ if environ is None else environ))

    def __repr__(self) -> str:
        return "TokenCipher(<keys hidden>)"

    def encrypt(self, plaintext: str) -> str:
        """Encrypt ``plaintext`` with the current key (a fresh IV each time)."""
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        """Decrypt with any configured key; raise :class:`TokenDecryptError` if none fits."""
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            raise TokenDecryptError(self._wrong_key_message()) from None

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt ``ciphertext`` under the current key."""
        try:
            return self._fernet.rotate(ciphertext.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError, ValueError):
            raise TokenDecryptError(self._wrong_key_message()) from None

    def fingerprint(self, secret: str) -> str:
        """An HMAC-SHA256 of ``secret`` keyed with the current store key (hex).

        Stored next to a token to notice a changed secret key without storing the secret: the
        HMAC cannot be reversed or checked by anyone without the store key.
        """
        return self._fingerprint(self._mac_keys[0], secret)

    def fingerprint_matches(self, secret: str, stored: str | None) -> bool:
        """Whether ``stored`` is the fingerprint of ``secret`` under the current or an old key."""
        if not stored:
            return False
        return any(
            hmac.compare_digest(self._fingerprint(k, secret), stored) for k in self._mac_keys
        )

    @staticmethod
    def _fingerprint(key: bytes, secret: str) -> str:
        return hmac.new(key, secret.encode("utf-8"), hashlib.sha256).hexdigest()

    def _wrong_key_message(self) -> str:
        hint = f" or {PREVIOUS_PEPPER_ENV}/{PREVIOUS_SALT_ENV}" if self._has_previous else ""
        return (
            f"a stored token cannot be decrypted: {PEPPER_ENV}/{SALT_ENV}{hint} do not match "
            "the key it was written with (set the old pepper in "
            f"{PREVIOUS_PEPPER_ENV} to rotate, or revoke the row to start afresh)"
        )
