"""The documentation site builds with ``--strict``: broken links or anchors, a link from docs/ to
a repository file that does not exist, or a docstring mkdocstrings cannot match to its signature
fail here (and in ``.ci/run``), not only when the site is published."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason="the docs extra is not installed (bash .ci/setup)")
    pytest.importorskip("mkdocstrings_handlers.python")
    res = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )
    warnings = [line for line in res.stderr.splitlines() if "WARNING" in line]
    assert res.returncode == 0, "\n".join(warnings) or res.stderr[-3000:]
    assert (tmp_path / "api" / "streaming" / "index.html").is_file()
    home = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert 'href="architecture/"' in home  # README's docs/architecture.md, rewritten for the site
