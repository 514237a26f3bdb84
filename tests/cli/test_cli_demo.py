"""`jainam-fsm demo`: the README's main job, end to end, on both market-data APIs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("extra", "api"),
    [([], "binary"), (["--api", "json"], "json")],
    ids=["default-jainam-prop-binary", "json"],
)
def test_demo_runs_and_every_check_passes(extra: list[str], api: str) -> None:
    """By default the Jainam Prop preset (binary API over Engine.IO 3); ``--api json`` on
    request. Every check passes in both."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAINAM_")}
    res = subprocess.run(
        [sys.executable, "-m", "jainam_fsm.cli", "demo", "--duration", "20", "--plain", *extra],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "all checks passed" in res.stdout
    assert "FAIL" not in res.stdout
    for check in (
        "sever",
        "stalled feed",
        "token invalidation",
        "outage",
        "no ghost ticks",
        f"{api} API decoded",
        "Engine.IO 3 heartbeat held",
        "no leaked",
    ):
        assert check in res.stdout
    assert "token=ey" not in res.stdout + res.stderr
