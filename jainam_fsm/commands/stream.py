"""``jainam-fsm stream``: real use against a broker (or a separately started simulator).

Ticks go to stdout (or ``--output PATH``, appended) as one JSON object per line, every line
with every key of the schema in ``docs/cli.md`` (``null`` when unknown), written by one thread
(never interleaved). Telemetry goes to stderr as JSON lines, secrets scrubbed.

Exit status (``docs/cli.md``): 0 after a clean stop (SIGINT/SIGTERM, or ``--duration`` elapsed
after the stream had been ready); 1 when the stream ended ``exhausted``, never became ready
within ``--duration``, or the output could not be written; 2 for a usage or configuration error.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

import orjson

from jainam_fsm.commands.args import (
    TICK_CODES,
    base_url,
    bounded_float,
    log_level,
    message_code,
    nonempty_text,
    port,
    secret_text,
)
from jainam_fsm.commands.market import subscribe_spec
from jainam_fsm.core.causes import DESCRIPTIONS, cause_in
from jainam_fsm.errors import ConfigError
from jainam_fsm.telemetry import ROOT_LOGGER, LoggingTelemetry, configure_json_logging, scrub
from jainam_fsm.xts.ticks import TICK_FIELDS, DepthLevel, Tick

if TYPE_CHECKING:
    from jainam_fsm.metrics import MetricsServer

PROG = "jainam-fsm stream"
#: The longest ``--duration``: a year (beyond it, run without ``--duration``).
MAX_DURATION = 366 * 86_400.0


def add_subcommand(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "stream",
        help="stream ticks from an XTS server as JSON lines",
        description="Stream ticks as JSON lines on stdout (or --output); telemetry as JSON "
        "lines on stderr. App key and secret come from JAINAM_APP_KEY / JAINAM_SECRET_KEY "
        "(or the flags). Exit status: 0 clean stop, 1 exhausted / never ready within "
        "--duration / output failed, 2 usage or configuration error.",
    )
    p.add_argument(
        "--base-url", type=base_url, help="server root, e.g. https://host:port (JAINAM_BASE_URL)"
    )
    p.add_argument(
        "--prefix",
        type=nonempty_text("--prefix"),
        help="REST prefix (default /apimarketdata; JAINAM_PREFIX)",
    )
    p.add_argument(
        "--socket-path",
        type=nonempty_text("--socket-path"),
        help="Socket.IO path (default <prefix>/socket.io)",
    )
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
        type=nonempty_text("--user-id", max_len=255),
        help="account name under which the feed token is stored (JAINAM_USER; default 'default')",
    )
    p.add_argument("--broadcast-mode", choices=["Full", "Partial"], help="default Full")
    p.add_argument(
        "--subscribe",
        action="append",
        type=subscribe_spec,
        default=[],
        metavar="SEG:ID[:CODE]|NAME[:MODE]",
        help="instrument to subscribe, repeatable (e.g. 1:2885, 1:2885:1512 with its own "
        "message code, NSE:RELIANCE or NSE:RELIANCE:DEPTH by name from the cached instrument "
        "master; modes LTP, QUOTE, DEPTH, OPEN_INTEREST, CANDLE, INDEX)",
    )
    p.add_argument(
        "--code",
        type=message_code,
        default=1501,
        help="message code of every --subscribe that names none "
        f"({', '.join(map(str, TICK_CODES))}; default 1501)",
    )
    p.add_argument(
        "--duration",
        type=bounded_float(0.0, MAX_DURATION, unit=" s"),
        metavar="SECONDS",
        help="seconds to run (default: until interrupted); exit 1 if never ready by then",
    )
    p.add_argument(
        "--output",
        type=nonempty_text("--output", max_len=4096),
        metavar="PATH",
        help="append the tick lines to this file instead of stdout",
    )
    p.add_argument(
        "--db",
        type=nonempty_text("--db", max_len=4096),
        help="token database: a SQLAlchemy URL or a SQLite file path (JAINAM_DATABASE_URL)",
    )
    p.add_argument(
        "--standby",
        type=nonempty_text("--standby", max_len=4096),
        metavar="POSTGRESQL_URL",
        help="hot standby: run any number of these on one PostgreSQL; the process holding the "
        "lock of (server, app key) streams and writes ticks, the others wait and take over "
        "(docs/operations.md)",
    )
    p.add_argument(
        "--fence-timeout",
        type=bounded_float(0.2, 60.0, unit=" s"),
        default=None,
        metavar="SECONDS",
        help="with --standby: a leader that cannot reach PostgreSQL stops within this "
        "(default 2.5); a silent leader's lock frees 1 s later",
    )
    p.add_argument("--app-key", type=secret_text("--app-key"), help="prefer JAINAM_APP_KEY")
    p.add_argument(
        "--secret-key",
        type=secret_text("--secret-key"),
        help="prefer JAINAM_SECRET_KEY: flags show in `ps`",
    )
    p.add_argument(
        "--metrics-port",
        type=port,
        metavar="N",
        help="serve Prometheus /metrics and /healthz (200 only while ready) on this port "
        "(0: any free port, named in the metrics.serving event); needs the metrics extra",
    )
    p.add_argument(
        "--metrics-host",
        type=nonempty_text("--metrics-host"),
        default="127.0.0.1",
        help="address the metrics server binds (default 127.0.0.1)",
    )
    p.add_argument(
        "--log-level",
        type=log_level,
        default=logging.INFO,
        metavar="LEVEL",
        help="telemetry level on stderr: DEBUG, INFO (default), WARNING, ERROR, CRITICAL",
    )
    p.set_defaults(func=run)


def _db_url(value: str | None) -> str | None:
    if not value:
        return None
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"


def _jsonable(value: object) -> object:
    if isinstance(value, DepthLevel):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value] if value else None
    if value is not None and hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def tick_line(tick: Tick) -> bytes:
    """One NDJSON line: every key of :data:`TICK_FIELDS`, in that order, ``null`` when unknown
    (an empty depth ladder included)."""
    line: bytes = orjson.dumps({name: _jsonable(getattr(tick, name)) for name in TICK_FIELDS})
    return line + b"\n"


class TickWriter:
    """Writes each tick as one JSON line; called only on the delivery thread.

    A failed write stops the stream (``on_failure``): a closed pipe quietly (like ``head``),
    anything else with its error kept in :attr:`error`.
    """

    def __init__(self, out: TextIO, on_failure: Callable[[], None]) -> None:
        self.out = out
        self.count = 0
        self.error: OSError | None = None
        self.closed_pipe = False
        self._on_failure = on_failure

    def __call__(self, tick: Tick) -> None:
        if self.error is not None or self.closed_pipe:
            return
        try:
            self.out.write(tick_line(tick).decode())
            self.out.flush()
        except BrokenPipeError:
            self.closed_pipe = True
            self._on_failure()
            return
        except OSError as exc:
            self.error = exc
            self._on_failure()
            return
        self.count += 1


def exhausted_message(reason: str) -> str:
    """The one-line exit message of a stream that gave up: the cause first, when named."""
    cause = cause_in(reason)
    why = "exhausted"
    if cause is not None:
        # A permanent give-up's reason already says what the cause means: not twice.
        meaning = DESCRIPTIONS[cause]
        why = f"exhausted, cause {cause}" + ("" if meaning in reason else f": {meaning}")
    return f"jainam-fsm stream: gave up ({why}): {reason}; fix the cause and run again"


class StreamTelemetry(LoggingTelemetry):
    """Logs as usual and remembers whether the stream was ever ready, and the last reason."""

    def __init__(self) -> None:
        super().__init__()
        self.ready = threading.Event()
        self.last_reason: str | None = None
        self.state: str | None = None
        #: set before the shutdown: state and reason keep what the stream was doing
        self.frozen = False

    def emit(self, event: str, level: int, fields: dict[str, object]) -> None:
        if event == "connection.ready":
            self.ready.set()
        elif event == "lifecycle.transition" and not self.frozen:
            self.state = str(fields.get("dest"))
            if fields.get("reason") is not None:
                self.last_reason = str(fields["reason"])
        super().emit(event, level, fields)


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event, signalled: list[int]) -> Iterator[None]:
    """SIGINT/SIGTERM set ``stop`` (a clean shutdown) while the block runs."""

    def handler(signum: int, frame: FrameType | None) -> None:
        signalled.append(signum)
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


@contextlib.contextmanager
def _json_logging(level: int) -> Iterator[None]:
    logger = logging.getLogger(ROOT_LOGGER)
    old_level = logger.level
    handler = configure_json_logging(sys.stderr, level=level)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def _error(message: str) -> None:
    print(f"{PROG}: {' '.join(scrub(message).split())}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Stream until stopped; see the module docstring for the exit status."""
    stop = threading.Event()
    signalled: list[int] = []
    # First thing: from here on a signal is a clean stop, never a traceback.
    with stop_on_signals(stop, signalled), _json_logging(args.log_level):
        return _run(args, stop, signalled)


def _run(args: argparse.Namespace, stop: threading.Event, signalled: list[int]) -> int:
    if not args.subscribe:
        _error("give at least one --subscribe SEG:ID[:CODE]")
        return 2
    try:  # before anything else: a path that cannot be opened is a usage error
        out: TextIO = (
            sys.stdout if args.output is None else open(args.output, "a", encoding="utf-8")  # noqa: SIM115
        )
    except OSError as exc:
        _error(f"cannot open --output {args.output}: {exc.strerror or type(exc).__name__}")
        return 2
    try:
        return _stream(args, stop, signalled, out)
    finally:
        if out is not sys.stdout:
            out.close()


def _stream(
    args: argparse.Namespace, stop: threading.Event, signalled: list[int], out: TextIO
) -> int:
    serve: Callable[..., MetricsServer] | None = None
    if args.metrics_port is not None:  # first: a missing extra is a usage error
        try:
            from jainam_fsm.metrics import serve
        except ImportError:
            _error("--metrics-port needs prometheus_client: pip install 'jainam-fsm[metrics]'")
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
        from jainam_fsm.streaming import AdapterConfig, StreamingAdapter

        config = AdapterConfig.from_env(**overrides)
        from jainam_fsm.store import StoredTokenSource, TokenBinding, TokenStore

        standby = None
        if args.standby is not None:
            from jainam_fsm.standby import StandbyConfig

            fence = 2.5 if args.fence_timeout is None else args.fence_timeout
            standby = StandbyConfig(
                args.standby, fence_timeout=fence, heartbeat=min(0.5, fence / 4)
            )
        elif args.fence_timeout is not None:
            raise ConfigError("--fence-timeout needs --standby")
        store = TokenStore(_db_url(args.db))
    except ConfigError as exc:
        # The library's "(or pass secret_key=...)" reads "(or pass --secret-key)" here.
        message = re.sub(
            r"\(or pass (\w+)=\.\.\.\)",
            lambda m: f"(or pass --{m.group(1).replace('_', '-')})",
            str(exc),
        )
        _error(f"configuration error: {message}")
        return 2
    exhausted: list[str] = []

    def on_exhausted(reason: str) -> None:
        exhausted.append(reason)
        stop.set()

    writer = TickWriter(out, stop.set)
    telemetry = StreamTelemetry()
    instruments = None
    if any(isinstance(what, str) for what, _, _ in args.subscribe):
        from jainam_fsm.instruments.cache import InstrumentCache

        instruments = InstrumentCache(store).master()  # names resolve offline
        for what, _, _ in args.subscribe:
            if isinstance(what, str):
                instruments.lookup(what)  # an unknown name: one line, exit 1, nothing started
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
        telemetry=telemetry,
        instruments=instruments,
        standby=standby,
    )
    metrics = None
    if serve is not None:
        try:
            metrics = serve(adapter, args.metrics_port, args.metrics_host)
        except OSError as exc:
            _error(
                f"cannot serve metrics on {args.metrics_host}:{args.metrics_port}: "
                f"{exc.strerror or type(exc).__name__}"
            )
            store.close()
            return 2
        telemetry.emit(
            "metrics.serving", logging.INFO, {"host": args.metrics_host, "port": metrics.port}
        )
    try:
        for what, code, mode in args.subscribe:
            wanted = args.code if code is None and mode is None else code
            adapter.subscribe(what, code=wanted, mode=mode)
        if not stop.is_set():
            adapter.connect()
            stop.wait(args.duration)
        telemetry.frozen = True  # report the state the stream was in, not the shutdown
    finally:
        adapter.shutdown()
        if metrics is not None:
            metrics.close()
        store.close()
    return _outcome(args, telemetry, writer, exhausted, signalled)


def _outcome(
    args: argparse.Namespace,
    telemetry: StreamTelemetry,
    writer: TickWriter,
    exhausted: list[str],
    signalled: list[int],
) -> int:
    if writer.closed_pipe:
        # Whoever read our output has gone (``| head``): stop quietly, as Unix tools do.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 0
    if writer.error is not None:
        err = writer.error
        _error(f"cannot write ticks: {err.strerror or type(err).__name__}")
        return 1
    if exhausted:
        _error(exhausted_message(exhausted[0]).removeprefix(f"{PROG}: "))
        return 1
    if not telemetry.ready.is_set() and getattr(args, "standby", None) is not None:
        return 0  # a follower that never led did its job: it waited
    if not telemetry.ready.is_set():
        last = f"; last: {telemetry.last_reason}" if telemetry.last_reason else ""
        state = telemetry.state or "idle"
        if signalled:
            _error(f"stopped by a signal before the stream became ready (state {state}{last})")
            return 0
        _error(f"never became ready within {args.duration:g} s (state {state}{last})")
        return 1
    return 0
