"""What the simulator sent, per ``(segment, instrument, code)``: so tests can compare exact values.

A tick is recorded once per emission step and key, whatever the number of sockets it went to:
the record answers "which values did the server publish", not "how many frames". Memory is
bounded: the newest ``cap`` ticks are kept per key (counts are kept for all). Opaque packets
(codes without a public layout) and corrupt packets are counted, not kept.
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Any

from jainam_fsm.xts.ticks import Tick

__all__ = ["EmittedKey", "EmittedLog"]

#: ``(exchange_segment, instrument_id, message_code)``
EmittedKey = tuple[int, int, int]


class EmittedLog:
    """Bounded record of emitted ticks, opaque packets and corrupt packets."""

    __slots__ = ("_cap", "_corrupt", "_counts", "_opaque", "_ticks")

    def __init__(self, cap: int) -> None:
        if cap < 0:
            raise ValueError("cap must be >= 0")
        self._cap = cap
        self._ticks: dict[EmittedKey, deque[Tick]] = {}
        self._counts: Counter[EmittedKey] = Counter()
        self._opaque: Counter[tuple[int, int]] = Counter()
        self._corrupt: Counter[str] = Counter()

    @property
    def cap(self) -> int:
        """Ticks remembered per key."""
        return self._cap

    def record(self, tick: Tick) -> None:
        """One tick was published (hot path: one dict lookup and an append)."""
        key = (tick.exchange_segment, tick.instrument_id, tick.message_code)
        self._counts[key] += 1
        if self._cap:
            kept = self._ticks.get(key)
            if kept is None:
                kept = self._ticks[key] = deque(maxlen=self._cap)
            kept.append(tick)

    def record_opaque(self, code: int, size: int) -> None:
        """One packet without a public layout (counted per ``(code, payload size)``)."""
        self._opaque[(code, size)] += 1

    def record_corrupt(self, kind: str) -> None:
        """One deliberately corrupt packet of ``kind`` was sent."""
        self._corrupt[kind] += 1

    def ticks(self, key: EmittedKey | None = None) -> list[Tick]:
        """Remembered ticks of ``key`` in emission order (all keys, grouped, when ``None``)."""
        if key is not None:
            return list(self._ticks.get(key, ()))
        return [t for kept in self._ticks.values() for t in kept]

    def counts(self) -> dict[EmittedKey, int]:
        """Ticks published per key (not bounded by the cap)."""
        return dict(self._counts)

    def opaque_counts(self) -> dict[tuple[int, int], int]:
        """Opaque packets per ``(code, payload size)``."""
        return dict(self._opaque)

    def corrupt_counts(self) -> dict[str, int]:
        """Corrupt packets per kind."""
        return dict(self._corrupt)

    def clear(self) -> None:
        """Forget everything (counts included)."""
        self._ticks.clear()
        self._counts.clear()
        self._opaque.clear()
        self._corrupt.clear()

    def summary(self) -> dict[str, Any]:
        """JSON shape for ``/_sim/emitted``: counts by ``"seg:id:code"`` plus opaque/corrupt."""
        return {
            "cap": self._cap,
            "counts": {f"{s}:{i}:{c}": n for (s, i, c), n in sorted(self._counts.items())},
            "opaque": {f"{c}:{z}": n for (c, z), n in sorted(self._opaque.items())},
            "corrupt": dict(sorted(self._corrupt.items())),
        }
