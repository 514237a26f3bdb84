"""The package's public API, and the promise that the core imports no I/O module."""

from __future__ import annotations

import subprocess
import sys

import jainam_fsm


def test_every_exported_name_resolves() -> None:
    for name in jainam_fsm.__all__:
        assert getattr(jainam_fsm, name) is not None, name


def test_importing_the_core_pulls_in_no_io_module() -> None:
    code = (
        "import sys, jainam_fsm.core.lifecycle, jainam_fsm.core.registry, jainam_fsm.core.backoff;"
        "bad = [m for m in ('socket', 'ssl', 'aiohttp', 'socketio', 'engineio', 'sqlalchemy',"
        " 'psycopg', 'sqlite3', 'http.client', 'urllib.request') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
