"""``jainam-fsm quote NAME...`` and ``jainam-fsm ohlc NAME --from ... [--to ...]``: REST market
data with the stored feed token (docs/instruments.md). Names resolve offline from the cached
master (``jainam-fsm instruments download`` first); ``SEG:ID`` works without it. Output: one
JSON object per line (a quote is a tick line as ``stream`` writes it)."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta

from jainam_fsm.commands.market import add_connection_args, make_client, print_json

__all__ = ["add_subcommand"]


def _mode(text: str) -> object:
    from jainam_fsm.instruments.modes import parse_mode

    try:
        return parse_mode(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _when(text: str) -> datetime:
    from jainam_fsm.xts.timeconv import IST

    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO time such as 2026-12-01T09:15, got {text[:40]!r}"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=IST)


def _compression(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 60:
        raise argparse.ArgumentTypeError("compression is seconds per bar, at least 60")
    return value


def add_subcommand(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    q = sub.add_parser(
        "quote",
        help="snapshot quotes of instruments (REST, stored token)",
        description="Print a snapshot of each instrument (NSE:RELIANCE, SEG:ID) as a tick line. "
        "Reuses the stored feed token; logs in only without one.",
    )
    q.add_argument("instruments", nargs="+", metavar="NAME|SEG:ID")
    q.add_argument(
        "--mode",
        type=_mode,
        default="quote",
        help="LTP, QUOTE (default), DEPTH, OPEN_INTEREST, CANDLE or INDEX",
    )
    add_connection_args(q)
    q.set_defaults(func=_quote)
    o = sub.add_parser(
        "ohlc",
        help="OHLC bars of one instrument (REST, stored token)",
        description="Print the OHLC bars of one instrument from --from to --to (ISO times; "
        "India time when no zone is given), one JSON line per bar.",
    )
    o.add_argument("instrument", metavar="NAME|SEG:ID")
    o.add_argument("--from", dest="start", type=_when, required=True, metavar="TIME")
    o.add_argument("--to", dest="end", type=_when, metavar="TIME", help="default: now")
    o.add_argument(
        "--compression",
        type=_compression,
        default=60,
        metavar="SECONDS",
        help="seconds per bar (default 60)",
    )
    add_connection_args(o)
    o.set_defaults(func=_ohlc)


def _quote(args: argparse.Namespace) -> int:
    from jainam_fsm.commands.stream import tick_line

    with make_client(args) as client:
        for tick in client.quotes(list(args.instruments), mode=args.mode):
            print(tick_line(tick).decode(), end="")
    return 0


def _ohlc(args: argparse.Namespace) -> int:
    from jainam_fsm.xts.timeconv import IST

    end = args.end or datetime.now(IST)
    if end <= args.start:
        end = args.start + timedelta(seconds=args.compression)
    with make_client(args) as client:
        for bar in client.ohlc(args.instrument, args.start, end, args.compression):
            print_json(bar.to_dict())
    return 0
