"""The one place where the simulator turns a :class:`Tick` into wire text.

INTERIM: until the codec's ``jainam_fsm.xts.encode`` lands, a minimal stand-in renders the
touchline fields only. Switch :func:`render_full` / :func:`render_partial` to the codec then.
"""

from __future__ import annotations

import json

from jainam_fsm.xts.ticks import Tick

__all__ = ["render_full", "render_partial"]


def render_full(tick: Tick) -> str:
    """The ``<code>-json-full`` payload (a JSON text) for ``tick``."""
    return json.dumps(
        {
            "MessageCode": tick.message_code,
            "ExchangeSegment": tick.exchange_segment,
            "ExchangeInstrumentID": tick.instrument_id,
            "LastTradedPrice": tick.ltp,
        },
        separators=(",", ":"),
    )


def render_partial(tick: Tick, previous: Tick | None) -> str:
    """The ``<code>-json-partial`` payload; complete when ``previous`` is ``None``."""
    parts = [f"t:{tick.exchange_segment}_{tick.instrument_id}"]
    if tick.ltp is not None and (previous is None or previous.ltp != tick.ltp):
        parts.append(f"ltp:{tick.ltp}")
    return ",".join(parts)
