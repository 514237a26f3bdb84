"""The broker-adapter contract an OpenAlgo-style WebSocket proxy calls, with its envelopes.

A proxy drives every broker the same way (``docs/openalgo.md`` §1)::

    adapter = AdapterClass()
    adapter.initialize(broker_name, user_id, auth_data=None)   # None -> tokens from our store
    adapter.connect()
    adapter.subscribe(symbol, exchange, mode=2, depth_level=5)   # -> envelope dict
    adapter.unsubscribe(symbol, exchange, mode=2)                # -> envelope dict
    adapter.disconnect()

Lifecycle calls (``initialize``, ``connect``, ``disconnect``) return ``None`` when they
succeeded and an error envelope otherwise; ``subscribe``/``unsubscribe`` always return an
envelope. Nothing here raises for bad input: a bad argument is an error envelope.

Envelopes::

    {"status": "success", "message": ..., "symbol": ..., "exchange": ..., "mode": 1|2|3,
     "requested_depth": int, "actual_depth": int, "is_fallback": bool}
    {"status": "error", "code": "INVALID_MODE", "message": ...}
"""

from __future__ import annotations

import enum
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jainam_fsm.integrations.symbols import SymbolResolver

__all__ = [
    "DEPTH_LEVELS",
    "EXCHANGE_SEGMENTS",
    "SEGMENT_EXCHANGES",
    "BaseBrokerAdapter",
    "ErrorCode",
    "Mode",
    "check_request",
    "error_response",
    "normalize_exchange",
    "normalize_mode",
    "resolve_request",
    "success_response",
]

log = logging.getLogger("jainam_fsm.integrations")


class Mode(enum.IntEnum):
    """Subscription modes of the platform, with their XTS message codes and topic labels."""

    LTP = 1
    QUOTE = 2
    DEPTH = 3

    @property
    def xts_code(self) -> int:
        """The XTS message code: LTP 1512, Quote 1501 (touchline), Depth 1502."""
        return _XTS_CODES[self]

    @property
    def label(self) -> str:
        """The last segment of a ZeroMQ topic: ``LTP``, ``QUOTE`` or ``DEPTH``."""
        return self.name

    @classmethod
    def from_xts_code(cls, code: int) -> Mode | None:
        """The mode whose XTS message code is ``code`` (None for codes we do not publish)."""
        return _BY_CODE.get(code)


_XTS_CODES = {Mode.LTP: 1512, Mode.QUOTE: 1501, Mode.DEPTH: 1502}
_BY_CODE = {code: mode for mode, code in _XTS_CODES.items()}

#: Platform exchange -> XTS exchange segment. Indices stream on their cash segment.
EXCHANGE_SEGMENTS: Mapping[str, int] = {
    "NSE": 1,  # NSECM
    "NFO": 2,  # NSEFO
    "CDS": 3,  # NSECD
    "BSE": 11,  # BSECM
    "BFO": 12,  # BSEFO
    "MCX": 51,  # MCXFO
    "NSE_INDEX": 1,
    "BSE_INDEX": 11,
}

#: XTS segment name (as in the instrument master) -> segment number.
SEGMENT_NUMBERS: Mapping[str, int] = {
    "NSECM": 1,
    "NSEFO": 2,
    "NSECD": 3,
    "BSECM": 11,
    "BSEFO": 12,
    "MCXFO": 51,
}

#: XTS segment number -> the platform exchange of a tradable instrument on it.
SEGMENT_EXCHANGES: Mapping[int, str] = {
    1: "NSE",
    2: "NFO",
    3: "CDS",
    11: "BSE",
    12: "BFO",
    51: "MCX",
}

#: Order-book levels XTS serves (1502 carries five a side).
DEPTH_LEVELS = 5


class ErrorCode(enum.StrEnum):
    """The ``code`` of an error envelope."""

    NOT_INITIALIZED = "NOT_INITIALIZED"
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    INVALID_MODE = "INVALID_MODE"
    INVALID_EXCHANGE = "INVALID_EXCHANGE"
    INVALID_SYMBOL = "INVALID_SYMBOL"
    SYMBOL_NOT_FOUND = "SYMBOL_NOT_FOUND"
    INVALID_DEPTH = "INVALID_DEPTH"
    NOT_SUBSCRIBED = "NOT_SUBSCRIBED"
    CONFIG_ERROR = "CONFIG_ERROR"
    AUTH_ERROR = "AUTH_ERROR"
    CONNECTION_ERROR = "CONNECTION_ERROR"
    ZMQ_ERROR = "ZMQ_ERROR"
    INTERNAL_ERROR = "INTERNAL_ERROR"


def success_response(message: str, **fields: Any) -> dict[str, Any]:
    """``{"status": "success", "message": message, **fields}``."""
    return {"status": "success", "message": message, **fields}


def error_response(code: str, message: str) -> dict[str, Any]:
    """``{"status": "error", "code": code, "message": message}``."""
    return {"status": "error", "code": str(code), "message": message}


@dataclass(frozen=True)
class Rejected:
    """A validation failure, turned into an error envelope by the caller."""

    code: ErrorCode
    message: str

    def envelope(self) -> dict[str, Any]:
        return error_response(self.code, self.message)


_MODE_ALIASES = {"LTP": Mode.LTP, "QUOTE": Mode.QUOTE, "DEPTH": Mode.DEPTH}


def normalize_mode(mode: object) -> Mode | Rejected:
    """``1/2/3`` or ``"LTP"/"Quote"/"Depth"`` (any case) as a :class:`Mode`.

    A bool, another number or another word is rejected: never a silent default.
    """
    if isinstance(mode, bool):
        return Rejected(ErrorCode.INVALID_MODE, f"mode must be 1, 2 or 3, got {mode!r}")
    if isinstance(mode, int):
        try:
            return Mode(mode)
        except ValueError:
            pass
    elif isinstance(mode, str):
        text = mode.strip()
        if text.isdigit():
            return normalize_mode(int(text))
        found = _MODE_ALIASES.get(text.upper())
        if found is not None:
            return found
    return Rejected(
        ErrorCode.INVALID_MODE, f"mode must be 1 (LTP), 2 (Quote) or 3 (Depth), got {mode!r}"
    )


def normalize_exchange(exchange: object) -> str | Rejected:
    """The canonical (upper-case) platform exchange, or a rejection naming the known ones."""
    if isinstance(exchange, str):
        name = exchange.strip().upper()
        if name in EXCHANGE_SEGMENTS:
            return name
    known = ", ".join(EXCHANGE_SEGMENTS)
    return Rejected(ErrorCode.INVALID_EXCHANGE, f"unknown exchange {exchange!r} (known: {known})")


def normalize_symbol(symbol: object) -> str | Rejected:
    """The symbol with surrounding blanks removed; empty or non-text is rejected."""
    if isinstance(symbol, str) and symbol.strip():
        return symbol.strip()
    return Rejected(ErrorCode.INVALID_SYMBOL, f"symbol must be a non-empty string, got {symbol!r}")


def check_depth(depth_level: object, mode: Mode) -> tuple[int, bool] | Rejected:
    """``(actual_depth, is_fallback)`` for a requested depth.

    The depth must be a whole number >= 1 in every mode. In Depth mode XTS serves
    :data:`DEPTH_LEVELS` (5) levels: asking for more is served as 5 and flagged as a
    fallback; asking for fewer still gets 5. In LTP/Quote modes there is no book, and the
    requested value is echoed back (as OpenAlgo's XTS adapters do).
    """
    if isinstance(depth_level, bool) or not isinstance(depth_level, int) or depth_level < 1:
        return Rejected(
            ErrorCode.INVALID_DEPTH, f"depth_level must be a whole number >= 1, got {depth_level!r}"
        )
    if mode is not Mode.DEPTH:
        return depth_level, False
    return DEPTH_LEVELS, depth_level > DEPTH_LEVELS


def check_request(
    symbol: object, exchange: object, mode: object
) -> tuple[str, str, Mode] | Rejected:
    """``(symbol, exchange, mode)`` normalized, or the first rejection (mode, then exchange,
    then symbol)."""
    m = normalize_mode(mode)
    if isinstance(m, Rejected):
        return m
    exch = normalize_exchange(exchange)
    if isinstance(exch, Rejected):
        return exch
    sym = normalize_symbol(symbol)
    if isinstance(sym, Rejected):
        return sym
    return sym, exch, m


def resolve_request(
    resolver: SymbolResolver | None, symbol: str, exchange: str
) -> tuple[int, int] | Rejected:
    """``(segment, instrument id)`` of a checked ``symbol`` on ``exchange`` through
    ``resolver``; a missing resolver, an unknown symbol, a resolver failure (logged) or an
    instrument on another segment than the exchange's is a rejection."""
    if resolver is None:
        return Rejected(
            ErrorCode.SYMBOL_NOT_FOUND,
            f"no symbol resolver: cannot resolve {exchange}:{symbol} "
            "(set JAINAM_INSTRUMENT_MASTER or pass a resolver)",
        )
    try:
        found = resolver.resolve(symbol, exchange)
    except Exception as exc:
        log.error("symbol resolver failed for %s:%s: %r", exchange, symbol, exc)
        return Rejected(ErrorCode.INTERNAL_ERROR, f"symbol resolver failed: {exc}")
    if found is None:
        return Rejected(ErrorCode.SYMBOL_NOT_FOUND, f"unknown symbol {symbol!r} on {exchange}")
    segment, instrument_id = int(found[0]), int(found[1])
    if segment != EXCHANGE_SEGMENTS[exchange]:
        return Rejected(
            ErrorCode.SYMBOL_NOT_FOUND,
            f"{exchange}:{symbol} resolved to segment {segment}, "
            f"but {exchange} streams on {EXCHANGE_SEGMENTS[exchange]}",
        )
    return segment, instrument_id


class BaseBrokerAdapter(ABC):
    """The contract of an OpenAlgo-style broker streaming adapter (see the module docstring).

    Subclasses publish normalized ticks themselves (for example on ZeroMQ); this base holds
    only the contract and the envelope helpers, under the names OpenAlgo's base class uses.
    """

    @abstractmethod
    def initialize(
        self, broker_name: str, user_id: str, auth_data: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """Prepare the adapter for ``user_id``. ``auth_data=None``: credentials and tokens come
        from the environment and our token store. ``None`` on success, else an error envelope."""

    @abstractmethod
    def connect(self) -> dict[str, Any] | None:
        """Start streaming (returns at once). ``None`` on success, else an error envelope."""

    @abstractmethod
    def disconnect(self) -> dict[str, Any] | None:
        """Stop streaming and release every resource. ``None`` on success, else an envelope."""

    @abstractmethod
    def subscribe(
        self, symbol: str, exchange: str, mode: int = 2, depth_level: int = 5
    ) -> dict[str, Any]:
        """Want ``symbol`` on ``exchange`` in ``mode`` (1 LTP, 2 Quote, 3 Depth)."""

    @abstractmethod
    def unsubscribe(self, symbol: str, exchange: str, mode: int = 2) -> dict[str, Any]:
        """Drop one want of ``symbol`` on ``exchange`` in ``mode``."""

    @staticmethod
    def _create_success_response(message: str, **fields: Any) -> dict[str, Any]:
        return success_response(message, **fields)

    @staticmethod
    def _create_error_response(code: str, message: str) -> dict[str, Any]:
        return error_response(code, message)
