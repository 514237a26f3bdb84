"""Structured telemetry on stdlib ``logging``, with secrets scrubbed at the source.

Every event is one log record on a logger under ``jainam_fsm``: the message is the event name,
the structured fields ride in ``record.fields`` (a dict). :class:`JsonFormatter` prints a record
as one JSON line. :class:`RedactingFilter` removes token query strings, Authorization headers,
JWT-shaped strings and any registered secret value from messages, arguments and fields.
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
            record.fields = {k: self._scrub(v) for k, v in fields.items()}
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.redactor(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redactor(value)
        return value


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
        clean = {
            k: (self.redactor(v) if isinstance(v, str) else v)
            for k, v in {**self.context, **fields}.items()
        }
        logger.log(level, event, extra={"event": event, "fields": clean})


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
