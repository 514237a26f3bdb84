"""The instrument master cached in the token store's database (SQLite or PostgreSQL).

Tables ``jainam_instruments`` and ``jainam_instrument_fetches`` (Alembic revision 0004, run by
the store like every revision). :meth:`InstrumentCache.replace` swaps one or more segments'
rows in one transaction under the store's lock (readers see the old master or the new one,
never half); :meth:`InstrumentCache.master` loads it for offline lookups; :meth:`stale` says
which segments are older than ``max_age`` (default a day: XTS masters change daily, with new
contracts and expiries).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from jainam_fsm.instruments.master import InstrumentInfo, InstrumentMaster
from jainam_fsm.store.db import TokenStore
from jainam_fsm.store.instrument_models import fetches, instruments

__all__ = ["DEFAULT_MAX_AGE", "InstrumentCache"]

#: Age after which a segment's cached master is stale (seconds).
DEFAULT_MAX_AGE = 86_400.0
_CHUNK = 1000  # rows per INSERT: bounded statements on both backends

_COLUMNS = (
    "segment",
    "instrument_id",
    "exchange",
    "symbol",
    "name",
    "description",
    "series",
    "instrument_type",
    "lot_size",
    "tick_size",
    "expiry",
    "strike",
    "option_type",
    "line",
)


class InstrumentCache:
    """The cached master in ``store``'s database (the store owns engine, schema and locks:
    :meth:`~jainam_fsm.store.access.StoreAccess.read_connection` and
    :meth:`~jainam_fsm.store.access.StoreAccess.write_transaction`)."""

    def __init__(self, store: TokenStore, *, max_age: float = DEFAULT_MAX_AGE) -> None:
        self.store = store
        self.max_age = float(max_age)

    def __repr__(self) -> str:
        return f"InstrumentCache({self.store!r})"

    def replace(
        self,
        segments: Sequence[int],
        records: Iterable[InstrumentInfo],
        *,
        server: str,
        now: float | None = None,
    ) -> int:
        """Make ``records`` the cached master of ``segments`` (rows of other segments among
        ``records`` are ignored). Returns the number of rows written."""
        wanted = {int(s) for s in segments}
        rows = [{c: getattr(r, c) for c in _COLUMNS} for r in records if r.segment in wanted]
        # One row per key: a master that lists an instrument twice keeps the first.
        unique = list({(r["segment"], r["instrument_id"]): r for r in reversed(rows)}.values())
        unique.reverse()
        when = datetime.fromtimestamp(time.time() if now is None else now, UTC)
        with self.store.write_transaction("instrument master update", "__instruments__") as conn:
            conn.execute(sa.delete(instruments).where(instruments.c.segment.in_(wanted)))
            for i in range(0, len(unique), _CHUNK):
                conn.execute(sa.insert(instruments), unique[i : i + _CHUNK])
            conn.execute(sa.delete(fetches).where(fetches.c.segment.in_(wanted)))
            for seg in sorted(wanted):
                count = sum(1 for r in unique if r["segment"] == seg)
                conn.execute(
                    sa.insert(fetches),
                    {"segment": seg, "server": server, "fetched_at": when, "rows": count},
                )
        return len(unique)

    def fetched(self) -> dict[int, tuple[datetime, str, int]]:
        """``segment -> (fetched_at, server, rows)`` of every cached segment."""
        with self.store.read_connection("instrument master read") as conn:
            result = conn.execute(sa.select(fetches)).all()
        return {r.segment: (r.fetched_at, r.server, r.rows) for r in result}

    def stale(self, segments: Sequence[int], *, now: float | None = None) -> list[int]:
        """The segments of ``segments`` never fetched or fetched more than ``max_age`` ago."""
        current = time.time() if now is None else now
        known = self.fetched()
        out = []
        for seg in segments:
            entry = known.get(int(seg))
            if entry is None or current - entry[0].timestamp() > self.max_age:
                out.append(int(seg))
        return out

    def master(self, segments: Sequence[int] | None = None) -> InstrumentMaster:
        """The cached master (of ``segments`` only, if given) in memory."""
        query = sa.select(*(instruments.c[c] for c in _COLUMNS))
        if segments is not None:
            query = query.where(instruments.c.segment.in_([int(s) for s in segments]))
        with self.store.read_connection("instrument master read") as conn:
            result = conn.execute(
                query.order_by(instruments.c.segment, instruments.c.instrument_id)
            )
            records = [InstrumentInfo(**dict(row._mapping)) for row in result]
        return InstrumentMaster(records)

    def get(self, segment: int, instrument_id: int) -> InstrumentInfo | None:
        """One cached instrument, or None."""
        query = sa.select(*(instruments.c[c] for c in _COLUMNS)).where(
            instruments.c.segment == int(segment),
            instruments.c.instrument_id == int(instrument_id),
        )
        with self.store.read_connection("instrument master read") as conn:
            row = conn.execute(query).first()
        return InstrumentInfo(**dict(row._mapping)) if row is not None else None
