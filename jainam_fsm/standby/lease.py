"""Leadership through a PostgreSQL session-level advisory lock, with a self-fencing lease.

Two threads per process (both daemon, both joined by :meth:`Leadership.stop`):

* ``jainam-standby`` owns the dedicated lock connection: as a follower it polls
  ``pg_try_advisory_lock`` every ``poll`` s; as the leader it sends ``SELECT 1`` every
  ``heartbeat`` s and writes the desired set when it changed. Each heartbeat that succeeds
  extends the lease to (its *sending* time + ``fence_timeout``).
* ``jainam-standby-fence`` ends leadership the moment the lease runs out, even while the lock
  thread is stuck in a call on a dead network (it shuts that socket down to unstick it).

:meth:`Leadership.leading` is the gate of the publishing path: a comparison of the lease with
the monotonic clock, so a process resumed after ``SIGSTOP`` publishes nothing stale even
before any thread of it has noticed. PostgreSQL is the only arbiter; nothing here votes.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from jainam_fsm.core.ports import TelemetrySink, emit_safely
from jainam_fsm.standby import desired
from jainam_fsm.standby.config import StandbyConfig, libpq_url
from jainam_fsm.standby.desired import DesiredRow

__all__ = ["Leadership"]

log = logging.getLogger("jainam_fsm.standby")


def _brief(exc: BaseException) -> str:
    # psycopg messages name host and user at most, never a password; keep them short.
    text = " ".join(str(exc).split())[:160]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Leadership:
    """Competes for the lock of one group; calls back when leadership starts and ends.

    :param on_acquired: ``on_acquired(rows)`` on the lock thread when this process became the
        leader, with the stored desired set (possibly empty).
    :param on_lost: ``on_lost(reason)`` once per leadership when it ends (lease expired,
        database connection lost, stop); after it, :meth:`leading` is already False.
    :param snapshot: the rows to store when :meth:`mark_dirty` was called (None: skip).
    """

    def __init__(
        self,
        config: StandbyConfig,
        *,
        key: int,
        group: str,
        telemetry: TelemetrySink,
        on_acquired: Callable[[list[DesiredRow]], None],
        on_lost: Callable[[str], None],
        snapshot: Callable[[], list[DesiredRow] | None],
    ) -> None:
        self.config = config
        self.key = key
        self.group = group
        self._telemetry = telemetry
        self._on_acquired = on_acquired
        self._on_lost = on_lost
        self._snapshot = snapshot
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._dirty = threading.Event()
        self._conn: Any = None
        #: monotonic end of the current lease; 0.0 when not leading
        self._valid_until = 0.0
        #: the leadership in force (a counter), None while following
        self._epoch: int | None = None
        self._epochs = 0
        self.takeovers = 0
        self.fences = 0
        self.role = "follower"
        self.waiting_since: float | None = None
        self._threads = [
            threading.Thread(target=self._run, name="jainam-standby", daemon=True),
            threading.Thread(target=self._watch, name="jainam-standby-fence", daemon=True),
        ]
        self._started = False
        self._frozen = False

    # ------------------------------------------------------------------ public

    def start(self) -> None:
        """Start competing (idempotent)."""
        with self._lock:
            if self._started:
                return
            self._started = True
        for t in self._threads:
            t.start()

    def leading(self) -> bool:
        """True while this process holds a lease that has not run out (the publishing gate)."""
        return time.monotonic() < self._valid_until

    def mark_dirty(self) -> None:
        """The desired set changed: the leader stores it with its next heartbeat."""
        self._dirty.set()

    def freeze(self) -> None:
        """Stop publishing and storing now (a clean shutdown has begun); keep the lock until
        :meth:`stop`, so nobody leads while this process still closes its socket."""
        self._frozen = True  # before the lease goes: the watcher must not call it a fence
        self._valid_until = 0.0
        self._snapshot = lambda: None

    def stop(self, timeout: float = 5.0) -> None:
        """Give up leadership (the lock goes with the connection) and join the threads."""
        self._stop.set()
        self._end("stopped", epoch=None, level=logging.INFO)
        self._unstick()
        if self._started:
            for t in self._threads:
                if t is not threading.current_thread():
                    t.join(timeout)

    def stats(self) -> dict[str, object]:
        """Role and counts for ``StreamingAdapter.stats()``."""
        return {
            "standby_role": self.role,
            "standby_group": self.group,
            "standby_takeovers": self.takeovers,
            "standby_fences": self.fences,
        }

    # ------------------------------------------------------------------ lock thread

    def _run(self) -> None:
        backoff = self.config.poll
        unreachable_at = -float("inf")
        while not self._stop.is_set():
            try:
                conn = self._connect()
            except Exception as exc:
                now = time.monotonic()
                if now - unreachable_at >= self.config.report_every:  # once per period
                    unreachable_at = now
                    self._emit("standby.unreachable", logging.WARNING, error=_brief(exc))
                self._stop.wait(min(backoff, 2.0))
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = self.config.poll
            unreachable_at = -float("inf")
            try:
                self._follow_then_lead(conn)
            except Exception as exc:
                self._end(f"database connection lost: {_brief(exc)}", epoch=self._epoch)
                if not self._stop.is_set():
                    self._emit("standby.connection_lost", logging.WARNING, error=_brief(exc))
            finally:
                with self._lock:
                    self._conn = None
                try:
                    conn.close()
                except Exception as exc:  # a dead socket: nothing left to release
                    log.debug("standby close: %s", type(exc).__name__)
            self._stop.wait(self.config.poll)

    def _connect(self) -> Any:
        import psycopg

        cfg = self.config
        server_ms = int(cfg.server_timeout * 1000)
        conn = psycopg.connect(
            libpq_url(cfg.url),
            autocommit=True,
            connect_timeout=max(1, round(cfg.connect_timeout)),
            application_name=f"jainam-fsm standby {socket.gethostname()}:{os.getpid()}"[:63],
            # Client side: a dead server is noticed by the kernel within ~3 s.
            keepalives=1,
            keepalives_idle=1,
            keepalives_interval=1,
            keepalives_count=2,
            tcp_user_timeout=server_ms,
        )
        try:
            # Server side (all user-settable): a silent session ends at server_timeout; idle is
            # the state between heartbeats, so a frozen or cut-off leader ends this way.
            for name, value in (
                ("idle_session_timeout", f"{server_ms}ms"),
                ("idle_in_transaction_session_timeout", f"{server_ms}ms"),
                ("statement_timeout", f"{int(cfg.fence_timeout * 1000)}ms"),
                ("tcp_keepalives_idle", "1"),
                ("tcp_keepalives_interval", "1"),
                ("tcp_keepalives_count", "2"),
                ("tcp_user_timeout", str(server_ms)),
            ):
                conn.execute(f"SET {name} = '{value}'")
        except Exception:
            conn.close()
            raise
        with self._lock:
            self._conn = conn
        return conn

    def _follow_then_lead(self, conn: Any) -> None:
        cfg = self.config
        last_report = 0.0
        if self.waiting_since is None:
            self.waiting_since = time.monotonic()
        while not self._stop.is_set():
            sent = time.monotonic()
            got = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()[0]
            if got:
                self._lead(conn, sent)
                return
            now = time.monotonic()
            if now - last_report >= cfg.report_every:
                last_report = now
                self._emit(
                    "standby.waiting",
                    logging.INFO,
                    waited=round(now - self.waiting_since, 3),
                    leader=self._holder(conn),
                )
            self._stop.wait(cfg.poll)

    def _holder(self, conn: Any) -> str | None:
        """The leader's ``application_name`` (host:pid), for the waiting report."""
        try:
            row = conn.execute(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
                "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                "AND l.classid = %s AND l.objid = %s AND l.objsubid = 1",
                ((self.key >> 32) & 0xFFFFFFFF, self.key & 0xFFFFFFFF),
            ).fetchone()
        except Exception as exc:
            log.debug("standby holder: %s", type(exc).__name__)
            return None
        return str(row[0]) if row else None

    def _lead(self, conn: Any, sent: float) -> None:
        cfg = self.config
        with self._lock:
            self._epochs += 1
            epoch = self._epoch = self._epochs
            self._valid_until = sent + cfg.fence_timeout
            self.role = "leader"
            self.takeovers += 1
        waited = time.monotonic() - (self.waiting_since or sent)
        self.waiting_since = None
        desired.ensure_table(conn)
        rows = desired.load(conn, self.group)
        self._emit(
            "standby.leading", logging.WARNING, waited=round(waited, 3), subscriptions=len(rows)
        )
        self._on_acquired(rows)
        while not self._stop.is_set() and self._epoch == epoch:
            sent = time.monotonic()
            if self._dirty.is_set():
                self._dirty.clear()
                snap = self._snapshot()
                if snap is not None:
                    try:
                        desired.save(conn, self.group, snap)
                    except Exception:
                        self._dirty.set()
                        raise
            conn.execute("SELECT 1")
            with self._lock:
                if self._epoch == epoch and self._valid_until > 0:
                    self._valid_until = max(self._valid_until, sent + cfg.fence_timeout)
            self._pause(conn, cfg.heartbeat)
        if self._epoch == epoch:  # stopped while leading
            self._end("stopped", epoch=epoch, level=logging.INFO)

    def _pause(self, conn: Any, seconds: float) -> None:
        """Wait for the next heartbeat, waking early when the server speaks: between
        heartbeats it says nothing unless it ends the session (a restart, an administrator's
        ``pg_terminate_backend``), and then the next heartbeat fails at once and fences."""
        try:
            select.select([conn.fileno()], [], [], seconds)
        except (OSError, ValueError):  # the socket is gone: the heartbeat will say so
            return

    # ------------------------------------------------------------------ fencing

    def _watch(self) -> None:
        while not self._stop.is_set():
            epoch = self._epoch
            if epoch is None or self._frozen:  # following, or a clean stop under way
                self._stop.wait(self.config.heartbeat)
                continue
            remaining = self._valid_until - time.monotonic()
            if remaining > 0:
                self._stop.wait(remaining)
                continue
            if self._end("lease expired: no heartbeat answered in time", epoch=epoch):
                self._unstick()

    def _end(self, reason: str, *, epoch: int | None, level: int = logging.WARNING) -> bool:
        """End leadership ``epoch`` (None: whichever is in force) once; True if it ended."""
        with self._lock:
            if self._epoch is None or (epoch is not None and epoch != self._epoch):
                return False
            self._epoch = None
            self._valid_until = 0.0
            self.role = "follower"
            if level >= logging.WARNING:
                self.fences += 1
        self._emit(
            "standby.fenced" if level >= logging.WARNING else "standby.released",
            level,
            reason=reason,
        )
        try:
            self._on_lost(reason)
        except Exception as exc:
            log.error("standby on_lost failed: %s", type(exc).__name__)
        return True

    def _unstick(self) -> None:
        """Shut the lock connection's socket down: a call blocked on a dead network returns
        now (the connection is closed and reopened by the lock thread)."""
        with self._lock:
            conn = self._conn
        if conn is None:
            return
        try:
            fd = os.dup(conn.fileno())
        except Exception:
            return
        try:
            with socket.socket(fileno=fd) as sock:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError as exc:
            log.debug("standby unstick: %s", type(exc).__name__)

    def _emit(self, event: str, level: int, **fields: object) -> None:
        fields.setdefault("group", self.group)
        emit_safely(self._telemetry, event, level, fields)
