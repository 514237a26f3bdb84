"""The README's embedding example runs as written (against the simulator)."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from jainam_fsm.simulator import SimulatorThread
from tests.conftest import TEST_CONFIG

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_starts_with_the_two_commands() -> None:
    text = README.read_text()
    first = re.search(r"```bash\n(.*?)```", text, re.S)
    assert first is not None
    lines = first.group(1).strip().splitlines()
    assert lines == [
        "bash .ci/setup && .venv/bin/jainam-fsm demo",
        "bash .ci/setup && .venv/bin/python -m pytest",
    ]
    ci = [line.strip() for line in (README.parent / ".ci" / "run").read_text().splitlines()]
    assert lines[1] in ci  # CI runs the README's test command, as a command of its own ...
    clone = next(i for i, line in enumerate(ci) if line.startswith("git clone"))
    enter = next(i for i, line in enumerate(ci) if i > clone and line.startswith("cd "))
    assert clone < enter < ci.index(lines[1])  # ... inside a fresh clone, not in place
    assert any("mktemp -d" in line for line in ci[:clone])  # placed in a new temporary folder


def test_quick_start_example_runs(tmp_path: Path) -> None:
    """The README snippet as written, with only JAINAM_BASE_URL, JAINAM_APP_KEY and
    JAINAM_SECRET_KEY set."""
    code = re.search(r"## Quick start: embedding\n\n```python\n(.*?)```", README.read_text(), re.S)
    assert code is not None
    home = tmp_path / "home"
    home.mkdir()
    # The quick start uses the Jainam Prop preset: the simulator serves what that server does
    # (the binary API over Engine.IO 3), at its root URL as a user would write it.
    with SimulatorThread(replace(TEST_CONFIG, api="binary", eio=3)) as sim:
        creds = sim.credentials
        env = {
            "JAINAM_BASE_URL": sim.root_url,
            "JAINAM_APP_KEY": creds.app_key,
            "JAINAM_SECRET_KEY": creds.secret_key,
            # nothing else: the default store makes its database and key file in the
            # per-user data folder and says where, once
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "PATH": "/usr/bin:/bin",
        }
        res = subprocess.run(
            [
                sys.executable,
                "-c",
                "import logging\nlogging.basicConfig(level=logging.INFO)\n" + code.group(1),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
    assert res.returncode == 0, res.stderr[-2000:]
    rows = [line.split() for line in res.stdout.splitlines() if line.strip()]
    assert rows and all(r[:2] == ["1", "2885"] for r in rows)
    data = home / ".local" / "share" / "jainam-fsm"
    key = data / "tokens.db.key"
    assert (data / "tokens.db").exists() and key.stat().st_mode & 0o777 == 0o600
    said = [line for line in res.stderr.splitlines() if "token store: database" in line]
    assert len(said) == 1 and str(key) in said[0] and key.read_text().strip() not in res.stderr
