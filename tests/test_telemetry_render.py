"""Telemetry records read well in any host: fields in the message for plain handlers, flat
record attributes for JSON formatters, redaction in both forms, and no engineio close warning
on an intentional shutdown.

The ``basicConfig`` tests run in a subprocess so the root logger of this process stays as it is.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from pythonjsonlogger.json import JsonFormatter as PythonJsonFormatter

from jainam_fsm.telemetry import (
    JsonFormatter,
    LoggingTelemetry,
    RedactingFilter,
    Redactor,
    field_attribute,
    render,
)

SECRET = "s3cret-value-h9run-0123456789"
AREA = "h9render"  # events "h9render.*" go to the logger jainam_fsm.h9render


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def area_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger(f"jainam_fsm.{AREA}")
    old_level, old_propagate = logger.level, logger.propagate
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger
    for h in list(logger.handlers):
        logger.removeHandler(h)
    logger.setLevel(old_level)
    logger.propagate = old_propagate


def _stream_handler(logger: logging.Logger, formatter: logging.Formatter) -> io.StringIO:
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(formatter)
    logger.addHandler(handler)
    return buf


def test_message_renders_every_field(area_logger: logging.Logger) -> None:
    cap = Capture()
    area_logger.addHandler(cap)
    LoggingTelemetry(Redactor()).emit(
        f"{AREA}.stalled",
        logging.WARNING,
        {
            "silent_s": 61.2,
            "state": "connected",
            "reason": "connect_failed: TransportFailure: refused",
            "attempt": 3,
            "ok": True,
            "missing": None,
            "pct": "100%s",
            "codes": [1501, 1512],
        },
    )
    (record,) = cap.records
    assert record.getMessage() == (
        f"{AREA}.stalled silent_s=61.2 state=connected "
        'reason="connect_failed: TransportFailure: refused" attempt=3 ok=true missing=null '
        "pct=100%s codes=[1501,1512]"
    )
    # ... and every field is a flat attribute as well as in record.fields
    assert record.silent_s == 61.2 and record.state == "connected" and record.attempt == 3  # type: ignore[attr-defined]
    assert record.missing is None and record.codes == [1501, 1512]  # type: ignore[attr-defined]
    assert record.fields["silent_s"] == 61.2  # type: ignore[attr-defined]
    assert record.event == f"{AREA}.stalled"  # type: ignore[attr-defined]


def test_a_field_named_like_a_record_attribute_gets_a_trailing_underscore(
    area_logger: logging.Logger,
) -> None:
    cap = Capture()
    area_logger.addHandler(cap)
    LoggingTelemetry(Redactor()).emit(
        f"{AREA}.store_error", logging.WARNING, {"message": "db down", "name": "x", "user": "u"}
    )
    (record,) = cap.records
    assert field_attribute("message") == "message_" and field_attribute("user") == "user"
    assert record.message_ == "db down" and record.name_ == "x" and record.user == "u"  # type: ignore[attr-defined]
    assert record.name == f"jainam_fsm.{AREA}"  # the record's own attribute is untouched
    assert 'message="db down"' in record.getMessage()


def test_event_without_fields_is_just_its_name() -> None:
    assert render("session.changed", {}) == "session.changed"


def test_python_json_logger_shows_fields_as_keys(area_logger: logging.Logger) -> None:
    buf = _stream_handler(area_logger, PythonJsonFormatter())
    LoggingTelemetry(Redactor(), worker="w3").emit(
        f"{AREA}.stalled", logging.WARNING, {"silent_s": 61.2, "state": "connected"}
    )
    line = json.loads(buf.getvalue())
    assert line["silent_s"] == 61.2 and line["state"] == "connected" and line["worker"] == "w3"
    assert line["event"] == f"{AREA}.stalled"
    assert line["message"] == f"{AREA}.stalled worker=w3 silent_s=61.2 state=connected"


def test_project_json_formatter_is_unchanged(area_logger: logging.Logger) -> None:
    buf = _stream_handler(area_logger, JsonFormatter())
    LoggingTelemetry(Redactor()).emit(f"{AREA}.ready", logging.INFO, {"after_attempts": 1})
    line = json.loads(buf.getvalue())
    assert {k: v for k, v in line.items() if k != "ts"} == {
        "level": "INFO",
        "logger": f"jainam_fsm.{AREA}",
        "event": f"{AREA}.ready",
        "after_attempts": 1,
    }


def _emit_with_secret(telemetry_redactor: Redactor) -> None:
    LoggingTelemetry(telemetry_redactor).emit(
        f"{AREA}.failed",
        logging.ERROR,
        {
            "error": f"bad answer quoting {SECRET}",
            "url": "wss://h/socket.io/?token=abcdef123456&userID=X",
            "nested": {"inner": [f"x {SECRET}"]},
        },
    )


def _assert_redacted(record: logging.LogRecord, json_line: str) -> None:
    texts = [
        record.getMessage(),
        repr(record.error),  # type: ignore[attr-defined]
        repr(record.url),  # type: ignore[attr-defined]
        repr(record.nested),  # type: ignore[attr-defined]
        repr(record.fields),  # type: ignore[attr-defined]
        json_line,
    ]
    for text in texts:
        assert SECRET not in text
        assert "abcdef123456" not in text
    assert "***" in record.getMessage() and "***" in record.error  # type: ignore[attr-defined]
    assert "token=***" in record.url  # type: ignore[attr-defined]
    assert json.loads(json_line)["error"] == "bad answer quoting ***"


def test_redaction_at_the_source_covers_message_and_attributes(
    area_logger: logging.Logger,
) -> None:
    redactor = Redactor()
    redactor.add(SECRET)
    cap = Capture()
    area_logger.addHandler(cap)
    buf = _stream_handler(area_logger, PythonJsonFormatter())
    _emit_with_secret(redactor)
    _assert_redacted(cap.records[0], buf.getvalue())


def test_redacting_filter_covers_message_and_attributes(area_logger: logging.Logger) -> None:
    # The sink knows no secret (it was registered later, say); the handler's filter does.
    late = Redactor()
    late.add(SECRET)
    cap = Capture()
    cap.addFilter(RedactingFilter(late))
    area_logger.addHandler(cap)
    buf = io.StringIO()
    json_handler = logging.StreamHandler(buf)
    json_handler.setFormatter(PythonJsonFormatter())
    json_handler.addFilter(RedactingFilter(late))
    area_logger.addHandler(json_handler)
    _emit_with_secret(Redactor())
    _assert_redacted(cap.records[0], buf.getvalue())


# -- real processes: basicConfig hosts ------------------------------------------------------

_HOST = textwrap.dedent(
    """
    import logging, sys, tempfile
    logging.basicConfig(level=getattr(logging, sys.argv[1]))
    from jainam_fsm.simulator import SimulatorConfig, SimulatorThread
    from jainam_fsm.store import StoredTokenSource, TokenStore
    from jainam_fsm.streaming import AdapterConfig, StreamingAdapter

    eio = int(sys.argv[3])
    sim = SimulatorThread(SimulatorConfig(rate=10.0, emit_interval=0.02, eio=eio)).start()
    tmp = tempfile.TemporaryDirectory()
    store = TokenStore(f"sqlite:///{tmp.name}/t.db", pepper="p" * 40, salt="ab" * 16)
    creds = sim.credentials
    config = AdapterConfig(
        base_url=sim.base_url, app_key=creds.app_key, secret_key=creds.secret_key
    )
    for _ in range(int(sys.argv[2])):  # a few adapters, each shut down on purpose
        adapter = StreamingAdapter(
            config,
            lambda tick: None,
            token_source=lambda login, tel: StoredTokenSource(store, "u", login, tel),
        )
        adapter.subscribe(1, 22, 1501)
        adapter.connect()
        assert adapter.wait_ready(20), "not ready"
        adapter.shutdown()
    sim.stop()
    store.close()
    tmp.cleanup()
    print("clean exit", file=sys.stderr)
    """
)


def _host(tmp_path: Path, level: str, reconnects: int, eio: int = 4) -> str:
    script = tmp_path / "host.py"
    script.write_text(_HOST)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAINAM_")}
    res = subprocess.run(
        [sys.executable, str(script), level, str(reconnects), str(eio)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=str(Path(__file__).resolve().parent.parent),
        check=False,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "clean exit" in res.stderr and "Traceback" not in res.stderr
    return res.stderr


def test_basic_config_lines_show_the_fields(tmp_path: Path) -> None:
    err = _host(tmp_path, "INFO", 1)
    lines = err.splitlines()
    start = [ln for ln in lines if "lifecycle.transition" in ln and "trigger=start" in ln]
    assert start == [
        "INFO:jainam_fsm.lifecycle:lifecycle.transition trigger=start source=idle "
        "dest=authenticating reason=null attempt=0"
    ]
    assert any(ln.startswith("INFO:jainam_fsm.token:token.login user=u ") for ln in lines)
    assert any("INFO:jainam_fsm.connection:connection.ready after_attempts=0" in ln for ln in lines)
    assert any("INFO:jainam_fsm.replay:replay reason=connect subscribed=1 " in ln for ln in lines)


@pytest.mark.parametrize("eio", [3, 4])
def test_clean_shutdown_prints_no_engineio_close_warning(tmp_path: Path, eio: int) -> None:
    err = _host(tmp_path, "WARNING", 3, eio)
    assert "Server sent close packet" not in err, err
    assert "aborting" not in err, err
