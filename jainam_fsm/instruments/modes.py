"""Subscription modes by name (:class:`Mode`) and the XTS message code each one asks for.

The codes are the ``xtsMessageCode`` values of the client configuration (docs/xts-protocol.md
§5, [XAC]): touchline 1501, market depth 1502, index 1504, candle 1505, open interest 1510,
LTP 1512. One difference between the API flavours: the binary API has no public 1512 layout
(docs/xts-protocol.md, binary chapter, 1512 NOT FOUND), so an LTP want is a 1501 subscription
there; the adapter then delivers the touchline ticks, which carry the LTP.
"""

from __future__ import annotations

import enum

__all__ = ["MODE_CODES", "Mode", "code_for", "parse_mode"]


class Mode(enum.Enum):
    """What a subscription asks for. Familiar names: KiteTicker's ``MODE_LTP``/``MODE_QUOTE``/
    ``MODE_FULL`` are :attr:`LTP`/:attr:`QUOTE`/:attr:`DEPTH` here."""

    LTP = "ltp"
    QUOTE = "quote"
    DEPTH = "depth"
    OPEN_INTEREST = "open_interest"
    CANDLE = "candle"
    INDEX = "index"


#: ``Mode -> {api flavour: message code}``.
MODE_CODES: dict[Mode, dict[str, int]] = {
    Mode.LTP: {"json": 1512, "binary": 1501},
    Mode.QUOTE: {"json": 1501, "binary": 1501},
    Mode.DEPTH: {"json": 1502, "binary": 1502},
    Mode.OPEN_INTEREST: {"json": 1510, "binary": 1510},
    Mode.CANDLE: {"json": 1505, "binary": 1505},
    Mode.INDEX: {"json": 1504, "binary": 1504},
}

_ALIASES = {"FULL": Mode.DEPTH, "OI": Mode.OPEN_INTEREST, "TOUCHLINE": Mode.QUOTE}


def code_for(mode: Mode | str | int, api: str = "json") -> int:
    """The message code of ``mode`` on the ``api`` flavour (``"json"`` or ``"binary"``; any
    other value, such as ``"auto"`` before the flavour is known, counts as JSON). An ``int`` is
    taken as a message code already and returned unchanged."""
    if isinstance(mode, bool):
        raise ValueError("a mode is a Mode, its name or a message code, not a bool")
    if isinstance(mode, int):
        return int(mode)
    codes = MODE_CODES[parse_mode(mode)]
    return codes.get(api, codes["json"])


def parse_mode(value: Mode | str) -> Mode:
    """A :class:`Mode` from itself or its name (any case; ``FULL``, ``OI`` and ``TOUCHLINE``
    are accepted too). Raises ``ValueError`` naming the choices."""
    if isinstance(value, Mode):
        return value
    key = str(value).strip().upper().replace("-", "_")
    if key in Mode.__members__:
        return Mode[key]
    if key in _ALIASES:
        return _ALIASES[key]
    choices = ", ".join(Mode.__members__)
    raise ValueError(f"unknown mode {str(value)[:40]!r}; choose one of {choices}")
