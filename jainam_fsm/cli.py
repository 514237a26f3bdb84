"""The ``jainam-fsm`` command line (reference: ``docs/cli.md``).

Errors a user can cause are one line on stderr, never a traceback: a bad option is a usage
error (exit 2, :class:`~jainam_fsm.commands.args.CliParser`), a configuration error is exit 2,
any other error of ours exit 1. SIGINT/SIGTERM are handled from the first statement of
:func:`main`: during the start (imports, parsing) they are recorded and the process ends with
130/143 and no output before the command begins; a command without handling of its own is
interrupted (130/143, through its ``finally`` blocks); ``stream`` turns them into a clean
shutdown (exit 0) as soon as it runs.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType, ModuleType

from jainam_fsm.commands.args import CliParser, nonempty_text

PROG = "jainam-fsm"


class Interrupted(BaseException):
    """SIGINT or SIGTERM before a command installed its own handling.

    Not ``KeyboardInterrupt`` on purpose: CPython may remember a ``KeyboardInterrupt`` that
    passed through code it ran on an extension's behalf and then end the process by SIGINT
    (status -2, no message) even after we caught it; we saw that happen.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _cmd_diagram(args: argparse.Namespace) -> int:
    from jainam_fsm import diagrams

    directory = Path(args.dir)
    try:
        return _run_diagram(diagrams, directory, check=args.check)
    except diagrams.MissingTool as exc:
        print(f"{PROG} diagram: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = exc.filename or directory
        print(f"{PROG} diagram: cannot use {where}: {exc.strerror or exc}", file=sys.stderr)
        return 2


def _run_diagram(diagrams: ModuleType, directory: Path, *, check: bool) -> int:
    if check:
        diffs = diagrams.check(directory)
        for diff in diffs:
            print(f"{diff.path}: {diff.problem}", file=sys.stderr)
        if diffs:
            print("run `jainam-fsm diagram` and commit the result", file=sys.stderr)
            return 1
        print(f"diagrams in {directory} are up to date")
        return 0
    for path in diagrams.write(directory):
        print(f"wrote {path}")
    return 0


def _add_diagram(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "diagram",
        help="write the state diagrams generated from the machine",
        description="Write (or, with --check, compare) the state diagrams generated from the "
        "lifecycle machine: Mermaid, Graphviz DOT and SVG.",
    )
    p.add_argument(
        "--dir",
        type=nonempty_text("--dir", max_len=4096),
        default="diagrams",
        help="output folder (default: diagrams)",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="exit non-zero when a committed diagram differs from the generated one",
    )
    p.set_defaults(func=_cmd_diagram)


def _optional(
    module: str,
) -> Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None] | None:
    """A feature module's ``add_subcommand``, if that module exists."""
    import importlib

    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            return None
        raise
    fn: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None] = mod.add_subcommand
    return fn


# -- environment variables, shown at the end of every --help --------------------------------


def _store_env(*, rotation: bool) -> dict[str, str]:
    """The token store's variables, named by the store's own constants."""
    from jainam_fsm.store import crypto, engine, keyfile

    out = {
        engine.DATABASE_URL_ENV: "token database URL (default: tokens.db in the user data folder)",
        crypto.PEPPER_ENV: "key of the token encryption, 32+ characters (wins over a key file)",
        keyfile.KEY_FILE_ENV: "file holding that key, mode 0600 (default for SQLite: made "
        "beside the database)",
        crypto.SALT_ENV: "salt of the key derivation (hex)",
    }
    if rotation:
        out[crypto.PREVIOUS_PEPPER_ENV] = "the key being rotated out"
        out[crypto.PREVIOUS_SALT_ENV] = "the salt being rotated out"
    out["XDG_DATA_HOME"] = "base of the user data folder (platformdirs; ~/.local/share)"
    return out


def _stream_env() -> dict[str, str]:
    from jainam_fsm.core.backoff import ENV_VARS as BACKOFF_ENV
    from jainam_fsm.streaming.config import ENV as ADAPTER_ENV

    out = {
        var: f"AdapterConfig.{name} (docs/configuration.md)"
        for name, (var, _) in ADAPTER_ENV.items()
    }
    out.update(
        {var: f"BackoffPolicy.{name} (reconnect delays)" for name, var in BACKOFF_ENV.items()}
    )
    out.update(_store_env(rotation=False))
    return out


def command_env(path: tuple[str, ...]) -> dict[str, str]:
    """The environment variables read by the command ``path`` (``("tokens", "status")``)."""
    if not path:
        return {}
    if path[0] in ("stream", "quote", "ohlc", "instruments"):
        return _stream_env()
    if path[0] == "tokens":
        return _store_env(rotation=True)
    return {}  # diagram, demo, simulator: no environment variable


def _epilog(path: tuple[str, ...]) -> str:
    env = command_env(path)
    if not path:
        return "environment variables: see each command's --help (docs/cli.md)"
    if not env:
        return "environment variables: none"
    width = max(len(k) for k in env)
    lines = [f"  {k.ljust(width)}  {v}" for k, v in env.items()]
    return "environment variables:\n" + "\n".join(lines)


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps descriptions as usual; keeps the environment-variable epilog's lines as they are."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("environment variables:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def iter_parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every (sub)command's parser with its path, the top-level one first."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from iter_parsers(sub, (*path, name))


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("jainam-fsm")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = CliParser(
        prog=PROG,
        description="A resilient XTS market-data connection for Jainam Prop.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_diagram(sub)
    for module in (
        "jainam_fsm.commands.demo",
        "jainam_fsm.commands.instruments",
        "jainam_fsm.commands.quote",
        "jainam_fsm.commands.openalgo",
        "jainam_fsm.commands.soak",
        "jainam_fsm.commands.stream",
        "jainam_fsm.simulator.cli",
        "jainam_fsm.store.cli",
    ):
        add = _optional(module)
        if add is not None:
            add(sub)
    for path, p in iter_parsers(parser):
        p.epilog = _epilog(path)
        p.formatter_class = _HelpFormatter
    return parser


# -- signals and errors ---------------------------------------------------------------------


class _EarlySignals:
    """SIGINT/SIGTERM while ``jainam-fsm`` starts.

    During the imports and the parsing a signal is only *recorded* (raising an exception in
    the middle of importing C extensions can leave the interpreter in a bad state); the start
    stops at the next checkpoint. While a command runs that has no handling of its own, a
    signal raises :class:`Interrupted`, which ends it through its ``finally`` blocks.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self.raising = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum
        if self.raising:
            raise Interrupted(signum)

    def checkpoint(self) -> None:
        if self.received is not None:
            raise Interrupted(self.received)


EARLY = _EarlySignals()


def _one_line(text: str) -> str:
    from jainam_fsm.telemetry import scrub

    return " ".join(scrub(text).split())[:500]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``jainam-fsm`` console script."""
    # Before anything slow (the commands import sockets, HTTP and databases): a signal now
    # ends the process quietly instead of a traceback or a bare kill.
    EARLY.received, EARLY.raising = None, False
    previous = {s: signal.signal(s, EARLY) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _main(argv)
    except Interrupted as exc:
        return 128 + exc.signum
    except KeyboardInterrupt:  # a command that put Python's own SIGINT handler back
        return 130
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _main(argv: Sequence[str] | None) -> int:
    from jainam_fsm.errors import ConfigError, JainamError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # a usage error (2), or --help / --version (0): already printed
        return exc.code if isinstance(exc.code, int) else 2
    name = f"{PROG} {args.command}"
    EARLY.raising = True
    EARLY.checkpoint()  # a signal during the start: stop before the command begins
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print(f"{name}: configuration error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except JainamError as exc:
        print(f"{name}: {type(exc).__name__}: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    return code


if __name__ == "__main__":
    raise SystemExit(main())
