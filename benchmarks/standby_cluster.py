"""Real processes for the hot standby: a simulator, ``jainam-fsm stream --standby`` processes
on a fresh PostgreSQL database, and a TCP proxy whose link can be cut without a word (a
network partition: no FIN, no RST, bytes just stop).

Used by ``tests/test_standby_processes.py`` (a few scenarios) and by
``python -m benchmarks.standby`` (the takeover distribution over many kills).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

PG_HOST = os.environ.get("JAINAM_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("JAINAM_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("JAINAM_TEST_PG_USER", "postgres")
PG_ADMIN_DB = os.environ.get("JAINAM_TEST_PG_DB", "test")
PEPPER = "standby-test-pepper-" + "s" * 32
SUBSCRIPTIONS = ("1:2885", "2:35001", "1:22:1512")
#: what the simulator's session must hold after any takeover
EXPECTED = {"1501": [[1, 2885], [2, 35001]], "1512": [[1, 22]]}


def _admin() -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=PG_HOST,
        port=PG_PORT,
        user=PG_USER,
        dbname=PG_ADMIN_DB,
        autocommit=True,
        connect_timeout=5,
    )


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """A uniquely named database, dropped afterwards; yields its name."""
    name = f"jfsm_standby_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        for _ in range(20):  # the server may be restarting (the opt-in restart scenario)
            try:
                with _admin() as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                break
            except psycopg.OperationalError:
                time.sleep(0.5)


def pg_url(dbname: str, port: int = PG_PORT) -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{port}/{dbname}"


class CutProxy:
    """A TCP proxy on 127.0.0.1; :meth:`cut` blackholes every link (open, silent)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._cut = threading.Event()
        self._stop = threading.Event()
        self._socks: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def cut(self) -> None:
        """From now on nothing passes, in either direction, on any link (old or new)."""
        self._cut.set()

    def heal(self) -> None:
        """Drop the cut links (RST) and pass new ones again."""
        for s in list(self._socks):
            with contextlib.suppress(OSError):
                s.close()
        self._socks.clear()
        self._cut.clear()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        self.heal()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._socks.append(client)
            if self._cut.is_set():
                continue  # accepted and then silence: what a partition looks like
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            self._socks.append(upstream)
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([a, b], [], [], 0.2)
                if self._cut.is_set():
                    time.sleep(0.2)
                    continue
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    peers[s].sendall(data)
        except (OSError, ValueError):  # a socket closed by heal()/close()
            return


@dataclass
class Streamer:
    """One ``jainam-fsm stream --standby`` process with its output and telemetry files."""

    name: str
    proc: subprocess.Popen[bytes]
    out: Path
    err: Path

    def lines(self) -> int:
        return len(self.out.read_bytes().splitlines()) if self.out.exists() else 0

    def events(self, name: str) -> list[dict[str, Any]]:
        found = []
        for line in self.err.read_text(errors="replace").splitlines():
            if f'"{name}"' in line:
                with contextlib.suppress(ValueError):
                    rec = json.loads(line)
                    if rec.get("event") == name:
                        found.append(rec)
        return found

    def leading(self) -> bool:
        """Its latest leadership event says it leads."""
        last = None
        for line in self.err.read_text(errors="replace").splitlines():
            for name in ('"standby.leading"', '"standby.fenced"', '"standby.released"'):
                if name in line:
                    last = name
        return last == '"standby.leading"'

    def alive(self) -> bool:
        return self.proc.poll() is None


@dataclass
class Cluster:
    """A simulator, a database, and the stream processes started on them."""

    workdir: Path
    dbname: str
    sim: subprocess.Popen[str]
    info: dict[str, Any]
    streamers: list[Streamer] = field(default_factory=list)
    proxies: list[CutProxy] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            JAINAM_APP_KEY=self.info["app_key"],
            JAINAM_SECRET_KEY=self.info["secret_key"],
            JAINAM_TOKEN_PEPPER=PEPPER,
            JAINAM_BACKOFF_INITIAL="0.1",
            JAINAM_BACKOFF_MAX="0.5",
        )
        return env

    def proxy(self) -> CutProxy:
        p = CutProxy((PG_HOST, PG_PORT))
        self.proxies.append(p)
        return p

    def spawn(
        self, name: str, *, standby_port: int = PG_PORT, extra: tuple[str, ...] = ()
    ) -> Streamer:
        out, err = self.workdir / f"{name}.jsonl", self.workdir / f"{name}.err"
        subs = [a for s in SUBSCRIPTIONS for a in ("--subscribe", s)]
        cmd = [
            sys.executable,
            "-m",
            "jainam_fsm.cli",
            "stream",
            "--base-url",
            self.info["base_url"],
            *subs,
            "--db",
            pg_url(self.dbname),
            "--standby",
            pg_url(self.dbname, standby_port),
            "--output",
            str(out),
            *extra,
        ]
        with err.open("wb") as fe:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=fe, env=self.env())
        s = Streamer(name, proc, out, err)
        self.streamers.append(s)
        return s

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.info['control_url']}/stats", timeout=5) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]

    def logins(self) -> int:
        return int(self.stats()["logins"])

    def server_subscriptions(self) -> list[dict[str, Any]]:
        return [
            {code: sorted(insts) for code, insts in s["subscriptions"].items()}
            for s in self.stats()["sessions"]
        ]

    def leader(self, timeout: float = 30.0) -> Streamer:
        """The one live process writing ticks (waits for it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leading = [s for s in self.streamers if s.alive() and s.leading() and s.lines() > 0]
            if len(leading) == 1:
                return leading[0]
            time.sleep(0.05)
        raise AssertionError("no single leader writing ticks")

    def stop_all(self) -> None:
        for s in self.streamers:
            if s.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(s.proc.pid, signal.SIGCONT)
                    s.proc.send_signal(signal.SIGINT)
        for s in self.streamers:
            try:
                s.proc.wait(15)
            except subprocess.TimeoutExpired:
                s.proc.kill()
                s.proc.wait(5)
        for p in self.proxies:
            p.close()


@contextlib.contextmanager
def cluster(workdir: Path, *, rate: int = 20) -> Iterator[Cluster]:
    """A simulator process and a fresh database; every process stopped afterwards."""
    with fresh_database() as dbname:
        sim = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jainam_fsm.cli",
                "simulator",
                "--port",
                "0",
                "--rate",
                str(rate),
                "--ping-interval",
                "1",
                "--ping-timeout",
                "2",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert sim.stdout is not None
        info = json.loads(sim.stdout.readline())
        c = Cluster(workdir, dbname, sim, info)
        try:
            yield c
        finally:
            c.stop_all()
            sim.send_signal(signal.SIGINT)
            try:
                sim.wait(15)
            except subprocess.TimeoutExpired:
                sim.kill()
                sim.wait(5)


def wait_first_line(s: Streamer, timeout: float) -> float:
    """Monotonic time when ``s`` first has a tick line (polled every 10 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if s.out.exists() and s.out.stat().st_size > 0:
            return time.monotonic()
        time.sleep(0.01)
    raise AssertionError(f"{s.name} wrote no tick within {timeout} s")


def wait_for(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")
