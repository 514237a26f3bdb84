"""``jainam-fsm stream``: real use against a broker (or a separately started simulator).

stdout carries only ticks, one JSON object per line, written by one thread (never
interleaved). Telemetry goes to stderr as JSON lines, secrets scrubbed. Exit status: 0 after a
clean shutdown on SIGINT/SIGTERM or when ``--duration`` ends; 1 when the stream ended
``exhausted``; 2 for a configuration error.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from jainam_fsm.core.causes import DESCRIPTIONS, cause_in
from jainam_fsm.errors import ConfigError
from jainam_fsm.streaming import AdapterConfig, StreamingAdapter
from jainam_fsm.telemetry import configure_json_logging
from jainam_fsm.xts.ticks import Tick


def _instrument(text: str) -> tuple[int, int]:
    try:
        seg, iid = text.split(":", 1)
        return int(seg), int(iid)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected SEGMENT:INSTRUMENT_ID such as 1:2885, got {text!r}"
        ) from None


def add_subcommand(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "stream",
        help="stream ticks from an XTS server as JSON lines",
        description="Stream ticks as JSON lines on stdout; telemetry as JSON lines on stderr. "
        "App key and secret come from JAINAM_APP_KEY / JAINAM_SECRET_KEY (or the flags).",
    )
    p.add_argument("--base-url", help="server root, e.g. https://host:port (JAINAM_BASE_URL)")
    p.add_argument("--prefix", help="REST prefix (default /apimarketdata; JAINAM_PREFIX)")
    p.add_argument("--socket-path", help="Socket.IO path (default <prefix>/socket.io)")
    p.add_argument(
        "--api",
        choices=["json", "binary", "auto"],
        help="market-data API (JAINAM_API; default: the --broker preset's, else binary for an "
        "/apibinarymarketdata prefix, else json)",
    )
    p.add_argument(
        "--broker",
        choices=["jainam-prop", "jainam-retail", "xts"],
        help="preset (JAINAM_BROKER): jainam-prop = binary API, jainam-retail = auto, xts = JSON",
    )
    p.add_argument(
        "--user-id",
        help="account name under which the feed token is stored (JAINAM_USER; default 'default')",
    )
    p.add_argument("--broadcast-mode", choices=["Full", "Partial"], help="default Full")
    p.add_argument(
        "--subscribe",
        action="append",
        type=_instrument,
        default=[],
        metavar="SEG:ID",
        help="instrument to subscribe, repeatable (e.g. 1:2885)",
    )
    p.add_argument("--code", type=int, default=1501, help="XTS message code (default 1501)")
    p.add_argument("--duration", type=float, help="seconds to run (default: until interrupted)")
    p.add_argument(
        "--db", help="token database: a SQLAlchemy URL or a SQLite file path (JAINAM_DATABASE_URL)"
    )
    p.add_argument("--app-key", help="app key (prefer JAINAM_APP_KEY)")
    p.add_argument("--secret-key", help="secret key (prefer JAINAM_SECRET_KEY: flags show in `ps`)")
    p.add_argument("--log-level", default="INFO", help="telemetry level on stderr")
    p.set_defaults(func=run)


def _db_url(value: str | None) -> str | None:
    if not value:
        return None
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"


class TickWriter:
    """Writes each tick as one JSON line; called only on the delivery thread."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.count = 0

    def __call__(self, tick: Tick) -> None:
        self.out.write(json.dumps(tick.to_dict(), separators=(",", ":")) + "\n")
        self.out.flush()
        self.count += 1


def exhausted_message(reason: str) -> str:
    """The one-line exit message of a stream that gave up: the cause first, when named."""
    cause = cause_in(reason)
    why = f"exhausted, cause {cause}: {DESCRIPTIONS[cause]}" if cause else "exhausted"
    return f"jainam-fsm stream: gave up ({why}): {reason}; fix the cause and run again"


def run(args: argparse.Namespace) -> int:
    stderr = sys.stderr
    configure_json_logging(stderr, level=getattr(logging, str(args.log_level).upper(), 20))
    if not args.subscribe:
        print("jainam-fsm stream: give at least one --subscribe SEG:ID", file=stderr)
        return 2
    overrides: dict[str, Any] = {
        "base_url": args.base_url,
        "prefix": args.prefix,
        "socket_path": args.socket_path,
        "api": args.api,
        "broker": args.broker,
        "user": args.user_id,
        "broadcast_mode": args.broadcast_mode,
        "app_key": args.app_key,
        "secret_key": args.secret_key,
    }
    try:
        config = AdapterConfig.from_env(**overrides)
        from jainam_fsm.store import StoredTokenSource, TokenBinding, TokenStore

        store = TokenStore(_db_url(args.db))
    except ConfigError as exc:
        print(f"jainam-fsm stream: configuration error: {exc}", file=stderr)
        return 2

    done = threading.Event()
    exhausted: list[str] = []

    def on_exhausted(reason: str) -> None:
        exhausted.append(reason)
        done.set()

    writer = TickWriter(sys.stdout)
    adapter = StreamingAdapter(
        config,
        writer,
        token_source=lambda login, tel: StoredTokenSource(
            store,
            config.user,
            login,
            tel,
            refresh_margin=config.refresh_margin,
            binding=TokenBinding.for_config(config),
        ),
        on_exhausted=on_exhausted,
    )
    previous = {s: signal.signal(s, lambda *_: done.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for seg, iid in args.subscribe:
            adapter.subscribe(seg, iid, args.code)
        adapter.connect()
        done.wait(args.duration)
    finally:
        adapter.shutdown()
        store.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    if exhausted:
        print(exhausted_message(exhausted[0]), file=stderr)
        return 1
    return 0
