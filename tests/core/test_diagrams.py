from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jainam_fsm import diagrams
from jainam_fsm.cli import main
from jainam_fsm.core.machine import State

REPO = Path(__file__).resolve().parents[2]
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz not installed")


@needs_dot
def test_committed_diagrams_are_up_to_date() -> None:
    assert diagrams.check(REPO / "diagrams") == []


@needs_dot
def test_check_fails_on_a_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagram", "--dir", str(tmp_path)]) == 0
    assert main(["diagram", "--check", "--dir", str(tmp_path)]) == 0
    dot = tmp_path / "lifecycle.dot"
    dot.write_text(dot.read_text().replace("give_up", "gave_up"))
    assert main(["diagram", "--check", "--dir", str(tmp_path)]) == 1
    assert "lifecycle.dot" in capsys.readouterr().err
    (tmp_path / "lifecycle.svg").unlink()
    assert main(["diagram", "--check", "--dir", str(tmp_path)]) == 1


def test_output_is_deterministic_and_uncoloured() -> None:
    assert diagrams.mermaid() == diagrams.mermaid()
    assert diagrams.dot() == diagrams.dot()
    for text in (diagrams.mermaid(), diagrams.dot()):
        assert "darksalmon" not in text and "s_active" not in text
        assert "shut_down --> shut_down" not in text and "shut_down -> shut_down" not in text
        for state in State:
            assert state.value in text
    assert diagrams.mermaid().startswith("---\ntitle: ")


@needs_dot
def test_svg_shows_the_six_states() -> None:
    svg = (REPO / "diagrams" / "lifecycle.svg").read_text()
    for state in State:
        assert f"<title>{state.value}</title>" in svg


@needs_dot
def test_console_script_check_exit_code(tmp_path: Path) -> None:
    code = subprocess.run(
        [sys.executable, "-m", "jainam_fsm.cli", "diagram", "--check", "--dir", str(tmp_path)],
        capture_output=True,
        check=False,
    ).returncode
    assert code == 1
