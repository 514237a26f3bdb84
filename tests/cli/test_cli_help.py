"""`--help` of every command ends with the environment variables it reads; `--version`;
docs/cli.md names every command and option and the whole tick-line schema."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from jainam_fsm.cli import build_parser, command_env, iter_parsers
from jainam_fsm.core.backoff import ENV_VARS as BACKOFF_ENV
from jainam_fsm.streaming.config import ENV as ADAPTER_ENV
from jainam_fsm.xts.ticks import TICK_FIELDS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
PARSERS = list(iter_parsers(build_parser()))


def test_every_command_is_covered() -> None:
    paths = {" ".join(p) for p, _ in PARSERS}
    assert {"", "stream", "simulator", "demo", "diagram", "tokens", "tokens status"} <= paths


@pytest.mark.parametrize(
    ("path", "parser"), PARSERS, ids=[" ".join(p) or "jainam-fsm" for p, _ in PARSERS]
)
def test_help_ends_with_the_environment_variables(
    path: tuple[str, ...], parser: argparse.ArgumentParser
) -> None:
    text = parser.format_help().rstrip()
    tail = text[text.rindex("environment variables") :]
    assert text.endswith(tail)
    env = command_env(path)
    if not path:
        assert "see each command's --help" in tail
    elif not env:
        assert tail == "environment variables: none"
    else:
        listed = re.findall(r"^  ([A-Z_]+)  ", tail, flags=re.MULTILINE)
        assert listed == list(env)


def test_stream_lists_every_variable_it_reads() -> None:
    env = command_env(("stream",))
    for var, _ in ADAPTER_ENV.values():
        assert var in env
    for var in BACKOFF_ENV.values():
        assert var in env
    assert {"JAINAM_DATABASE_URL", "JAINAM_TOKEN_PEPPER"} <= env.keys()


def test_help_of_the_real_command_ends_with_them() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "jainam_fsm.cli", "stream", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert res.stdout.rstrip().splitlines()[-1].startswith("  XDG_DATA_HOME")
    assert "environment variables:" in res.stdout


def test_version() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "jainam_fsm.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert res.stdout.strip() == f"jainam-fsm {version('jainam-fsm')}"


def test_docs_name_every_command_option_and_exit_code() -> None:
    text = DOCS.read_text()
    for path, parser in PARSERS:
        if path:
            assert f"jainam-fsm {' '.join(path)}" in text, path
        for action in parser._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert f"`{option}" in text, (path, option)
        for var in command_env(path):
            assert var in text, (path, var)


def test_docs_give_the_whole_tick_schema() -> None:
    text = DOCS.read_text()
    section = text[text.index("## Tick lines") :]
    documented = re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE)
    assert documented == list(TICK_FIELDS)
