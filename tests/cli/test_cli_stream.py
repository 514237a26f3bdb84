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
    assert res.returncode == 2 and "SEGMENT:INSTRUMENT_ID" in res.stderr


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
