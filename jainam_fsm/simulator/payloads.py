"""The one place where the simulator turns a :class:`Tick` into wire text: the codec's encoder.

Kept as a seam so the emission loop does not care how payloads are made (and a test can swap
in a stub).
"""

from __future__ import annotations

from jainam_fsm.xts.encode import encode_full, encode_listquote, encode_partial
from jainam_fsm.xts.ticks import Tick

__all__ = ["render_full", "render_partial", "render_snapshot"]


def render_full(tick: Tick) -> str:
    """The ``<code>-json-full`` payload (JSON text) for ``tick``: nested Touchline shape."""
    return encode_full(tick)


def render_partial(tick: Tick, previous: Tick | None) -> str:
    """The ``<code>-json-partial`` payload; complete when ``previous`` is ``None``."""
    return encode_partial(tick, previous)


def render_snapshot(tick: Tick) -> str:
    """One ``listQuotes`` entry (subscribe and quotes responses)."""
    return encode_listquote(tick)
