"""Structured telemetry on stdlib ``logging``, with secrets scrubbed at the source.

Every event is one log record on a logger under ``jainam_fsm``, readable by any handler:

- the message is the event name followed by its fields as ``key=value`` pairs
  (``connection.stalled silent_seconds=61.2 allowance=60.0``), so a plain
  ``logging.basicConfig()`` line shows the data;
- every field is also a flat record attribute (``record.silent_seconds``), which is what
  python-json-logger, structlog's ``ProcessorFormatter`` (with ``ExtraAdder``) and similar
  formatters pick up; a field whose name a ``LogRecord`` already uses gets a trailing ``_``;
- ``record.event`` holds the event name and ``record.fields`` the dict (the project's own
  :class:`JsonFormatter` prints those).

:class:`RedactingFilter` removes token query strings, Authorization headers, JWT-shaped strings
and any registered secret value from the message, the fields and the flat attributes.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable
from typing import Any

ROOT_LOGGER = "jainam_fsm"

_PATTERNS = (
    (re.compile(r"(?i)(token=)[^&\s'\"]+"), r"\1***"),
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"), r"\1***"),
    (re.compile(r"(?i)(secret[_-]?key['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"), r"\1***"),
    (re.compile(r"eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*"), "***jwt***"),
)


class Redactor:
    """Scrubs secrets from text: fixed patterns plus values registered at run time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()

    def add(self, *values: str | None) -> None:
        """Register secret values (tokens, app secret); short values are ignored."""
        with self._lock:
            self._secrets = self._secrets | {v for v in values if v and len(v) >= 6}

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        for pattern, repl in _PATTERNS:
            text = pattern.sub(repl, text)
        return text


#: The process-wide redactor used by :class:`RedactingFilter` by default.
REDACTOR = Redactor()


def scrub(text: str, *secrets: str | None) -> str:
    """``text`` without the given secrets, the registered ones, and the fixed patterns."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "<redacted>")
    return REDACTOR(text)


#: Names a ``LogRecord`` already has (or that ``Formatter`` sets): a field called like one of
#: them becomes the attribute ``<name>_`` instead (``message`` -> ``record.message_``).
_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "event",
    "fields",
}


def field_attribute(name: str) -> str:
    """The flat record attribute under which field ``name`` is carried."""
    return f"{name}_" if name in _RESERVED else name


def _render_value(value: object) -> str:
    if isinstance(value, str):
        text = str.__str__(value)  # a str enum renders as its value, as in the JSON output
        if text and not any(c.isspace() or c in '"=\\' for c in text):
            return text
        return json.dumps(text, ensure_ascii=False)
    if value is None or isinstance(value, bool | int | float | dict | list | tuple):
        try:
            return json.dumps(value, default=str, separators=(",", ":"))
        except ValueError:  # a container that holds itself
            return str(value)
    return _render_value(str(value))


def render(event: str, fields: dict[str, object]) -> str:
    """``event k=v k=v``: strings bare unless they hold spaces, quotes or ``=`` (then JSON
    quoted); numbers, ``true``/``false``/``null``, lists and dicts as compact JSON."""
    if not fields:
        return event
    return event + " " + " ".join(f"{k}={_render_value(v)}" for k, v in fields.items())


def _scrub_value(redactor: Redactor, value: Any) -> Any:
    if isinstance(value, str):
        return redactor(value)
    if isinstance(value, dict):
        return {k: _scrub_value(redactor, v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub_value(redactor, v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs secrets from every record it sees."""

    def __init__(self, redactor: Redactor = REDACTOR) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor(record.getMessage())
        record.args = None
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            clean = {k: _scrub_value(self.redactor, v) for k, v in fields.items()}
            record.fields = clean
            for key in clean:
                name = field_attribute(key)
                if hasattr(record, name):
                    setattr(record, name, _scrub_value(self.redactor, getattr(record, name)))
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.redactor(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class LoggingTelemetry:
    """The :class:`~jainam_fsm.core.ports.TelemetrySink` on stdlib logging.

    Records go to ``jainam_fsm.<area>`` where area is the event's first dotted part
    (``lifecycle.transition`` -> ``jainam_fsm.lifecycle``).
    """

    def __init__(self, redactor: Redactor = REDACTOR, **context: object) -> None:
        self.redactor = redactor
        self.context = context
        self._loggers: dict[str, logging.Logger] = {}

    def emit(self, event: str, level: int, fields: dict[str, object]) -> None:
        area = event.split(".", 1)[0]
        logger = self._loggers.get(area)
        if logger is None:
            logger = self._loggers[area] = logging.getLogger(f"{ROOT_LOGGER}.{area}")
        if not logger.isEnabledFor(level):
            return
        clean = {k: _scrub_value(self.redactor, v) for k, v in {**self.context, **fields}.items()}
        extra: dict[str, object] = {field_attribute(k): v for k, v in clean.items()}
        extra["event"] = event
        extra["fields"] = clean
        # No args: a "%" in a rendered value is never taken for a format.
        logger.log(level, render(event, clean), extra=extra)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, event, then the structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname,
            "logger": record.name,
            "event": getattr(record, "event", None) or record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        elif getattr(record, "event", None) is None:
            out["event"] = "log"
            out["message"] = record.getMessage()
        if record.exc_text:
            out["exception"] = record.exc_text
        elif record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, separators=(",", ":"))


class QuietCloseLogger(logging.LoggerAdapter[logging.Logger]):
    """python-engineio's logger for one socket. Once :attr:`closing` is set (we close the
    socket on purpose), engineio's WARNING "Server sent close packet data None, aborting" --
    the server merely answering our own close -- is logged at DEBUG instead."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logger, {})
        self.closing = False

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if (
            self.closing
            and level == logging.WARNING
            and isinstance(msg, str)
            and msg.startswith("Server sent %s packet data")
        ):
            level = logging.DEBUG
        super().log(level, msg, *args, **kwargs)


def configure_json_logging(
    stream: Any, level: int = logging.INFO, loggers: Iterable[str] = (ROOT_LOGGER,)
) -> logging.Handler:
    """Send the given loggers to ``stream`` as redacted JSON lines (the CLI's stderr)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    for name in loggers:
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(level)
    return handler
