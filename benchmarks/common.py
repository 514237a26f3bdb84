"""Shared pieces of the benchmarks: the simulator process, its control API, machine facts.

The simulator always runs in a process of its own (``python -m jainam_fsm.simulator``, or the
instrumented :mod:`benchmarks.simhost` for latency), so the consumer being measured has its
CPU time to itself and ``time.process_time`` in the consumer counts the consumer only.
"""

from __future__ import annotations

import json
import math
import os
import platform
import select
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
#: A throwaway pepper for the benchmark's temporary token store (not a secret of anything).
PEPPER = "benchmark-pepper-0123456789abcdef-0123456789"
EVENT = "1501-json-full"
#: Instruments the benchmarks subscribe: NSECM ids from here up (any id gets a price walk).
FIRST_ID = 10_000


def instruments(n: int, segment: int = 1, first: int = FIRST_ID) -> list[tuple[int, int]]:
    """``n`` distinct ``(segment, id)`` pairs."""
    return [(segment, first + i) for i in range(n)]


@dataclass
class SimInfo:
    """What the simulator printed on its first line."""

    base_url: str
    root_url: str
    socketio_path: str
    control_url: str
    app_key: str
    secret_key: str
    user_id: str

    @property
    def port(self) -> int:
        return int(self.root_url.rsplit(":", 1)[1].split("/")[0])

    def as_args(self) -> list[str]:
        """The ``--sim`` argument of a consumer child (JSON)."""
        return ["--sim", json.dumps(self.__dict__)]

    @classmethod
    def from_json(cls, text: str) -> SimInfo:
        data = json.loads(text)
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


class SimProcess:
    """A simulator in a child process; a context manager that always stops it."""

    def __init__(self, argv: Sequence[str], timeout: float = 20.0) -> None:
        self.argv = list(argv)
        self.timeout = timeout
        self.proc: subprocess.Popen[str] | None = None
        self.info: SimInfo | None = None

    @classmethod
    def cli(cls, *, rate: float, limit: int, extra: Sequence[str] = ()) -> SimProcess:
        """``python -m jainam_fsm.simulator --port 0 --rate R --subscription-limit L``."""
        argv = [PYTHON, "-m", "jainam_fsm.simulator", "--port", "0", "--rate", str(rate)]
        argv += ["--subscription-limit", str(limit), *extra]
        return cls(argv)

    def __enter__(self) -> SimProcess:
        self.proc = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"simulator did not start: {self.argv}")
            ready, _, _ = select.select([self.proc.stdout], [], [], min(left, 0.5))
            if ready:
                line = self.proc.stdout.readline()
                if line.startswith("{"):
                    self.info = SimInfo.from_json(line)
                    return self

    def command(self, line: str, timeout: float = 30.0) -> str:
        """Send one stdin command (simhost only) and return its one-line answer."""
        assert self.proc is not None and self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise RuntimeError(f"simulator host did not answer {line!r}")
        return self.proc.stdout.readline().strip()

    def control(self, action: str, **params: object) -> dict[str, Any]:
        """POST (or GET for ``stats``) on the ``/_sim`` control API."""
        assert self.info is not None
        return control(self.info, action, **params)

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
        self.proc = None

    def __exit__(self, *exc: object) -> None:
        self.stop()


def control(info: SimInfo, action: str, **params: object) -> dict[str, Any]:
    """One request on the simulator's ``/_sim`` control API (JSON body)."""
    url = f"{info.control_url}/{action}"
    if action == "stats":
        req = urllib.request.Request(url, method="GET")
    else:
        body = json.dumps(params).encode()
        req = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
    with urllib.request.urlopen(req, timeout=30) as resp:  # loopback, our own simulator
        data: dict[str, Any] = json.loads(resp.read())
        return data


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a TCP connect to ``host:port`` succeeds now."""
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def run_child(args: Sequence[str], timeout: float = 120.0) -> dict[str, Any]:
    """Run ``python -m <args>`` from the repo root; its last stdout line is a JSON result."""
    proc = subprocess.run(
        [PYTHON, "-m", *args],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = "\n".join(proc.stderr.splitlines()[-15:])
        raise RuntimeError(f"child {args[:2]} failed (rc {proc.returncode}):\n{tail}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# -- statistics ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty sequence."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


# -- machine ------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str:
    """HEAD, plus ``+dirty`` when the library's sources differ from it (work in progress)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "jainam_fsm"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def machine_info() -> dict[str, Any]:
    """CPU model, cores, load, OS, Python and the versions of the packages on the hot path."""
    packages = {}
    for name in (
        "jainam-fsm",
        "python-socketio",
        "python-engineio",
        "aiohttp",
        "websocket-client",
        "simple-websocket",
        "requests",
        "transitions",
        "SQLAlchemy",
    ):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = "not installed"
    try:
        load = os.getloadavg()
    except OSError:
        load = (math.nan, math.nan, math.nan)
    return {
        "commit": _git_commit(),
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "load_avg_at_start": [round(x, 2) for x in load],
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": packages,
    }
