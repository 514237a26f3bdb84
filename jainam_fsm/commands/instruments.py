"""``jainam-fsm instruments download | search | show``: the instrument master, cached in the
token store's database (docs/instruments.md). ``search`` and ``show`` work offline from the
cache (``search --online`` asks the server). Output: one JSON object per line on stdout."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from jainam_fsm.commands.market import (
    add_connection_args,
    add_db_arg,
    make_client,
    open_store,
    print_json,
)
from jainam_fsm.xts.codes import ExchangeSegment

__all__ = ["add_subcommand"]


def _segment(text: str) -> int:
    from jainam_fsm.instruments.master import segment_number

    seg = segment_number(text)
    if seg is None:
        raise argparse.ArgumentTypeError(
            f"unknown segment {text[:20]!r}: use an XTS segment (NSECM, NSEFO, BSECM...), an "
            "exchange (NSE, NFO, BSE...) or its number"
        )
    return seg


def add_subcommand(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "instruments",
        help="download, search and show the XTS instrument master (cached in the token store)",
        description="The instrument master, cached in the token store's database so names "
        "resolve without the network (docs/instruments.md).",
    )
    cmds = p.add_subparsers(dest="instruments_command", required=True, metavar="COMMAND")
    d = cmds.add_parser(
        "download",
        help="fetch the master (and the index lists) into the cache",
        description="Fetch the instrument master of the segments (default NSECM, NSEFO, BSECM) "
        "and the index lists of the cash segments; replace their cached rows. Reuses the stored "
        "feed token; logs in only without one. Prints one line per segment.",
    )
    d.add_argument(
        "--segment",
        action="append",
        type=_segment,
        metavar="SEGMENT",
        help="segment to fetch, repeatable (NSECM, NSEFO, BSECM, NFO, 2 ...)",
    )
    add_connection_args(d)
    d.set_defaults(func=_download)
    s = cmds.add_parser(
        "search",
        help="search the cached master (offline)",
        description="Instruments whose symbol, name or description contains QUERY (any case; "
        "EXCHANGE:TEXT searches one exchange), best first, from the cache. --online asks the "
        "server's /search/instruments instead (needs the connection settings).",
    )
    s.add_argument("query", metavar="QUERY")
    s.add_argument("--limit", type=int, default=20, help="most results (default 20)")
    s.add_argument("--online", action="store_true", help="ask the server instead of the cache")
    add_connection_args(s)
    s.set_defaults(func=_search)
    w = cmds.add_parser(
        "show",
        help="one cached instrument, by SEG:ID or EXCHANGE:SYMBOL (offline)",
        description="Print one cached instrument (SEG:ID such as 1:2885, or a name such as "
        "NSE:RELIANCE). An unknown one exits 1 with close matches.",
    )
    w.add_argument("instrument", metavar="SEG:ID|NAME")
    add_db_arg(w)
    w.set_defaults(func=_show)


def _cached_master(args: argparse.Namespace) -> Any:
    """The master cached in ``--db``'s store (offline)."""
    from jainam_fsm.instruments.cache import InstrumentCache

    with open_store(args) as store:
        return InstrumentCache(store).master()


def _download(args: argparse.Namespace) -> int:
    from jainam_fsm.instruments.client import DEFAULT_SEGMENTS

    segments = args.segment or list(DEFAULT_SEGMENTS)
    with make_client(args) as client:
        counts = client.download(segments)
        for seg, count in counts.items():
            name = ExchangeSegment(seg).name if seg in ExchangeSegment._value2member_map_ else seg
            print_json({"segment": seg, "name": name, "instruments": count})
    return 0


def _search(args: argparse.Namespace) -> int:
    if args.online:
        with make_client(args) as client:
            for record in client.search(args.query, limit=args.limit, online=True):
                print_json(record)
        return 0
    master = _cached_master(args)
    if not len(master):
        print(
            "jainam-fsm instruments search: the instrument cache is empty: run "
            "`jainam-fsm instruments download`",
            file=sys.stderr,
        )
        return 1
    for record in master.search(args.query, limit=args.limit):
        print_json(record.to_dict())
    return 0


def _show(args: argparse.Namespace) -> int:
    master = _cached_master(args)
    record = master.lookup(args.instrument)  # UnknownInstrument: one line, exit 1
    out = record.to_dict()
    out["line"] = record.line
    print_json(out)
    return 0
