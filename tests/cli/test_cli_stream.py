"""`jainam-fsm stream` against a separately started `jainam-fsm simulator` (real processes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

PEPPER = "cli-test-pepper-" + "x" * 32


def _start_simulator(*extra: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jainam_fsm.cli",
            "simulator",
            "--port",
            "0",
            "--rate",
            "10",
            "--ping-interval",
            "1",
            "--ping-timeout",
            "2",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, json.loads(line)


def _post(url: str) -> dict[str, Any]:
    req = urllib.request.Request(
        url, method="POST", data=b"{}", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def _wait_lines(path: Path, n: int, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= n:
            return lines
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} lines in {path} after {timeout} s")


@pytest.fixture
def simulator_proc() -> Any:
    proc, info = _start_simulator()
    yield info
    proc.send_signal(signal.SIGINT)
    assert proc.wait(15) == 0


def _env(info: dict[str, Any]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        JAINAM_APP_KEY=info["app_key"],
        JAINAM_SECRET_KEY=info["secret_key"],
        JAINAM_TOKEN_PEPPER=PEPPER,
        JAINAM_BACKOFF_INITIAL="0.1",
        JAINAM_BACKOFF_MAX="0.5",
    )
    return env


def test_stream_prints_ticks_and_survives_a_sever(
    simulator_proc: dict[str, Any], tmp_path: Path
) -> None:
    info = simulator_proc
    out, err = tmp_path / "out.jsonl", tmp_path / "err.jsonl"
    with out.open("w") as fo, err.open("w") as fe:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jainam_fsm.cli",
                "stream",
                "--base-url",
                info["base_url"],
                "--subscribe",
                "1:2885",
                "--subscribe",
                "2:35001",
                "--db",
                str(tmp_path / "t.db"),
            ],
            stdout=fo,
            stderr=fe,
            env=_env(info),
            text=True,
        )
        try:
            _wait_lines(out, 5, 20)
            control = info["control_url"]
            assert _post(f"{control}/sever")["ok"]
            before = len(out.read_text().splitlines())
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                stats = _get(f"{control}/stats")
                if stats["socket_connects"] >= 2 and len(out.read_text().splitlines()) > before + 5:
                    break
                time.sleep(0.05)
            else:
                raise AssertionError("stream did not resume after the sever")
        finally:
            proc.send_signal(signal.SIGINT)
            code = proc.wait(20)
    assert code == 0
    lines = out.read_text().splitlines()
    ticks = [json.loads(line) for line in lines]  # every stdout line is one JSON object
    for t in ticks:
        assert {"exchange_segment", "instrument_id", "message_code", "ltp"} <= t.keys()
        assert (t["exchange_segment"], t["instrument_id"]) in {(1, 2885), (2, 35001)}
    events = [json.loads(line) for line in err.read_text().splitlines()]
    names = [e["event"] for e in events]
    assert "reconnect.scheduled" in names and names.count("connection.ready") >= 2
    assert _get(f"{info['control_url']}/stats")["logins"] == 1  # the token was reused
    everything = out.read_text() + err.read_text()
    assert info["secret_key"] not in everything
    assert "token=ey" not in everything and "Authorization" not in everything


def test_stream_exits_nonzero_when_exhausted(
    simulator_proc: dict[str, Any], tmp_path: Path
) -> None:
    info = simulator_proc
    env = _env(info)
    env["JAINAM_SECRET_KEY"] = "wrong-secret-value"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "jainam_fsm.cli",
            "stream",
            "--base-url",
            info["base_url"],
            "--subscribe",
            "1:2885",
            "--db",
            str(tmp_path / "t.db"),
            "--duration",
            "20",
        ],
        capture_output=True,
        env=env,
        text=True,
        timeout=30,
        check=False,
    )
    assert res.returncode == 1
    assert "exhausted" in res.stderr and "credentials_rejected" in res.stderr
    assert res.stdout == ""
    assert "wrong-secret-value" not in res.stderr


def test_stream_config_errors_are_clear(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAINAM_")}
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "jainam_fsm.cli",
            "stream",
            "--base-url",
            "http://127.0.0.1:9",
            "--subscribe",
            "1:22",
        ],
        capture_output=True,
        env=env,
        text=True,
        timeout=30,
        check=False,
    )
    assert res.returncode == 2
    assert "JAINAM_APP_KEY" in res.stderr
    res = subprocess.run(
        [sys.executable, "-m", "jainam_fsm.cli", "stream", "--subscribe", "1-22"],
        capture_output=True,
        env=env,
        text=True,
        timeout=30,
        check=False,
    )
    assert res.returncode == 2 and "SEG:ID or SEG:ID:CODE" in res.stderr


def _stream_lines(info: dict[str, Any], tmp_path: Path, api: str, n: int) -> list[dict[str, Any]]:
    """``jainam-fsm stream --api API`` until ``n`` tick lines are out; the lines, parsed."""
    out = tmp_path / f"{api}.jsonl"
    with out.open("w") as fo:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jainam_fsm.cli",
                "stream",
                "--base-url",
                info["root_url"],  # no path: the prefix follows --api
                "--api",
                api,
                "--subscribe",
                "1:2885",
                "--db",
                str(tmp_path / f"{api}.db"),
            ],
            stdout=fo,
            stderr=subprocess.DEVNULL,
            env=_env(info),
            text=True,
        )
        try:
            lines = _wait_lines(out, n, 20)
        finally:
            proc.send_signal(signal.SIGINT)
            assert proc.wait(20) == 0
    return [json.loads(line) for line in lines[:n]]


def test_stream_api_binary_prints_the_same_lines_as_json(tmp_path: Path) -> None:
    """The binary API (against the simulator's binary flavour) prints exactly the NDJSON schema
    of the JSON API: the same fields, the same types, for the same instrument and code."""
    seen: dict[str, list[dict[str, Any]]] = {}
    for api in ("json", "binary"):
        proc, info = _start_simulator("--api", api, "--seed", "11")
        try:
            assert info["api"] == api
            seen[api] = _stream_lines(info, tmp_path, api, 6)
        finally:
            proc.send_signal(signal.SIGINT)
            assert proc.wait(15) == 0

    def shape(tick: dict[str, Any]) -> str:
        # The JSON API sends TotalValueTraded as null (as in the real captures) and the
        # binary API as a double: the one field whose presence depends on the server's data.
        fields = {k: type(v).__name__ for k, v in tick.items() if k != "total_value_traded"}
        return json.dumps(fields, sort_keys=True)

    # Live ticks (the first line may be a subscribe snapshot): one shape, the same in both.
    assert {shape(t) for t in seen["json"][1:]} == {shape(t) for t in seen["binary"][1:]}
    assert all(isinstance(t.get("total_value_traded"), float) for t in seen["binary"][1:])
    for api, ticks in seen.items():
        assert all(
            (t["exchange_segment"], t["instrument_id"], t["message_code"]) == (1, 2885, 1501)
            for t in ticks
        ), api


# -- what the stream tells: readiness, per-subscription codes, the line schema, --output, signals


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _unreachable_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAINAM_")}
    env.update(
        JAINAM_APP_KEY="app-key",
        JAINAM_SECRET_KEY="secret-key-never-shown",
        JAINAM_TOKEN_PEPPER=PEPPER,
        JAINAM_DATABASE_URL=f"sqlite:///{tmp_path / 't.db'}",
        JAINAM_BACKOFF_INITIAL="0.05",
        JAINAM_BACKOFF_MAX="0.2",
        JAINAM_BACKOFF_MAX_ATTEMPTS="100000",
    )
    return env


def test_stream_that_never_became_ready_exits_1_with_the_reason(tmp_path: Path) -> None:
    port = _closed_port()
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "jainam_fsm.cli",
            "stream",
            "--base-url",
            f"http://127.0.0.1:{port}",
            "--subscribe",
            "1:22",
            "--duration",
            "2",
        ],
        capture_output=True,
        env=_unreachable_env(tmp_path),
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 1, res.stderr[-2000:]
    last = res.stderr.splitlines()[-1]
    assert last.startswith("jainam-fsm stream: never became ready within 2 s (state "), last
    assert "last: " in last  # the reason of the last failed attempt
    assert res.stdout == ""
    assert "Traceback" not in res.stderr and "secret-key-never-shown" not in res.stderr


def test_stream_codes_per_subscription_full_schema_and_output_file(
    simulator_proc: dict[str, Any], tmp_path: Path
) -> None:
    from jainam_fsm.xts.ticks import TICK_FIELDS

    info = simulator_proc
    out = tmp_path / "ticks.jsonl"
    out.write_text('{"earlier":"line"}\n')  # --output appends
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jainam_fsm.cli",
            "stream",
            "--base-url",
            info["base_url"],
            "--subscribe",
            "1:2885",
            "--subscribe",
            "2:35001:1512",
            "--code",
            "1501",
            "--output",
            str(out),
            "--db",
            str(tmp_path / "t.db"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(info),
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            lines = out.read_text().splitlines()[1:]
            seen = {
                (t["exchange_segment"], t["instrument_id"], t["message_code"])
                for t in map(json.loads, lines)
            }
            if {(1, 2885, 1501), (2, 35001, 1512)} <= seen:
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"both codes did not arrive: {seen}")
    finally:
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr[-2000:]
    assert stdout == ""  # the ticks went to the file
    lines = out.read_text().splitlines()
    assert lines[0] == '{"earlier":"line"}'
    ticks = [json.loads(line) for line in lines[1:]]
    for tick in ticks:
        assert list(tick) == list(TICK_FIELDS)  # every key, in order, on every line
        assert (tick["exchange_segment"], tick["instrument_id"], tick["message_code"]) in {
            (1, 2885, 1501),
            (2, 35001, 1512),
        }
    assert any(t["bid"] is None for t in ticks if t["message_code"] == 1512)  # null, not absent


def _handlers_installed(pid: int) -> bool:
    """True once the process catches SIGTERM (``jainam_fsm.cli.main`` installs it first)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))


@pytest.mark.parametrize("delay", [0.0, 0.15, 0.4, 0.9])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_in_the_first_second_ends_cleanly(
    sig: signal.Signals, delay: float, tmp_path: Path
) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jainam_fsm.cli",
            "stream",
            "--base-url",
            f"http://127.0.0.1:{_closed_port()}",
            "--subscribe",
            "1:22",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_unreachable_env(tmp_path),
        text=True,
    )
    deadline = time.monotonic() + 30
    while not _handlers_installed(proc.pid):
        assert proc.poll() is None and time.monotonic() < deadline, "no handler installed"
        time.sleep(0.005)
    time.sleep(delay)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=30)
    # 130/143 while the command is still starting; 0 once `stream` handles the signal itself.
    assert proc.returncode in (0, 128 + sig), (proc.returncode, stderr[-2000:])
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert stdout == ""
    if proc.returncode == 0:
        assert "stopped by a signal before the stream became ready" in stderr.splitlines()[-1]
    else:
        assert stderr == ""
