"""Every bad input to the command line is one line on stderr and exit status 2: no traceback,
no multi-line usage, no secret echoed back.

Most cases run ``jainam_fsm.cli.main`` in this process (it restores the signal handlers and
logging it changes); a sample runs the real console entry in a subprocess to show the process
behaves the same.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jainam_fsm.cli import main

SECRET = "sk-SECRET-value-h9run-4242"
ARG_SECRET = "sk-ARGV-secret-h9run-7373"
PEPPER = "pp-PEPPER-value-h9run-" + "z" * 32
SHORT_PEPPER = "shortPEPPERval"
DB_PASSWORD = "dbPASSWORDh9run"
NEVER_SHOWN = (SECRET, ARG_SECRET, PEPPER, SHORT_PEPPER, DB_PASSWORD)

#: A stream command that is fine on its own (it would fail to connect to port 9 within 1 s):
#: each case adds one bad thing to it.
STREAM = ["stream", "--base-url", "http://127.0.0.1:9", "--subscribe", "1:22", "--duration", "1"]

_S = "stream"
CASES: list[tuple[str, list[str], dict[str, str | None]]] = [
    # -- stream: subscriptions and codes
    ("sub-negative-id", [*STREAM, "--subscribe", "1:-5"], {}),
    ("sub-negative-seg", [*STREAM, "--subscribe", "-1:5"], {}),
    ("sub-zero-seg", [*STREAM, "--subscribe", "0:22"], {}),
    ("sub-zero-id", [*STREAM, "--subscribe", "1:0"], {}),
    ("sub-not-number", [*STREAM, "--subscribe", "1:abc"], {}),
    ("sub-dash", [*STREAM, "--subscribe", "1-22"], {}),
    ("sub-empty", [*STREAM, "--subscribe", ""], {}),
    ("sub-four-parts", [*STREAM, "--subscribe", "1:22:1501:4"], {}),
    ("sub-huge-id", [*STREAM, "--subscribe", "1:99999999999999999999"], {}),
    ("sub-bad-code", [*STREAM, "--subscribe", "1:22:abc"], {}),
    ("sub-unknown-code", [*STREAM, "--subscribe", "1:22:9999"], {}),
    ("sub-status-code", [*STREAM, "--subscribe", "1:22:1507"], {}),
    ("sub-missing-value", [*STREAM, "--subscribe"], {}),
    ("no-subscribe", [_S, "--base-url", "http://127.0.0.1:9", "--duration", "1"], {}),
    ("code-negative", [*STREAM, "--code", "-1"], {}),
    ("code-zero", [*STREAM, "--code", "0"], {}),
    ("code-text", [*STREAM, "--code", "abc"], {}),
    ("code-float", [*STREAM, "--code", "1501.0"], {}),
    ("code-unknown", [*STREAM, "--code", "1234"], {}),
    # -- stream: duration
    ("duration-inf", [*STREAM, "--duration", "inf"], {}),
    ("duration-1e308", [*STREAM, "--duration", "1e308"], {}),
    ("duration-negative", [*STREAM, "--duration", "-1"], {}),
    ("duration-nan", [*STREAM, "--duration", "nan"], {}),
    ("duration-zero", [*STREAM, "--duration", "0"], {}),
    ("duration-text", [*STREAM, "--duration", "abc"], {}),
    ("duration-empty", [*STREAM, "--duration", ""], {}),
    ("duration-missing", [*STREAM, "--duration"], {}),
    # -- stream: server
    ("url-broken-ipv6", [*STREAM, "--base-url", "http://[::1"], {}),
    ("url-ftp", [*STREAM, "--base-url", "ftp://host:21"], {}),
    ("url-no-scheme", [*STREAM, "--base-url", "notaurl"], {}),
    ("url-port-too-big", [*STREAM, "--base-url", "http://127.0.0.1:99999"], {}),
    ("url-port-zero", [*STREAM, "--base-url", "http://127.0.0.1:0"], {}),
    ("url-port-text", [*STREAM, "--base-url", "http://127.0.0.1:http"], {}),
    ("url-empty", [*STREAM, "--base-url", ""], {}),
    ("url-no-host", [*STREAM, "--base-url", "http://"], {}),
    ("url-userinfo", [*STREAM, "--base-url", f"https://u:{DB_PASSWORD}@host:5000"], {}),
    ("url-space", [*STREAM, "--base-url", "http://127.0.0.1:9/a b"], {}),
    ("url-insecure-remote", [*STREAM, "--base-url", "http://example.com:5000"], {}),
    ("prefix-empty", [*STREAM, "--prefix", ""], {}),
    ("prefix-space", [*STREAM, "--prefix", "/a b"], {}),
    ("socket-path-empty", [*STREAM, "--socket-path", " "], {}),
    ("user-empty", [*STREAM, "--user-id", ""], {}),
    ("user-too-long", [*STREAM, "--user-id", "u" * 300], {}),
    ("mode-half", [*STREAM, "--broadcast-mode", "Half"], {}),
    # -- stream: hot standby
    ("standby-not-postgres", [*STREAM, "--standby", f"mysql://u:{DB_PASSWORD}@h/db"], {}),
    ("standby-empty", [*STREAM, "--standby", ""], {}),
    ("fence-without-standby", [*STREAM, "--fence-timeout", "2"], {}),
    ("fence-zero", [*STREAM, "--standby", "postgresql://u@h/db", "--fence-timeout", "0"], {}),
    ("fence-inf", [*STREAM, "--standby", "postgresql://u@h/db", "--fence-timeout", "inf"], {}),
    # -- stream: credentials, log level, files
    ("secret-empty", [*STREAM, "--secret-key", ""], {}),
    ("secret-newline", [*STREAM, "--secret-key", f"{ARG_SECRET}\nmore"], {}),
    ("secret-mistyped-option", [*STREAM, "--secret-keyy", ARG_SECRET], {}),
    ("secret-stray-value", [*STREAM, "--secret-key", "x1", ARG_SECRET], {}),
    ("app-key-empty", [*STREAM, "--app-key", ""], {}),
    ("app-key-control", [*STREAM, "--app-key", "a\tb"], {}),
    ("log-level-nope", [*STREAM, "--log-level", "NOPE"], {}),
    ("log-level-empty", [*STREAM, "--log-level", ""], {}),
    ("log-level-number", [*STREAM, "--log-level", "20"], {}),
    ("output-empty", [*STREAM, "--output", ""], {}),
    ("output-no-dir", [*STREAM, "--output", "/nonexistent-h9run/dir/out.jsonl"], {}),
    ("db-empty", [*STREAM, "--db", ""], {}),
    ("unknown-option", [*STREAM, "--nope"], {}),
    # -- stream: configuration from the environment
    ("env-stall-text", STREAM, {"JAINAM_STALL_TIMEOUT": "abc"}),
    ("env-stall-inf", STREAM, {"JAINAM_STALL_TIMEOUT": "inf"}),
    ("env-stall-negative", STREAM, {"JAINAM_STALL_TIMEOUT": "-1"}),
    ("env-attempts-negative", STREAM, {"JAINAM_BACKOFF_MAX_ATTEMPTS": "-3"}),
    ("env-verify-maybe", STREAM, {"JAINAM_VERIFY_TLS": "maybe"}),
    ("env-delivery", STREAM, {"JAINAM_DELIVERY": "weird"}),
    ("env-queue-zero", STREAM, {"JAINAM_QUEUE_SIZE": "0"}),
    ("env-batch-float", STREAM, {"JAINAM_SUBSCRIBE_BATCH": "1.5"}),
    ("env-eio", STREAM, {"JAINAM_EIO": "5"}),
    ("env-api", STREAM, {"JAINAM_API": "xml"}),
    ("env-url-broken", [_S, "--subscribe", "1:22"], {"JAINAM_BASE_URL": "http://[::1"}),
    ("env-url-missing", [_S, "--subscribe", "1:22"], {"JAINAM_BASE_URL": None}),
    ("env-secret-missing", STREAM, {"JAINAM_SECRET_KEY": None}),
    ("env-secret-newline", STREAM, {"JAINAM_SECRET_KEY": f"{SECRET}\nx"}),
    ("env-pepper-short", STREAM, {"JAINAM_TOKEN_PEPPER": SHORT_PEPPER}),
    ("env-salt-not-hex", STREAM, {"JAINAM_TOKEN_SALT": "zz-not-hex"}),
    ("env-db-unknown", STREAM, {"JAINAM_DATABASE_URL": f"mysql://u:{DB_PASSWORD}@h/x"}),
    # -- simulator
    ("sim-port-big", ["simulator", "--port", "99999"], {}),
    ("sim-port-negative", ["simulator", "--port", "-1"], {}),
    ("sim-port-text", ["simulator", "--port", "abc"], {}),
    ("sim-rate-negative", ["simulator", "--rate", "-1"], {}),
    ("sim-rate-nan", ["simulator", "--rate", "nan"], {}),
    ("sim-rate-inf", ["simulator", "--rate", "inf"], {}),
    ("sim-log-level", ["simulator", "--log-level", "NOPE"], {}),
    ("sim-mode", ["simulator", "--broadcast-mode", "Half"], {}),
    ("sim-instrument", ["simulator", "--instrument", "1:x"], {}),
    ("sim-limit-negative", ["simulator", "--subscription-limit", "-5"], {}),
    ("sim-ttl-zero", ["simulator", "--token-ttl", "0"], {}),
    ("sim-ttl-huge", ["simulator", "--token-ttl", "1e308"], {}),
    ("sim-ping-negative", ["simulator", "--ping-interval", "-1"], {}),
    ("sim-ping-nan", ["simulator", "--ping-timeout", "nan"], {}),
    ("sim-session-end", ["simulator", "--on-session-end", "nope"], {}),
    ("sim-host-empty", ["simulator", "--host", ""], {}),
    ("sim-secret-empty", ["simulator", "--secret-key", ""], {}),
    ("sim-eio", ["simulator", "--eio", "5"], {}),
    ("sim-api", ["simulator", "--api", "xml"], {}),
    ("sim-packets-negative", ["simulator", "--packets-per-event", "-1"], {}),
    ("sim-share-two", ["simulator", "--compressed-share", "2"], {}),
    ("sim-emitted-cap", ["simulator", "--emitted-cap", "-1"], {}),
    ("sim-prefix-slash", ["simulator", "--prefix", "apimarketdata/"], {}),
    # -- demo
    ("demo-duration-inf", ["demo", "--duration", "inf"], {}),
    ("demo-duration-nan", ["demo", "--duration", "nan"], {}),
    ("demo-duration-short", ["demo", "--duration", "5"], {}),
    ("demo-duration-huge", ["demo", "--duration", "1e308"], {}),
    ("demo-seed-text", ["demo", "--seed", "x"], {}),
    ("demo-plain-value", ["demo", "--plain=yes"], {}),
    # -- soak
    ("soak-minutes-inf", ["soak", "--minutes", "inf"], {}),
    ("soak-minutes-negative", ["soak", "--minutes", "-1"], {}),
    ("soak-minutes-huge", ["soak", "--minutes", "1e308"], {}),
    ("soak-consumers-zero", ["soak", "--consumers", "0"], {}),
    ("soak-threads-many", ["soak", "--threads", "1000"], {}),
    ("soak-seed-text", ["soak", "--seed", "x"], {}),
    ("soak-api", ["soak", "--api", "xml"], {}),
    ("soak-json-empty", ["soak", "--json", ""], {}),
    # -- diagram
    ("diagram-dir-empty", ["diagram", "--dir", ""], {}),
    ("diagram-dir-unusable", ["diagram", "--dir", "/proc/nonexistent-h9run/x"], {}),
    ("diagram-extra", ["diagram", "extra"], {}),
    ("diagram-check-value", ["diagram", "--check=yes"], {}),
    # -- tokens (the store)
    ("tokens-no-action", ["tokens"], {}),
    ("tokens-unknown-action", ["tokens", "nope"], {}),
    ("tokens-revoke-no-user", ["tokens", "revoke"], {}),
    ("tokens-revoke-empty-user", ["tokens", "revoke", ""], {}),
    ("tokens-db-empty", ["tokens", "--database-url", "", "status"], {}),
    ("tokens-db-unknown", ["tokens", "--database-url", "notaurl://", "status"], {}),
    (
        "tokens-db-no-dir",
        ["tokens", "--database-url", "sqlite:////nonexistent-h9/t.db", "status"],
        {},
    ),
    ("tokens-pepper-short", ["tokens", "status"], {"JAINAM_TOKEN_PEPPER": SHORT_PEPPER}),
    ("tokens-status-option", ["tokens", "status", "--nope"], {}),
    # -- top level
    ("no-command", [], {}),
    ("unknown-command", ["nope"], {}),
    ("top-unknown-option", ["--nope"], {}),
    ("version-with-value", ["--version=1"], {}),
]


def _env(tmp_path: Path, changes: dict[str, str | None]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAINAM_")}
    env.update(
        JAINAM_APP_KEY="app-key-visible",
        JAINAM_SECRET_KEY=SECRET,
        JAINAM_TOKEN_PEPPER=PEPPER,
        JAINAM_DATABASE_URL=f"sqlite:///{tmp_path / 'tokens.db'}",
        JAINAM_BACKOFF_MAX_ATTEMPTS="1",
        XDG_DATA_HOME=str(tmp_path / "xdg"),
    )
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _check(code: int | None, out: str, err: str) -> None:
    lines = err.splitlines()
    assert code == 2, (code, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("jainam-fsm"), err
    assert "Traceback" not in err + out
    assert len(lines[0]) < 400, err
    for value in NEVER_SHOWN:
        assert value not in err + out


def test_there_are_many_cases() -> None:
    assert len(CASES) >= 65
    assert len({name for name, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("argv", "env"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str],
    env: dict[str, str | None],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    full = _env(tmp_path, env)
    for key in [k for k in os.environ if k.startswith("JAINAM_")]:
        monkeypatch.delenv(key)
    for key, value in full.items():
        monkeypatch.setenv(key, value)
    try:
        code: int | None = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code if isinstance(exc.code, int) else None
    captured = capsys.readouterr()
    _check(code, captured.out, captured.err)


@pytest.mark.parametrize(
    "name",
    [
        "sub-negative-id",
        "duration-1e308",
        "url-broken-ipv6",
        "log-level-nope",
        "env-pepper-short",
        "secret-mistyped-option",
        "sim-log-level",
        "tokens-no-action",
    ],
)
def test_the_console_entry_behaves_the_same(name: str, tmp_path: Path) -> None:
    argv, env = next((a, e) for n, a, e in CASES if n == name)
    res = subprocess.run(
        [sys.executable, "-m", "jainam_fsm.cli", *argv],
        capture_output=True,
        text=True,
        env=_env(tmp_path, env),
        timeout=60,
        check=False,
    )
    _check(res.returncode, res.stdout, res.stderr)
