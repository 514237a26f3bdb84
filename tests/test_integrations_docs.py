"""docs/embedding.md runs as written: its example (Jainam Prop preset) against
``jainam-fsm simulator --port 0 --api binary --eio 3``,
and its topic parser on the topics we publish."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "embedding.md"


def block_after(marker: str) -> str:
    """The first ```python block after the HTML comment containing ``marker``."""
    text = DOC.read_text(encoding="utf-8")
    at = text.index(marker)
    found = re.compile(r"```python\n(.*?)```", re.S).search(text, at)
    assert found is not None, f"no python block after {marker!r}"
    return found.group(1)


@pytest.fixture
def simulator_process() -> Iterator[dict[str, str]]:
    """``jainam-fsm simulator --port 0`` as a user starts it; yields its JSON line."""
    exe = Path(sys.executable).with_name("jainam-fsm")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "jainam_fsm.cli"]
    proc = subprocess.Popen(
        [*cmd, "simulator", "--port", "0", "--rate", "10", "--api", "binary", "--eio", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else "simulator printed nothing"
        yield json.loads(line)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_example_runs_as_written(simulator_process: dict[str, str], tmp_path: Path) -> None:
    info = simulator_process
    script = tmp_path / "example.py"
    script.write_text(block_after("runnable example"), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAINAM_", "ZMQ_"))}
    env.update(
        {
            "JAINAM_BROKER": "jainam-prop",  # as the document says
            "JAINAM_BASE_URL": info["base_url"],
            "JAINAM_APP_KEY": info["app_key"],
            "JAINAM_SECRET_KEY": info["secret_key"],
            "JAINAM_TOKEN_PEPPER": "docs-example-pepper-0123456789abcdef",
            "JAINAM_DATABASE_URL": f"sqlite:///{tmp_path / 'tokens.db'}",
        }
    )
    for run in (1, 2):  # the second run reuses the stored token
        done = subprocess.run(
            [sys.executable, str(script)],
            check=False,
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        out = done.stdout
        assert "'status': 'success'" in out and "'is_fallback': True" in out
        assert "'code': 'SYMBOL_NOT_FOUND'" in out
        assert "NSE_RELIANCE_LTP" in out and "NSE_INDEX_NIFTY_DEPTH" in out, out
        assert "Unsubscribed from NSE:RELIANCE (LTP)" in out
        assert info["secret_key"] not in out + done.stderr, f"secret leaked in run {run}"
    with urllib.request.urlopen(info["control_url"] + "/stats", timeout=10) as resp:
        assert json.loads(resp.read())["logins"] == 1  # as the doc promises


def test_topic_parser_in_the_docs() -> None:
    namespace: dict[str, object] = {}
    exec(block_after("topic parser"), namespace)  # the documented snippet, as written
    parse = namespace["parse_topic"]
    assert callable(parse)
    assert parse("NSE_RELIANCE_LTP") == ("NSE", "RELIANCE", "LTP")
    assert parse("NSE_INDEX_NIFTY_DEPTH") == ("NSE_INDEX", "NIFTY", "DEPTH")
    assert parse("NFO_NIFTY29DEC26FUT_QUOTE") == ("NFO", "NIFTY29DEC26FUT", "QUOTE")
    assert parse("BSE_INDEX_SENSEX_LTP") == ("BSE_INDEX", "SENSEX", "LTP")
    assert parse("NSE_M_M_LTP") == ("NSE", "M_M", "LTP")
