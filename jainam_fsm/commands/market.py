"""What ``jainam-fsm instruments``, ``quote`` and ``ohlc`` share: the connection flags (those of
``stream``, falling back to the same ``JAINAM_*`` variables), the client, and JSON-line output."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from jainam_fsm.commands.args import base_url, nonempty_text, secret_text

__all__ = [
    "SubscribeSpec",
    "add_connection_args",
    "db_url",
    "make_client",
    "open_store",
    "print_json",
    "subscribe_spec",
]

#: A ``--subscribe`` value: (name or (segment, id), code or None, mode name or None).
SubscribeSpec = tuple[str | tuple[int, int], int | None, str | None]


def subscribe_spec(text: str) -> SubscribeSpec:
    """``SEG:ID[:CODE]`` (``1:2885``, ``2:35001:1512``) or ``NAME[:MODE]`` (``NSE:RELIANCE``,
    ``NSE:RELIANCE:DEPTH``; a code works after a name too, and a mode after ``SEG:ID``)."""
    from jainam_fsm.commands.args import message_code, subscription
    from jainam_fsm.instruments.modes import parse_mode

    parts = text.strip().split(":")
    if parts[0].strip().isdigit():  # SEG:ID[:CODE], or SEG:ID:MODE
        if len(parts) == 3:
            try:
                mode = parse_mode(parts[2]).name
            except ValueError:
                mode = None
            if mode is not None:
                seg, iid, _ = subscription(":".join(parts[:2]))
                return (seg, iid), None, mode
        seg, iid, code = subscription(text)
        return (seg, iid), code, None
    if len(parts) not in (2, 3) or not parts[0].strip() or not parts[1].strip():
        raise argparse.ArgumentTypeError(
            "expected SEG:ID or SEG:ID:CODE such as 1:2885, or NAME[:MODE] such as "
            f"NSE:RELIANCE:QUOTE, got {text[:40]!r}"
        )
    head = f"{parts[0].strip()}:{parts[1].strip()}"
    what: str | tuple[int, int] = head
    if len(parts) == 2:
        return what, None, None
    last = parts[2].strip()
    if last.isdigit():
        return what, message_code(last), None
    try:
        return what, None, parse_mode(last).name
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_connection_args(p: argparse.ArgumentParser) -> None:
    """``--base-url --prefix --api --broker --user-id --db --app-key --secret-key``."""
    p.add_argument("--base-url", type=base_url, help="server root (JAINAM_BASE_URL)")
    p.add_argument("--prefix", type=nonempty_text("--prefix"), help="REST prefix (JAINAM_PREFIX)")
    p.add_argument("--api", choices=["json", "binary", "auto"], help="market-data API (JAINAM_API)")
    p.add_argument(
        "--broker",
        choices=["jainam-prop", "jainam-retail", "xts"],
        help="preset (JAINAM_BROKER)",
    )
    p.add_argument(
        "--user-id",
        type=nonempty_text("--user-id", max_len=255),
        help="account name of the stored feed token (JAINAM_USER; default 'default')",
    )
    add_db_arg(p)
    p.add_argument("--app-key", type=secret_text("--app-key"), help="prefer JAINAM_APP_KEY")
    p.add_argument(
        "--secret-key", type=secret_text("--secret-key"), help="prefer JAINAM_SECRET_KEY"
    )


def add_db_arg(p: argparse.ArgumentParser) -> None:
    """``--db``: the token store, which also caches the instrument master."""
    p.add_argument(
        "--db",
        type=nonempty_text("--db", max_len=4096),
        help="token database (holds the instrument-master cache): a SQLAlchemy URL or a SQLite "
        "file path (JAINAM_DATABASE_URL)",
    )


def db_url(value: str | None) -> str | None:
    """A ``--db`` value as a SQLAlchemy URL (a bare path is a SQLite file)."""
    if not value:
        return None
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"


def open_store(args: argparse.Namespace) -> Any:
    """The token store of ``--db`` (else the environment's)."""
    from jainam_fsm.store import TokenStore

    return TokenStore(db_url(args.db))


@contextmanager
def make_client(args: argparse.Namespace) -> Iterator[Any]:
    """A :class:`~jainam_fsm.instruments.MarketDataClient` from the flags and environment, for
    a ``with`` block; the client and the store it was given are closed at its end."""
    from jainam_fsm.instruments import MarketDataClient
    from jainam_fsm.streaming.config import AdapterConfig

    overrides = {
        "base_url": args.base_url,
        "prefix": args.prefix,
        "api": args.api,
        "broker": args.broker,
        "user": args.user_id,
        "app_key": args.app_key,
        "secret_key": args.secret_key,
    }
    config = AdapterConfig.from_env(**overrides)
    with open_store(args) as store, MarketDataClient(config, store=store) as client:
        yield client


def print_json(obj: object) -> None:
    """One JSON object per line on stdout."""
    sys.stdout.write(orjson.dumps(obj).decode() + "\n")
    sys.stdout.flush()
