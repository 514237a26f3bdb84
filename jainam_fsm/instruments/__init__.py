"""Names and modes: the instrument master (cached in the token store's database), symbol
lookup, subscription modes, and REST quotes/OHLC (:class:`MarketDataClient`).

Importing this package loads no socket or database code until a name is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "Mode": "jainam_fsm.instruments.modes",
    "MODE_CODES": "jainam_fsm.instruments.modes",
    "code_for": "jainam_fsm.instruments.modes",
    "parse_mode": "jainam_fsm.instruments.modes",
    "InstrumentInfo": "jainam_fsm.instruments.master",
    "InstrumentMaster": "jainam_fsm.instruments.master",
    "UnknownInstrument": "jainam_fsm.instruments.master",
    "InstrumentCache": "jainam_fsm.instruments.cache",
    "MarketDataClient": "jainam_fsm.instruments.client",
    "OhlcBar": "jainam_fsm.transport.rest_data",
}

__all__ = [
    "MODE_CODES",
    "InstrumentCache",
    "InstrumentInfo",
    "InstrumentMaster",
    "MarketDataClient",
    "Mode",
    "OhlcBar",
    "UnknownInstrument",
    "code_for",
    "parse_mode",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from jainam_fsm.instruments.cache import InstrumentCache
    from jainam_fsm.instruments.client import MarketDataClient
    from jainam_fsm.instruments.master import InstrumentInfo, InstrumentMaster, UnknownInstrument
    from jainam_fsm.instruments.modes import MODE_CODES, Mode, code_for, parse_mode
    from jainam_fsm.transport.rest_data import OhlcBar
