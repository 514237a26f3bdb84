"""Declarative per-field validation rules, shared by ``AdapterConfig(...)`` and ``from_env()``.

Each rule knows two things: how to turn environment text into a typed value (:meth:`Rule.parse`)
and whether a typed value is acceptable (:meth:`Rule.check`, which may also normalise it).
Both raise :class:`Invalid` with a description of what is wrong that **never contains the
value**: a secret typed into the wrong variable must not be printed back. The caller prefixes
the field (and variable) name, so every configuration error is one line naming its field.

Hand-written rather than a validation library (pydantic, attrs validators): the whole need is a
dozen scalar fields, the messages must never echo input (pydantic's do by default), and the
package stays free of another dependency. See docs/configuration.md.
"""

from __future__ import annotations

import enum
import ipaddress
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


class Invalid(Exception):
    """A value broke a rule; ``str()`` says what was wrong, never what the value was."""


def _no_control(text: str, *, spaces: bool) -> None:
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise Invalid("must not contain control characters (newlines, tabs, NUL)")
    if not spaces and any(c.isspace() for c in text):
        raise Invalid("must not contain spaces")


@dataclass(frozen=True)
class Rule:
    """Base rule: ``env`` is the variable read by ``from_env`` (``None``: not read)."""

    env: str | None = None

    def parse(self, text: str) -> Any:
        """Environment text (already stripped, never empty) to a typed value."""
        return text

    def check(self, value: Any) -> Any:
        """Return the (possibly normalised) value, or raise :class:`Invalid`."""
        return value

    def describe(self) -> str:
        """What is accepted, for documentation."""
        return "any value"


@dataclass(frozen=True)
class Text(Rule):
    """A string: non-empty unless ``optional`` (then ``None`` is allowed too)."""

    optional: bool = False
    max_len: int = 1024
    spaces: bool = False

    def check(self, value: Any) -> Any:
        if value is None and self.optional:
            return None
        if not isinstance(value, str):
            raise Invalid(f"must be text, not {type(value).__name__}")
        if value == "":
            raise Invalid("must not be empty")
        if len(value) > self.max_len:
            raise Invalid(f"must be at most {self.max_len} characters long")
        _no_control(value, spaces=self.spaces)
        return value

    def describe(self) -> str:
        return f"non-empty text, at most {self.max_len} characters"


@dataclass(frozen=True)
class Path(Text):
    """A URL path such as ``/apimarketdata``: a leading ``/`` is added when missing."""

    max_len: int = 255

    def check(self, value: Any) -> Any:
        value = super().check(value)
        if value is None:
            return None
        if any(c in value for c in "?#\\"):
            raise Invalid("must be a plain path (no '?', '#' or '\\')")
        return value if value.startswith("/") else "/" + value

    def describe(self) -> str:
        return "a URL path such as /apimarketdata"


@dataclass(frozen=True)
class Flag(Rule):
    """A real boolean (``0``/``1`` are numbers, not booleans)."""

    def parse(self, text: str) -> Any:
        low = text.lower()
        if low in TRUE_WORDS:
            return True
        if low in FALSE_WORDS:
            return False
        raise Invalid("must be true or false (1/0, yes/no, on/off)")

    def check(self, value: Any) -> Any:
        if not isinstance(value, bool):
            raise Invalid(f"must be True or False, not {type(value).__name__}")
        return value

    def describe(self) -> str:
        return "true or false"


@dataclass(frozen=True)
class Number(Rule):
    """A finite number in ``[low, high]`` (``(low, high]`` when ``low_open``)."""

    low: float = 0.0
    high: float = 86_400.0
    low_open: bool = True
    unit: str = "seconds"

    def _range(self) -> str:
        lo = f"> {self.low:g}" if self.low_open else f">= {self.low:g}"
        return f"{lo} and <= {self.high:g}"

    def parse(self, text: str) -> Any:
        try:
            return float(text)
        except ValueError:
            raise Invalid(f"must be a number of {self.unit}") from None

    def check(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Invalid(f"must be a number of {self.unit}, not {type(value).__name__}")
        try:
            number = float(value)
        except OverflowError:  # an int too large for a float
            raise Invalid(f"must be a number of {self.unit} {self._range()}") from None
        if not math.isfinite(number):
            raise Invalid(f"must be a finite number {self._range()} ({self.unit})")
        too_low = number <= self.low if self.low_open else number < self.low
        if too_low or number > self.high:
            raise Invalid(f"must be {self._range()} ({self.unit})")
        return number

    def describe(self) -> str:
        return f"a finite number {self._range()} ({self.unit})"


@dataclass(frozen=True)
class Integer(Rule):
    """A whole number in ``[low, high]``."""

    low: int = 1
    high: int = 1_000_000

    def parse(self, text: str) -> Any:
        try:
            return int(text)
        except ValueError:
            raise Invalid("must be a whole number") from None

    def check(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"must be a whole number, not {type(value).__name__}")
        if not self.low <= value <= self.high:
            raise Invalid(f"must be a whole number from {self.low} to {self.high}")
        return value

    def describe(self) -> str:
        return f"a whole number from {self.low} to {self.high}"


@dataclass(frozen=True)
class Choice(Rule):
    """One of a few exact words (or ``None`` when ``optional``)."""

    choices: tuple[str, ...] = ()
    optional: bool = False

    def check(self, value: Any) -> Any:
        if value is None and self.optional:
            return None
        if not isinstance(value, str) or value not in self.choices:
            raise Invalid("must be one of " + ", ".join(repr(c) for c in self.choices))
        return value

    def describe(self) -> str:
        return " or ".join(f"`{c}`" for c in self.choices)


@dataclass(frozen=True)
class EngineIO(Rule):
    """The Engine.IO dialect: ``"auto"``, ``3`` or ``4`` (``"3"``/``"4"`` accepted as text)."""

    def parse(self, text: str) -> Any:
        return self.check(text.strip().lower())

    def check(self, value: Any) -> Any:
        if value == "auto":
            return "auto"
        if isinstance(value, bool):
            raise Invalid("must be 'auto', 3 or 4")
        if value in (3, 4, "3", "4"):
            return int(value)
        raise Invalid("must be 'auto', 3 or 4")

    def describe(self) -> str:
        return "`auto`, `3` or `4`"


@dataclass(frozen=True)
class EnumOf(Rule):
    """A member of ``enum`` (a :class:`enum.StrEnum`), given as member or value (any case)."""

    enum: type[enum.StrEnum] | None = None

    def check(self, value: Any) -> Any:
        assert self.enum is not None
        if isinstance(value, self.enum):
            return value
        if isinstance(value, str):
            for member in self.enum:
                if member.value.lower() == value.lower():
                    return member
        names = ", ".join(repr(m.value) for m in self.enum)
        raise Invalid(f"must be one of {names}")

    def describe(self) -> str:
        assert self.enum is not None
        return " or ".join(f"`{m.value}`" for m in self.enum)


@dataclass(frozen=True)
class InstanceOf(Rule):
    """An instance of ``kind`` (for structured settings such as the backoff policy)."""

    kind: type | None = None

    def check(self, value: Any) -> Any:
        assert self.kind is not None
        if not isinstance(value, self.kind):
            raise Invalid(f"must be a {self.kind.__name__}, not {type(value).__name__}")
        return value


@dataclass(frozen=True)
class ServerUrl(Rule):
    """``http(s)://host[:port][/path]``: no user info, query or fragment; port 1-65535."""

    def check(self, value: Any) -> Any:
        split_url(value)
        return value

    def describe(self) -> str:
        return "https://host[:port][/prefix]"


def split_url(value: Any) -> SplitResult:
    """Parse a server URL or raise :class:`Invalid` (the message never shows the URL)."""
    if not isinstance(value, str):
        raise Invalid(f"must be a URL (text), not {type(value).__name__}")
    if value == "":
        raise Invalid("must not be empty")
    if len(value) > 2048:
        raise Invalid("must be at most 2048 characters long")
    _no_control(value, spaces=False)
    try:
        parts = urlsplit(value)
    except ValueError:
        # urlsplit's own text echoes the input; ours names the likely cause only.
        raise Invalid("is not a valid URL (check the brackets of an IPv6 host)") from None
    try:
        port = parts.port
    except ValueError:
        raise Invalid("port must be a number from 1 to 65535") from None
    if parts.scheme not in ("http", "https"):
        raise Invalid("must start with https:// (or http://)")
    if not parts.hostname:
        raise Invalid("must name a host, as in https://host:port")
    if parts.username is not None or parts.password is not None:
        raise Invalid("must not contain a user name or password")
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        raise Invalid("must not contain a query or a fragment")
    if port is not None and not 1 <= port <= 65535:
        raise Invalid("port must be a number from 1 to 65535")
    if parts.netloc.endswith(":"):
        raise Invalid("port must be a number from 1 to 65535 (it is empty)")
    return parts


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
