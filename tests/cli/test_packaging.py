"""The package is lean and honest: optional tools are extras, and their absence is one clear line."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=~!; ]", r, maxsplit=1)[0].lower() for r in requirements}


def _cli_without(module: str, *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a fresh interpreter in which ``module`` cannot be imported."""
    code = (
        f"import sys; sys.modules[{module!r}] = None\n"
        "from jainam_fsm.cli import main\n"
        f"raise SystemExit(main({list(argv)!r}))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )


def test_runtime_dependencies_leave_out_the_demo_and_diagram_tools() -> None:
    runtime = _names(PROJECT["dependencies"])
    assert not runtime & {"rich", "graphviz"}
    extras = PROJECT["optional-dependencies"]
    assert "rich" in _names(extras["demo"])
    assert "graphviz" in _names(extras["dev"])
    assert {"mkdocs-material", "mkdocstrings"} <= _names(extras["docs"])


def test_ci_setup_installs_the_extras_the_readme_commands_use() -> None:
    setup = (ROOT / ".ci" / "setup").read_text()
    extras = re.search(r'-e "\.\[([a-z,]+)\]"', setup)
    assert extras is not None
    assert {"demo", "test", "dev", "docs"} <= set(extras.group(1).split(","))


def test_license_file_is_mit_and_declared() -> None:
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert PROJECT["license"] == "MIT"
    assert PROJECT["license-files"] == ["LICENSE"]


def test_cli_works_without_rich_and_demo_says_how_to_install_it(tmp_path: Path) -> None:
    help_ = _cli_without("rich", "--help", cwd=tmp_path)
    assert help_.returncode == 0, help_.stderr
    assert "demo" in help_.stdout and "stream" in help_.stdout

    res = _cli_without("rich", "demo", "--duration", "20", cwd=tmp_path)
    assert res.returncode == 2
    assert res.stdout == ""
    assert res.stderr.splitlines() == [
        "jainam-fsm demo needs rich for its live view: pip install 'jainam-fsm[demo]'"
    ]


def test_diagram_without_graphviz_bindings_says_how_to_install_them(tmp_path: Path) -> None:
    res = _cli_without("graphviz", "diagram", "--dir", str(tmp_path / "d"), cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.splitlines() == [
        "jainam-fsm diagram: the Graphviz Python bindings are not installed: "
        "pip install 'jainam-fsm[dev]'"
    ]
    assert not (tmp_path / "d").exists()  # nothing half-written


def _package_index_readme() -> str:
    """The long description as configured for hatch-fancy-pypi-readme (fragments, substitutions)."""
    conf = PYPROJECT["tool"]["hatch"]["metadata"]["hooks"]["fancy-pypi-readme"]
    parts = []
    for fragment in conf["fragments"]:
        if "text" in fragment:
            parts.append(fragment["text"])
        else:
            text = (ROOT / fragment["path"]).read_text()
            marker = fragment["start-after"]
            assert marker in text, marker
            parts.append(text.split(marker, 1)[1])
    out = "".join(parts)
    for sub in conf["substitutions"]:
        out = re.sub(sub["pattern"], sub["replacement"], out)
    return out


def test_package_index_description_has_only_absolute_links() -> None:
    text = _package_index_readme()
    links = re.findall(r"\]\(([^)]+)\)", text)
    assert links, "the README links to its documentation"
    assert all(link.startswith("https://") for link in links), links
    assert "https://jainam-fsm.github.io/jainam-fsm/architecture/" in links
    assert ".venv/bin/" not in text  # the repository-only commands stay out


def test_repository_never_reads_or_cites_a_folder_beside_it() -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the tracked files are unknown")
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
    ).stdout.decode()
    files = [ROOT / name for name in listed.split("\0") if name]
    assert files
    beside = "shared"  # spelled apart so this file does not match itself
    pattern = re.compile(rf"\.\./{beside}\b|\b{beside}/(notes|fixtures)\b")
    hits = []
    for path in files:
        if not path.is_file():
            continue  # deleted in the work tree, not yet committed
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        hits += [
            f"{path.relative_to(ROOT)}:{n}"
            for n, line in enumerate(text.splitlines(), 1)
            if pattern.search(line)
        ]
    assert hits == []


def test_diagram_without_the_dot_program_says_how_to_install_it(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "jainam_fsm.cli", "diagram", "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={"PATH": str(tmp_path), "PYTHONPATH": str(ROOT)},  # no `dot` on this PATH
        check=False,
    )
    assert res.returncode == 2
    assert res.stderr.splitlines() == [
        "jainam-fsm diagram: the Graphviz 'dot' program is not installed: apt-get install graphviz"
    ]


def test_metrics_is_an_extra_and_its_absence_is_one_line(tmp_path: Path) -> None:
    assert "prometheus_client" in _names(PROJECT["optional-dependencies"]["metrics"])
    assert "prometheus_client" not in _names(PROJECT["dependencies"])
    res = _cli_without(
        "prometheus_client", "stream", "--subscribe", "1:22", "--metrics-port", "0", cwd=tmp_path
    )
    assert res.returncode == 2
    assert res.stdout == ""
    assert res.stderr.splitlines() == [
        "jainam-fsm stream: --metrics-port needs prometheus_client: "
        "pip install 'jainam-fsm[metrics]'"
    ]
