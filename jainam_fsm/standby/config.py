"""Hot-standby settings and the leadership group of a stream.

The timing argument behind the defaults is in ``docs/operations.md`` (high availability):
the leader stops publishing ``fence_timeout`` after the *sending* of its last successful
heartbeat; PostgreSQL ends that session (and frees the lock) no earlier than
``fence_timeout + server_margin`` after that heartbeat *finished* on the server. Since a
heartbeat is sent before it finishes, the leader has always stopped before a follower can
hold the lock.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from jainam_fsm.errors import ConfigError

__all__ = ["StandbyConfig", "group_of", "libpq_url"]

_PG_SCHEME = re.compile(r"^postgres(?:ql)?(?:\+\w+)?://", re.IGNORECASE)


def libpq_url(url: str) -> str:
    """A PostgreSQL URL as libpq takes it (``postgresql+psycopg://`` -> ``postgresql://``)."""
    if not isinstance(url, str) or not _PG_SCHEME.match(url.strip()):
        # Never echo the value: it may carry a password.
        raise ConfigError("standby needs a PostgreSQL URL (postgresql://user@host:port/db)")
    return _PG_SCHEME.sub("postgresql://", url.strip(), count=1)


def group_of(base_url: str, app_key: str) -> tuple[int, str]:
    """The advisory-lock key (signed 64 bit) and its public name (16 hex digits) of the
    leadership group (server root, app key): XTS holds one market-data session per app key,
    so one process per pair may stream. The app key itself never leaves the process."""
    digest = hashlib.blake2b(
        f"jainam-fsm standby|{base_url.rstrip('/')}|{app_key}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big", signed=True), digest.hex()


@dataclass(frozen=True, slots=True)
class StandbyConfig:
    """How a process competes for and keeps leadership (all times in seconds).

    :param url: the PostgreSQL database that arbitrates (usually the token store's).
    :param heartbeat: interval of the leader's ``SELECT 1`` on its lock connection.
    :param fence_timeout: the leader stops publishing this long after sending its last
        heartbeat that succeeded (its lease), and steps down.
    :param server_margin: PostgreSQL ends a silent leader's session after
        ``fence_timeout + server_margin`` (``idle_session_timeout`` and friends, set on the
        lock connection): strictly after the leader fenced itself.
    :param poll: interval of a follower's ``pg_try_advisory_lock``.
    :param connect_timeout: bound on opening the lock connection.
    :param report_every: a follower's ``standby.waiting`` event repeats this often.
    """

    url: str
    heartbeat: float = 0.5
    fence_timeout: float = 2.5
    server_margin: float = 1.0
    poll: float = 0.25
    connect_timeout: float = 2.0
    report_every: float = 30.0

    def __post_init__(self) -> None:
        libpq_url(self.url)
        for name in ("heartbeat", "fence_timeout", "server_margin", "poll", "connect_timeout"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not value > 0:
                raise ConfigError(f"standby {name} must be a number > 0")
        if not self.heartbeat * 2 <= self.fence_timeout:
            raise ConfigError("standby heartbeat must be at most half of fence_timeout")
        if not self.report_every > 0:
            raise ConfigError("standby report_every must be > 0")

    @property
    def server_timeout(self) -> float:
        """When PostgreSQL ends a silent lock session (``idle_session_timeout`` etc.)."""
        return self.fence_timeout + self.server_margin

    def __repr__(self) -> str:
        # The URL may carry a password: never shown.
        return (
            f"StandbyConfig(heartbeat={self.heartbeat}, fence_timeout={self.fence_timeout}, "
            f"server_margin={self.server_margin}, poll={self.poll})"
        )
