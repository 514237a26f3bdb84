"""``jainam-fsm simulator``: run the XTS simulator until SIGINT/SIGTERM.

Prints one JSON line first -- ``{"api", "base_url", "root_url", "socketio_path", "app_key",
"secret_key", "user_id", "control_url"}`` -- so a caller can read where it listens and which
throwaway credentials it accepts. Those credentials are the simulator's own, made up per run
(or set by flags); they open nothing but this simulator.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from typing import Any

from jainam_fsm.commands.args import bounded_float, bounded_int, log_level, nonempty_text, port
from jainam_fsm.simulator.config import BinaryKnobs, SimulatorConfig, SimUser, throwaway_user
from jainam_fsm.simulator.server import Simulator
from jainam_fsm.xts.codes import BroadcastMode

__all__ = ["add_subcommand", "build_config", "main", "run"]


def _instrument(text: str) -> tuple[int, int]:
    seg, sep, iid = text.partition(":")
    if not sep:
        seg, sep, iid = text.partition("_")
    try:
        return int(seg), int(iid)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected SEGMENT:ID, got {text!r}") from None


def _mode(text: str) -> BroadcastMode:
    for mode in BroadcastMode:
        if mode.value.lower() == text.lower():
            return mode
    raise argparse.ArgumentTypeError("broadcast mode must be Full or Partial")


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the simulator options to ``parser``."""
    # Values are checked at parse time (jainam_fsm/commands/args.py): a usage error, exit 2.
    text = nonempty_text
    parser.add_argument(
        "--host", type=text("--host"), default="127.0.0.1", help="bind address (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=port, default=0, help="TCP port; 0 = any free port")
    parser.add_argument(
        "--api",
        choices=("json", "binary"),
        default="json",
        help="market-data API flavour: json (/apimarketdata, <code>-json-* strings) or binary "
        "(/apibinarymarketdata, xts-binary-packet events)",
    )
    parser.add_argument("--prefix", default="", help="REST prefix (default: the flavour's own)")
    parser.add_argument(
        "--app-key", type=text("--app-key"), help="accepted app key (default: random)"
    )
    parser.add_argument(
        "--secret-key", type=text("--secret-key"), help="accepted secret key (default: random)"
    )
    parser.add_argument(
        "--user-id", type=text("--user-id"), default="SIM001", help="client id returned by login"
    )
    parser.add_argument(
        "--rate",
        type=bounded_float(0.0, 10_000.0, low_inclusive=True),
        default=2.0,
        help="ticks/s per instrument",
    )
    parser.add_argument(
        "--instrument",
        dest="instruments",
        action="append",
        type=_instrument,
        metavar="SEG:ID",
        help="instrument of the quoted universe (repeatable; any subscribed one walks too)",
    )
    parser.add_argument(
        "--broadcast-mode", type=_mode, default=BroadcastMode.FULL, help="Full or Partial"
    )
    parser.add_argument("--subscription-limit", type=bounded_int(0, 1_000_000), default=50)
    parser.add_argument(
        "--seed", type=bounded_int(-(2**63), 2**63 - 1), default=0, help="price-walk seed"
    )
    parser.add_argument(
        "--token-ttl",
        type=bounded_float(0.0, 10 * 366 * 86_400.0),
        default=86400.0,
        help="token lifetime (s)",
    )
    parser.add_argument(
        "--keep-subscriptions-on-login",
        action="store_true",
        help="a new login keeps the old session's subscriptions (default: cleared)",
    )
    parser.add_argument(
        "--on-session-end",
        choices=("logout", "silent"),
        default="logout",
        help="what old sockets get when their session ends",
    )
    parser.add_argument(
        "--eio",
        type=int,
        choices=(3, 4),
        default=4,
        help="Engine.IO dialect: 3 = Socket.IO 2 framing (as real XTS servers), 4 = Socket.IO 5",
    )
    parser.add_argument(
        "--ping-interval",
        type=bounded_float(0.0, 3600.0),
        default=25.0,
        help="seconds (default 25)",
    )
    parser.add_argument(
        "--ping-timeout",
        type=bounded_float(0.0, 3600.0),
        default=None,
        help="seconds (default: 5 under --eio 3, 20 under --eio 4)",
    )
    _add_binary_options(parser)
    parser.add_argument(
        "--emitted-cap",
        type=int,
        default=1000,
        help="ticks remembered per instrument and code for /_sim/emitted (0 = counts only)",
    )
    parser.add_argument(
        "--log-level", type=log_level, default=logging.WARNING, help="logging level (stderr)"
    )
    parser.set_defaults(func=run)
    return parser


#: A share of packets: a finite number from 0 to 1.
_share = bounded_float(0.0, 1.0, low_inclusive=True)


def _add_binary_options(parser: argparse.ArgumentParser) -> None:
    d = BinaryKnobs()
    g = parser.add_argument_group("binary flavour (--api binary)")
    g.add_argument("--layout", choices=("A", "B"), default=d.layout, help="body layout")
    g.add_argument(
        "--compressed-share",
        type=_share,
        default=d.compressed_share,
        help="share of packets sent raw-DEFLATE compressed (0..1)",
    )
    g.add_argument(
        "--packets-per-event", type=int, default=d.packets_per_event, help="packets per event"
    )
    g.add_argument("--nan-tvt", action="store_true", help="write TotalValueTraded as NaN")
    g.add_argument(
        "--extended-properties",
        type=int,
        default=d.extended_properties,
        help="extended key/value properties per packet header",
    )
    g.add_argument(
        "--opaque-share",
        type=_share,
        default=d.opaque_share,
        help="share of packets followed by an opaque 1512 packet (0..1)",
    )
    g.add_argument("--opaque-size", type=int, default=d.opaque_size, help="opaque payload bytes")
    g.add_argument(
        "--subscribe-list-quotes",
        action="store_true",
        help="add listQuotes to subscribe answers (real binary servers send none)",
    )


def add_subcommand(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``simulator`` on an ``argparse`` subparsers object; sets ``func(args) -> int``."""
    parser = subparsers.add_parser(
        "simulator",
        help="run the XTS market-data simulator (a test tool)",
        description="Run the XTS market-data simulator until SIGINT/SIGTERM. Prints one JSON "
        "line with its URL and its own throwaway credentials.",
    )
    return configure_parser(parser)


def build_config(args: argparse.Namespace) -> SimulatorConfig:
    """The :class:`SimulatorConfig` described by parsed ``args``."""
    user = throwaway_user(args.user_id)
    user = SimUser(
        app_key=args.app_key or user.app_key,
        secret_key=args.secret_key or user.secret_key,
        user_id=args.user_id,
    )
    kwargs: dict[str, Any] = {}
    if args.instruments:
        kwargs["instruments"] = tuple(args.instruments)
    binary = BinaryKnobs(
        layout=args.layout,
        compressed_share=args.compressed_share,
        packets_per_event=args.packets_per_event,
        nan_total_value_traded=args.nan_tvt,
        extended_properties=args.extended_properties,
        opaque_share=args.opaque_share,
        opaque_size=args.opaque_size,
        subscribe_list_quotes=args.subscribe_list_quotes,
    )
    return SimulatorConfig(
        host=args.host,
        port=args.port,
        api=args.api,
        prefix=args.prefix,
        binary=binary,
        emitted_cap=args.emitted_cap,
        users=(user,),
        token_ttl=args.token_ttl,
        subscription_limit=args.subscription_limit,
        keep_subscriptions_on_login=args.keep_subscriptions_on_login,
        on_session_end=args.on_session_end,
        rate=args.rate,
        seed=args.seed,
        broadcast_mode=args.broadcast_mode,
        eio=args.eio,
        ping_interval=args.ping_interval,
        ping_timeout=args.ping_timeout,
        **kwargs,
    )


async def _serve(config: SimulatorConfig) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with Simulator(config) as sim:
            user = sim.credentials
            line = {
                "api": config.api,
                "base_url": sim.base_url,
                "root_url": sim.root_url,
                "socketio_path": sim.socketio_path,
                "control_url": f"{sim.root_url}/_sim",
                "app_key": user.app_key,
                "secret_key": user.secret_key,
                "user_id": user.user_id,
                "eio": config.eio,
            }
            sys.stdout.write(json.dumps(line) + "\n")
            sys.stdout.flush()
            await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; 0 on a clean stop, 2 on a bad setting."""
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(message)s")
    try:
        config = build_config(args)
    except ValueError as exc:
        sys.stderr.write(f"jainam-fsm simulator: {exc}\n")
        return 2
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(config))
    except OSError as exc:  # cannot listen: address in use, unknown host, ...
        sys.stderr.write(f"jainam-fsm simulator: cannot listen on {args.host}:{args.port}: {exc}\n")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m jainam_fsm.simulator``."""
    parser = configure_parser(argparse.ArgumentParser(prog="python -m jainam_fsm.simulator"))
    args = parser.parse_args(argv)
    return int(args.func(args))
