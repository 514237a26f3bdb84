"""`jainam-fsm instruments`, `quote`, `ohlc` and `stream --subscribe NAME[:MODE]` as a user runs
them: real processes against the simulator (both API flavours), a real SQLite store; one login
serves every command (the stored token is reused); secrets never printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from jainam_fsm.simulator import SimulatorThread
from tests.conftest import TEST_CONFIG
from tests.test_store_support import PEPPER


@pytest.fixture(params=["json", "binary"])
def sim(request: pytest.FixtureRequest) -> Iterator[SimulatorThread]:
    with SimulatorThread(replace(TEST_CONFIG, api=request.param)) as s:
        yield s


def _env(sim: SimulatorThread, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAINAM_")}
    env.update(
        JAINAM_BASE_URL=sim.base_url,
        JAINAM_APP_KEY=sim.credentials.app_key,
        JAINAM_SECRET_KEY=sim.credentials.secret_key,
        JAINAM_DATABASE_URL=f"sqlite:///{tmp / 'tokens.db'}",
        JAINAM_TOKEN_PEPPER=PEPPER,
    )
    return env


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jainam_fsm.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_instruments_quote_ohlc_and_named_stream(sim: SimulatorThread, tmp_path: Path) -> None:
    env = _env(sim, tmp_path)
    secret = sim.credentials.secret_key
    everything = []

    res = _run(env, "instruments", "download")
    everything.append(res.stdout + res.stderr)
    assert res.returncode == 0, res.stderr
    assert {(r["segment"], r["name"]) for r in _lines(res.stdout)} == {
        (1, "NSECM"),
        (2, "NSEFO"),
        (11, "BSECM"),
    }

    res = _run(env, "instruments", "search", "RELI")
    everything.append(res.stdout + res.stderr)
    assert [r["name"] for r in _lines(res.stdout)] == ["NSE:RELIANCE", "BSE:RELIANCE"]

    res = _run(env, "instruments", "show", "1:2885")
    assert _lines(res.stdout)[0]["symbol"] == "RELIANCE"
    res = _run(env, "instruments", "show", "NSE:RELIANC")
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        "jainam-fsm instruments: UnknownInstrument: unknown instrument 'NSE:RELIANC'; "
        "close matches: NSE:RELIANCE"
    ]

    res = _run(env, "quote", "NSE:RELIANCE", "1:1594", "--mode", "ltp")
    everything.append(res.stdout + res.stderr)
    assert res.returncode == 0, res.stderr
    quotes = _lines(res.stdout)
    assert [(q["instrument_id"], q["symbol"]) for q in quotes] == [
        (2885, "NSE:RELIANCE"),
        (1594, "NSE:INFY"),
    ]
    assert all(q["ltp"] is not None for q in quotes)

    res = _run(
        env, "ohlc", "NSE:RELIANCE", "--from", "2026-12-01T09:15", "--to", "2026-12-01T09:45",
        "--compression", "300",
    )  # fmt: skip
    everything.append(res.stdout + res.stderr)
    assert res.returncode == 0, res.stderr
    bars = _lines(res.stdout)
    assert [b["time"] for b in bars] == [
        f"2026-12-01T09:{m:02d}:00+05:30" for m in (15, 20, 25, 30, 35, 40)
    ]

    out = tmp_path / "ticks.jsonl"
    res = _run(
        env, "stream", "--subscribe", "NSE:RELIANCE:DEPTH", "--subscribe", "1:22",
        "--duration", "4", "--output", str(out), "--log-level", "WARNING",
    )  # fmt: skip
    everything.append(res.stdout + res.stderr)
    assert res.returncode == 0, res.stderr
    ticks = _lines(out.read_text())
    named = {(t["instrument_id"], t["message_code"], t["symbol"]) for t in ticks}
    assert (2885, 1502, "NSE:RELIANCE") in named
    assert (22, 1501, "NSE:ACC") in named  # numeric, named from the master

    res = _run(env, "stream", "--subscribe", "NSE:RELIANC", "--duration", "1")
    assert res.returncode == 1
    assert res.stderr.strip().splitlines()[-1].endswith("close matches: NSE:RELIANCE")

    assert sim.stats()["logins"] == 1  # every command reused the stored token
    assert not any(secret in text for text in everything)


def test_bad_subscribe_and_segment_values_are_usage_errors(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAINAM_")}
    res = _run(env, "stream", "--subscribe", "NSE:RELIANCE:FASTEST")
    assert res.returncode == 2 and "unknown mode 'FASTEST'" in res.stderr
    res = _run(env, "instruments", "download", "--segment", "XYZ")
    assert res.returncode == 2 and "unknown segment 'XYZ'" in res.stderr
    res = _run(env, "ohlc", "NSE:RELIANCE", "--from", "yesterday")
    assert res.returncode == 2 and "expected an ISO time" in res.stderr
