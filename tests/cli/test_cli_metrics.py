# ruff: noqa: F811  (fixtures are imported, then requested by name)
"""Monitoring: ``jainam-fsm stream --metrics-port`` serves /metrics and /healthz while it streams
(real HTTP on 127.0.0.1, scraped from a real stream against the real simulator), and the
collector an embedded user registers in their own registry."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from jainam_fsm.metrics import AdapterCollector, serve
from tests.cli.test_cli_stream import _env, _post, simulator_proc  # noqa: F401  (fixture)
from tests.test_adapter_support import A, Harness, harness, wait_for  # noqa: F401  (fixture)


def _scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        assert resp.status == 200
        text = resp.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _health(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _serving_port(err: Path, timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in err.read_text().splitlines() if err.exists() else []:
            event = json.loads(line)
            if event.get("event") == "metrics.serving":
                return int(event["port"])
        time.sleep(0.05)
    raise AssertionError("no metrics.serving event")


def _poll(fn: Any, what: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


FEED = (("feed", "default"),)


def test_stream_serves_metrics_and_healthz(simulator_proc: dict[str, Any], tmp_path: Path) -> None:
    info = simulator_proc
    out, err = tmp_path / "out.jsonl", tmp_path / "err.jsonl"
    env = _env(info)
    env["JAINAM_BACKOFF_MAX_ATTEMPTS"] = "1000"
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
                "2:35001:1502",
                "--db",
                str(tmp_path / "t.db"),
                "--metrics-port",
                "0",
            ],
            stdout=fo,
            stderr=fe,
            env=env,
            text=True,
        )
        try:
            port = _serving_port(err)
            base = f"http://127.0.0.1:{port}"
            _poll(lambda: _health(f"{base}/healthz") == 200, "healthz 200")

            def ticked() -> dict[Any, float] | None:
                m = _scrape(f"{base}/metrics")
                codes = {
                    dict(labels).get("code")
                    for (name, labels), v in m.items()
                    if name == "jainam_ticks_total" and v > 0
                }
                age = m[("jainam_last_tick_age_seconds", FEED)]  # NaN until a live tick
                return m if {"1501", "1502"} <= codes and age == age else None

            m = _poll(ticked, "live ticks of both codes in /metrics")
            assert m[("jainam_ready", FEED)] == 1
            assert m[("jainam_lifecycle_state", (("feed", "default"), ("state", "connected")))] == 1
            assert m[("jainam_lifecycle_state", (("feed", "default"), ("state", "idle")))] == 0
            assert m[("jainam_logins_total", FEED)] == 1
            assert m[("jainam_subscriptions", FEED)] == 2
            assert m[("jainam_replays_total", FEED)] >= 1
            assert m[("jainam_last_replay_seconds", FEED)] >= 0
            assert 0 <= m[("jainam_last_tick_age_seconds", FEED)] < 60
            assert ("jainam_ticks_dropped_total", FEED) in m
            assert ("jainam_stalls_total", FEED) in m
            assert ("jainam_queue_depth", FEED) in m
            # the server goes away: not ready (503), reconnects counted; back: ready again
            assert _post(f"{info['control_url']}/down?seconds=3")["ok"]  # back by itself
            _poll(lambda: _health(f"{base}/healthz") == 503, "healthz 503 while down")
            _poll(
                lambda: _scrape(f"{base}/metrics")[("jainam_reconnects_total", FEED)] >= 1,
                "a reconnect counted",
            )
            _poll(lambda: _health(f"{base}/healthz") == 200, "healthz 200 again", timeout=30)
            assert _health(f"{base}/nothing") == 404
        finally:
            proc.send_signal(signal.SIGINT)
            code = proc.wait(20)
    assert code == 0
    everything = out.read_text() + err.read_text()
    assert info["secret_key"] not in everything


def test_collector_in_an_embedding_registry(harness: Harness) -> None:
    adapter = harness.adapter()
    registry = CollectorRegistry()
    registry.register(AdapterCollector(adapter, name="nse"))  # no stats() read here
    idle = generate_latest(registry).decode()
    assert 'jainam_lifecycle_state{feed="nse",state="idle"} 1.0' in idle
    adapter.subscribe(*A)
    adapter.connect()
    assert adapter.wait_ready(10)
    wait_for(
        lambda: 'jainam_ticks_total{code="1501",feed="nse"}' in generate_latest(registry).decode(),
        what="ticks in the scrape",
    )
    server = serve(adapter, 0)
    try:
        scraped = _scrape(f"http://127.0.0.1:{server.port}/metrics")
        assert scraped[("jainam_ready", FEED)] == 1
        assert _health(f"http://127.0.0.1:{server.port}/healthz") == 200
        adapter.shutdown()
        assert _health(f"http://127.0.0.1:{server.port}/healthz") == 503
    finally:
        server.close()
