"""The durable desired set: what the leader wants, with its consumers, in PostgreSQL.

A separate small schema, not a revision of the token store's Alembic chain: the table exists
only where a standby runs (PostgreSQL), while the token store may be SQLite on a single host;
and it is a copy of the leader's registry that a leader rewrites whole, so it needs no
migrations of its own data (a new layout gets a new table name). Only the lock holder writes,
on its lock connection: a write that succeeds proves the writer still leads.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from jainam_fsm.core.ports import SubKey

__all__ = ["TABLE", "DesiredRow", "ensure_table", "load", "rows_of", "save"]

TABLE = "jainam_standby_desired_v1"  # spelled out in the SQL below (no string building)
#: A fixed advisory key serialising ``CREATE TABLE IF NOT EXISTS`` across groups (two groups
#: creating it at once would otherwise collide on the catalogue's unique index).
_DDL_LOCK = 0x6A61_696E_616D_0001

_DDL = """
CREATE TABLE IF NOT EXISTS jainam_standby_desired_v1 (
    grp text NOT NULL,
    exchange_segment integer NOT NULL,
    instrument_id bigint NOT NULL,
    code integer NOT NULL,
    consumer text NOT NULL,
    wants integer NOT NULL CHECK (wants > 0),
    PRIMARY KEY (grp, exchange_segment, instrument_id, code, consumer)
)
"""


@dataclass(frozen=True, slots=True)
class DesiredRow:
    """One consumer's wants of one subscription."""

    segment: int
    instrument_id: int
    code: int
    consumer: str
    wants: int


def consumer_text(consumer: Hashable) -> str:
    """How a consumer is stored: a string as itself, anything else by ``repr`` (a new leader
    restores every consumer as the stored string; name consumers with strings to keep them
    equal across a takeover)."""
    return consumer if isinstance(consumer, str) else repr(consumer)


def rows_of(counts: dict[SubKey, dict[Hashable, int]]) -> list[DesiredRow]:
    """The rows of a registry's :meth:`~SubscriptionRegistry.consumer_counts`."""
    merged: dict[tuple[int, int, int, str], int] = {}
    for (seg, iid, code), consumers in counts.items():
        for consumer, n in consumers.items():
            key = (seg, iid, code, consumer_text(consumer))
            merged[key] = merged.get(key, 0) + n
    return [DesiredRow(*key, wants=n) for key, n in sorted(merged.items()) if n > 0]


def ensure_table(conn: Any) -> None:
    """Create the table if missing (psycopg connection in autocommit mode)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
        conn.execute(_DDL)


def load(conn: Any, group: str) -> list[DesiredRow]:
    """The stored desired set of ``group`` (empty when no leader wrote one)."""
    cur = conn.execute(
        "SELECT exchange_segment, instrument_id, code, consumer, wants "
        "FROM jainam_standby_desired_v1 "
        "WHERE grp = %s ORDER BY 1, 2, 3, 4",
        (group,),
    )
    return [DesiredRow(int(a), int(b), int(c), str(d), int(e)) for a, b, c, d, e in cur]


def save(conn: Any, group: str, rows: Iterable[DesiredRow]) -> None:
    """Replace the stored desired set of ``group`` with ``rows``, in one transaction."""
    rows = list(rows)
    with conn.transaction():
        conn.execute("DELETE FROM jainam_standby_desired_v1 WHERE grp = %s", (group,))
        if rows:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO jainam_standby_desired_v1 (grp, exchange_segment, instrument_id, "
                    "code, consumer, wants) VALUES (%s, %s, %s, %s, %s, %s)",
                    [
                        (group, r.segment, r.instrument_id, r.code, r.consumer, r.wants)
                        for r in rows
                    ],
                )
