"""Argument types and the parser class shared by every ``jainam-fsm`` command.

Each ``type=`` function here checks its value completely at parse time, so a bad value is an
argparse usage error: exit status 2 and one line on stderr, before anything slow starts. The
messages name the option's rule, never echo a value that may be a secret (:func:`secret_text`),
and never grow past one line.
"""

from __future__ import annotations

import argparse
import logging
import math
from collections.abc import Callable
from typing import NoReturn
from urllib.parse import urlsplit

__all__ = [
    "LOG_LEVELS",
    "TICK_CODES",
    "CliParser",
    "base_url",
    "bounded_float",
    "bounded_int",
    "log_level",
    "message_code",
    "nonempty_text",
    "port",
    "secret_text",
    "subscription",
]

#: Message codes whose messages the decoder turns into ticks (docs/xts-protocol.md §7).
TICK_CODES = (1501, 1502, 1504, 1505, 1510, 1512)

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

#: Upper bound of XTS ids (segment, instrument): they are 32-bit signed integers on the wire.
MAX_ID = 2**31 - 1

_TypeFn = Callable[[str], object]


class CliParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line and never echo stray values.

    argparse would print the (multi-line) usage, then the error; for unrecognized arguments it
    would quote every one of them, a mistyped ``--secret-keyy VALUE`` included. Here the error
    is ``<prog>: error: <message> (see <prog> --help)``, and of unrecognized arguments only the
    option names are shown.
    """

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments: "):
            words = message.removeprefix("unrecognized arguments: ").split(" ")
            options = [w.split("=", 1)[0] for w in words if w.startswith("-")]
            values = len(words) - len(options)
            shown = " ".join(options)
            if values:
                shown += (
                    f"{' and ' if shown else ''}{values} stray value{'s' if values > 1 else ''}"
                )
            message = f"unrecognized arguments: {shown}"
        line = " ".join(message.split())
        self.exit(2, f"{self.prog}: error: {line} (see {self.prog} --help)\n")


def _fail(message: str) -> NoReturn:
    raise argparse.ArgumentTypeError(message)


def _number(text: str, *, integer: bool) -> float:
    cleaned = text.strip()
    try:
        value = float(int(cleaned)) if integer else float(cleaned)
    except ValueError:
        _fail(f"must be a {'whole ' if integer else ''}number, got {text[:40]!r}")
    if not math.isfinite(value):
        _fail("must be a finite number")
    return value


def bounded_float(
    low: float, high: float, *, low_inclusive: bool = False, unit: str = ""
) -> _TypeFn:
    """A ``type=`` for a finite float in ``(low, high]`` (``[low, high]`` when inclusive)."""

    def parse(text: str) -> float:
        value = _number(text, integer=False)
        too_low = value < low if low_inclusive else value <= low
        if too_low or value > high:
            lower = f">= {low:.15g}" if low_inclusive else f"> {low:.15g}"
            _fail(f"must be {lower} and <= {high:.15g}{unit}, got {value:.6g}")
        return value

    parse.__name__ = "number"
    return parse


def bounded_int(low: int, high: int) -> _TypeFn:
    """A ``type=`` for a whole number in ``[low, high]``."""

    def parse(text: str) -> int:
        value = _number(text, integer=True)
        if not low <= value <= high:
            _fail(f"must be a whole number from {low} to {high}, got {int(value)}")
        return int(value)

    parse.__name__ = "integer"
    return parse


def port(text: str) -> int:
    """A TCP port: 0 (any free port) to 65535."""
    value: int = bounded_int(0, 65535)(text)  # type: ignore[assignment]
    return value


def log_level(text: str) -> int:
    """``DEBUG`` / ``INFO`` / ``WARNING`` / ``ERROR`` / ``CRITICAL`` (any case) as a number."""
    name = text.strip().upper()
    if name not in LOG_LEVELS:
        _fail(f"must be one of {', '.join(LOG_LEVELS)}")
    level: int = getattr(logging, name)
    return level


def message_code(text: str) -> int:
    """An XTS message code whose messages become ticks."""
    try:
        value = int(text.strip())
    except ValueError:
        _fail(f"must be a message code, one of {', '.join(map(str, TICK_CODES))}")
    if value not in TICK_CODES:
        _fail(f"must be one of {', '.join(map(str, TICK_CODES))}, got {value}")
    return value


def subscription(text: str) -> tuple[int, int, int | None]:
    """``SEG:ID`` or ``SEG:ID:CODE`` -> ``(segment, instrument_id, code or None)``."""
    parts = text.strip().split(":")
    usage = "expected SEG:ID or SEG:ID:CODE such as 1:2885 or 2:35001:1512"
    if len(parts) not in (2, 3):
        _fail(f"{usage}, got {text[:40]!r}")
    try:
        seg, iid = int(parts[0]), int(parts[1])
    except ValueError:
        _fail(f"{usage}, got {text[:40]!r}")
    if not 1 <= seg <= 9999:
        _fail(f"segment must be a number from 1 to 9999, got {seg}")
    if not 1 <= iid <= MAX_ID:
        _fail(f"instrument id must be a number from 1 to {MAX_ID}, got {iid}")
    code = message_code(parts[2]) if len(parts) == 3 else None
    return seg, iid, code


def base_url(text: str) -> str:
    """``http(s)://host[:port][/prefix]``: scheme, host and port checked (port 1-65535)."""
    rule = "must look like https://host:port (http or https, a host, a port from 1 to 65535)"
    value = text.strip()
    try:
        parts = urlsplit(value)
        port_number = parts.port  # raises ValueError for a port out of range or not a number
    except ValueError:
        _fail(rule)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        _fail(rule)
    if port_number == 0:
        _fail(rule)
    if parts.username or parts.password or parts.query or parts.fragment:
        _fail(rule + "; no user, query or fragment")
    if any(c.isspace() or not c.isprintable() for c in value):
        _fail(rule + "; no spaces")
    return value


def nonempty_text(what: str, *, max_len: int = 256) -> _TypeFn:
    """A ``type=`` for a printable text without spaces, 1 to ``max_len`` characters."""

    def parse(text: str) -> str:
        value = text.strip()
        if not value:
            _fail(f"{what} must not be empty")
        if len(value) > max_len:
            _fail(f"{what} must be at most {max_len} characters")
        if any(c.isspace() or not c.isprintable() for c in value):
            _fail(f"{what} must be printable, without spaces")
        return value

    parse.__name__ = "text"
    return parse


def secret_text(what: str) -> _TypeFn:
    """Like :func:`nonempty_text`, for a secret: the value is registered with the log redactor
    and never appears in an error message."""
    check = nonempty_text(what, max_len=1024)

    def parse(text: str) -> str:
        value: str = check(text)  # type: ignore[assignment]
        from jainam_fsm.telemetry import REDACTOR

        REDACTOR.add(value)
        return value

    parse.__name__ = "secret"
    return parse
