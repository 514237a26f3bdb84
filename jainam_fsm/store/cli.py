"""``jainam-fsm tokens``: inspect and maintain the token store from the shell.

Never prints a token, a ciphertext, the pepper or a database password: rows show a
fingerprint (first 10 hex digits of the token's SHA-256) instead. One line per stored row: a
user has one row per server and app key.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

from jainam_fsm.commands.args import nonempty_text
from jainam_fsm.errors import ConfigError, TokenUnavailable
from jainam_fsm.store.crypto import TokenDecryptError
from jainam_fsm.store.db import StoredToken, TokenStore

__all__ = ["add_subcommand", "run"]


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _record(rec: StoredToken, now: float) -> dict[str, Any]:
    tok = rec.feed_token
    exp = tok.expires_at if tok else None
    return {
        "user": rec.user,
        "server": rec.server or None,
        "app_key": rec.app_key or None,
        "broker": rec.broker,
        "broker_user_id": rec.broker_user_id,
        "revoked": rec.revoked,
        "stale": rec.stale,
        "usable": rec.usable(now),
        "feed_token": tok.fingerprint if tok else None,
        "auth_token": "present" if rec.auth_token else None,
        "expires_at": _iso(exp),
        "expires_in": None if exp is None else round(exp - now),
        "updated_at": rec.updated_at.isoformat(timespec="seconds"),
    }


def _rows(store: TokenStore, users: list[str]) -> list[dict[str, Any]]:
    now = time.time()
    out: list[dict[str, Any]] = []
    for user in users or store.list_users():
        try:
            records = store.list_records([user])
        except TokenDecryptError:
            out.append({"user": user, "error": "cannot decrypt with the configured key"})
            continue
        if not records:
            out.append({"user": user, "error": "no such user"})
        out.extend(_record(rec, now) for rec in records)
    return out


def _status(store: TokenStore, args: argparse.Namespace) -> int:
    rows = _rows(store, list(args.user or []))
    if args.json:
        for row in rows:
            print(json.dumps(row, sort_keys=True))
    elif not rows:
        print(f"no tokens stored in {store.url.render_as_string(hide_password=True)}")
    else:
        for row in rows:
            print("  ".join(f"{k}={v}" for k, v in row.items()))
    return 1 if any("error" in r for r in rows) else 0


def _revoke(store: TokenStore, args: argparse.Namespace) -> int:
    changed = store.revoke_all(args.user)
    print(f"{args.user}: {f'revoked {changed} row(s)' if changed else 'nothing to revoke'}")
    return 0


def _rotate(store: TokenStore, args: argparse.Namespace) -> int:
    print(f"re-encrypted {store.rotate_key()} row(s) with the current key")
    return 0


def _migrate(store: TokenStore, args: argparse.Namespace) -> int:
    store.ensure_schema()
    print(f"schema at revision {store.schema_revision()}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run one ``tokens`` action; errors go to stderr as one line (exit 2 config, 1 database)."""
    try:
        store = TokenStore(args.database_url)
    except ConfigError as exc:
        print(f"jainam-fsm tokens: {exc}", file=sys.stderr)
        return 2
    try:
        code: int = args.action(store, args)
        return code
    except ConfigError as exc:  # includes a wrong key
        print(f"jainam-fsm tokens: {exc}", file=sys.stderr)
        return 2
    except TokenUnavailable as exc:
        print(f"jainam-fsm tokens: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()


def add_subcommand(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``tokens`` on an ``argparse`` subparsers object; sets ``func(args) -> int``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "tokens",
        help="inspect and maintain the feed-token store",
        description="Inspect and maintain the feed-token store (one row per user, server and "
        "app key; fingerprints only, never a token).",
        epilog="environment variables: JAINAM_DATABASE_URL (default: tokens.db in the per-user "
        "data folder), JAINAM_TOKEN_PEPPER or JAINAM_TOKEN_KEY_FILE (default for SQLite: a key "
        "file made beside the database), JAINAM_TOKEN_SALT, and JAINAM_TOKEN_PEPPER_PREVIOUS / "
        "JAINAM_TOKEN_SALT_PREVIOUS while rotating the key.",
    )
    parser.add_argument(
        "--database-url",
        type=nonempty_text("--database-url", max_len=4096),
        default=None,
        help="overrides JAINAM_DATABASE_URL",
    )
    user = nonempty_text("user", max_len=255)
    actions = parser.add_subparsers(dest="tokens_action", required=True)
    status = actions.add_parser("status", help="list stored tokens (fingerprints only)")
    status.add_argument("user", nargs="*", type=user, help="only these users")
    status.add_argument("--json", action="store_true", help="one JSON object per line")
    status.set_defaults(action=_status)
    revoke = actions.add_parser("revoke", help="soft-revoke a user's tokens")
    revoke.add_argument("user", type=user)
    revoke.set_defaults(action=_revoke)
    rotate = actions.add_parser(
        "rotate-key",
        help="re-encrypt every row under JAINAM_TOKEN_PEPPER "
        "(old key in JAINAM_TOKEN_PEPPER_PREVIOUS)",
    )
    rotate.set_defaults(action=_rotate)
    migrate = actions.add_parser("migrate", help="create or upgrade the schema now")
    migrate.set_defaults(action=_migrate)
    parser.set_defaults(func=run)
    return parser
