"""docs/quickstart.md: its KiteTicker-style script (names, modes, callbacks) runs as written
against ``jainam-fsm simulator`` (a separate process, as a user would start it), after
``jainam-fsm instruments download`` cached the master."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.cli.test_cli_stream import _start_simulator

QUICKSTART = Path(__file__).resolve().parents[2] / "docs" / "quickstart.md"


def test_quickstart_script_runs_against_the_simulator(tmp_path: Path) -> None:
    text = QUICKSTART.read_text()
    code = re.search(r"## A KiteTicker-style script\n.*?```python\n(.*?)```", text, re.S)
    assert code is not None
    script = tmp_path / "quickstart.py"
    script.write_text(code.group(1))
    proc, info = _start_simulator()
    try:
        home = tmp_path / "home"
        home.mkdir()
        env = {
            "JAINAM_BASE_URL": info["base_url"],
            "JAINAM_APP_KEY": info["app_key"],
            "JAINAM_SECRET_KEY": info["secret_key"],
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        }
        download = subprocess.run(
            [sys.executable, "-m", "jainam_fsm.cli", "instruments", "download"],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            cwd=tmp_path,
            check=False,
        )
        assert download.returncode == 0, download.stderr
        res = subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            cwd=tmp_path,
            check=False,
        )
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(15)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "connected"
    ticks = [line for line in lines if re.fullmatch(r"\S+ \[\d+\] ltp=\S+", line)]
    assert len(ticks) >= 20
    assert {t.split(" ")[0] for t in ticks} <= {"NSE:RELIANCE", "NSE:INFY", "NSE:TCS"}
    for name, code in (("NSE:RELIANCE", 1501), ("NSE:INFY", 1501), ("NSE:TCS", 1502)):
        assert f"{name} [{code}]" in res.stdout  # names, and the modes' codes
    assert lines[-1] == "closed: shutdown() called"
    assert info["secret_key"] not in res.stdout + res.stderr
