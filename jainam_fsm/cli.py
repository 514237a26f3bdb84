"""The ``jainam-fsm`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType


def _cmd_diagram(args: argparse.Namespace) -> int:
    from jainam_fsm import diagrams

    directory = Path(args.dir)
    try:
        return _run_diagram(diagrams, directory, check=args.check)
    except diagrams.MissingTool as exc:
        print(f"jainam-fsm diagram: {exc}", file=sys.stderr)
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
    p = sub.add_parser("diagram", help="write the state diagrams generated from the machine")
    p.add_argument("--dir", default="diagrams", help="output folder (default: diagrams)")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jainam-fsm",
        description="A resilient XTS market-data connection for Jainam Prop.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_diagram(sub)
    for module in (
        "jainam_fsm.commands.demo",
        "jainam_fsm.commands.soak",
        "jainam_fsm.commands.stream",
        "jainam_fsm.simulator.cli",
        "jainam_fsm.store.cli",
    ):
        add = _optional(module)
        if add is not None:
            add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``jainam-fsm`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
