"""Symbol resolution: platform ``(symbol, exchange)`` <-> XTS ``(exchange segment, instrument id)``.

Any object with ``resolve`` and ``reverse`` (:class:`SymbolResolver`) will do. Two come with us:

* :class:`InMemoryResolver` -- a dict you fill (tests, small fixed universes).
* :class:`MasterFileResolver` -- loads the XTS instrument master: the text ``POST
  /instruments/master`` returns in ``result``, one instrument a line, fields separated by ``|``.
  The columns depend on the instrument type (1 future, 2 option, 4 spread, 8 equity)::

    equity  ExchangeSegment|ExchangeInstrumentID|InstrumentType|Name|Description|Series|
            NameWithSeries|InstrumentID|PriceBand.High|PriceBand.Low|FreezeQty|TickSize|LotSize|
            Multiplier|DisplayName|ISIN|PriceNumerator|PriceDenominator|DetailedDescription|
            ExtendedSurvIndicator|CautionIndicator|GSMIndicator
    future  ...|Multiplier|UnderlyingInstrumentId|UnderlyingIndexName|ContractExpiration|
            DisplayName|PriceNumerator|PriceDenominator|DetailedDescription
    option  ...|Multiplier|UnderlyingInstrumentId|UnderlyingIndexName|ContractExpiration|
            StrikePrice|OptionType|DisplayName|PriceNumerator|PriceDenominator|DetailedDescription

Platform symbols follow OpenAlgo's format: equities by name (``RELIANCE``), futures
``NAME + DDMMMYY + FUT`` (``NIFTY30JUN26FUT``), options ``NAME + DDMMMYY + strike + CE|PE``
(``NIFTY17FEB2625700PE``); the broker's own ``Description`` (``RELIANCE-EQ``,
``NIFTY26JUNFUT``) is accepted as an alias. Index rows (Series ``INDEX``/``SPOT`` on a cash
segment) and index-list entries (``"NIFTY 50_26000"``) become ``NSE_INDEX``/``BSE_INDEX``
symbols (``NIFTY``, ``BANKNIFTY``, ``SENSEX``...). Lookups ignore case.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from jainam_fsm.integrations.base import EXCHANGE_SEGMENTS, SEGMENT_EXCHANGES, SEGMENT_NUMBERS

__all__ = [
    "INDEX_SYMBOLS",
    "MASTER_ENV",
    "InMemoryResolver",
    "MasterFileResolver",
    "MasterRecord",
    "SymbolResolver",
]

log = logging.getLogger("jainam_fsm.integrations")

#: Environment variable naming instrument-master file(s) (``os.pathsep``-separated).
MASTER_ENV = "JAINAM_INSTRUMENT_MASTER"

#: XTS index names -> platform symbols (others: the name without spaces).
INDEX_SYMBOLS: Mapping[str, str] = {
    "NIFTY 50": "NIFTY",
    "NIFTY BANK": "BANKNIFTY",
    "NIFTY FIN SERVICE": "FINNIFTY",
    "NIFTY MID SELECT": "MIDCPNIFTY",
    "NIFTY NEXT 50": "NIFTYNXT50",
    "INDIA VIX": "INDIAVIX",
    "SENSEX": "SENSEX",
    "BANKEX": "BANKEX",
}

_INDEX_EXCHANGE = {1: "NSE_INDEX", 11: "BSE_INDEX"}
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")

FUTURE, OPTION, SPREAD, EQUITY = 1, 2, 4, 8


@runtime_checkable
class SymbolResolver(Protocol):
    """Maps platform symbols to XTS instruments and back."""

    def resolve(self, symbol: str, exchange: str) -> tuple[int, int] | None:
        """``(exchange_segment, instrument_id)`` of ``symbol`` on ``exchange``, or None."""
        ...

    def reverse(self, exchange_segment: int, instrument_id: int) -> tuple[str, str] | None:
        """``(symbol, exchange)`` of an XTS instrument, or None."""
        ...


def _key(symbol: str, exchange: str) -> tuple[str, str]:
    return symbol.strip().upper(), exchange.strip().upper()


class InMemoryResolver:
    """A resolver over a dict: ``{(symbol, exchange): (segment, instrument_id)}``.

    The segment must be the exchange's XTS segment (``NSE`` -> 1, ``NFO`` -> 2, ...);
    :meth:`add` raises ``ValueError`` otherwise, so a test cannot map ``NFO`` onto NSECM.
    """

    def __init__(self, entries: Mapping[tuple[str, str], tuple[int, int]] | None = None) -> None:
        self._forward: dict[tuple[str, str], tuple[int, int]] = {}
        self._back: dict[tuple[int, int], tuple[str, str]] = {}
        for (symbol, exchange), (segment, instrument_id) in (entries or {}).items():
            self.add(symbol, exchange, segment, instrument_id)

    def add(self, symbol: str, exchange: str, segment: int, instrument_id: int) -> None:
        """Map ``symbol`` on ``exchange`` to ``(segment, instrument_id)``."""
        sym, exch = _key(symbol, exchange)
        if not sym:
            raise ValueError("symbol must not be empty")
        expected = EXCHANGE_SEGMENTS.get(exch)
        if expected is None:
            raise ValueError(f"unknown exchange {exchange!r}")
        if int(segment) != expected:
            raise ValueError(f"{exch} streams on segment {expected}, not {segment}")
        self._forward[(sym, exch)] = (int(segment), int(instrument_id))
        self._back.setdefault((int(segment), int(instrument_id)), (sym, exch))

    def resolve(self, symbol: str, exchange: str) -> tuple[int, int] | None:
        return self._forward.get(_key(symbol, exchange))

    def reverse(self, exchange_segment: int, instrument_id: int) -> tuple[str, str] | None:
        return self._back.get((int(exchange_segment), int(instrument_id)))

    def __len__(self) -> int:
        return len(self._forward)

    def __repr__(self) -> str:
        return f"InMemoryResolver({len(self)} symbols)"


@dataclass(frozen=True)
class MasterRecord:
    """One parsed line of the instrument master."""

    segment: int
    instrument_id: int
    instrument_type: int
    name: str
    description: str
    series: str
    exchange: str
    symbol: str
    expiry: date | None = None
    strike: str | None = None
    option_type: str | None = None
    lot_size: int | None = None
    tick_size: float | None = None


class MasterParseError(ValueError):
    """A master line that cannot be used (the reason is counted, the line skipped)."""


def _expiry(text: str) -> date:
    try:
        return datetime.fromisoformat(text.strip()).date()
    except ValueError:
        raise MasterParseError("bad ContractExpiration") from None


def _ddmmmyy(day: date) -> str:
    return f"{day.day:02d}{_MONTHS[day.month - 1]}{day.year % 100:02d}"


def _strike(text: str) -> str:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise MasterParseError("bad StrikePrice") from None
    if not value.is_finite() or value <= 0:
        raise MasterParseError("bad StrikePrice")
    out = format(value, "f")
    return out.rstrip("0").rstrip(".") if "." in out else out


def _int(text: str) -> int | None:
    try:
        return int(Decimal(text.strip()))
    except (InvalidOperation, ValueError):
        return None


def _float(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        return None


def _index_symbol(name: str) -> str:
    clean = " ".join(name.upper().split())
    return INDEX_SYMBOLS.get(clean, clean.replace(" ", ""))


def parse_master_line(line: str) -> MasterRecord:
    """Parse one master line; raises :class:`MasterParseError` with a short reason."""
    f = [part.strip() for part in line.split("|")]
    if len(f) < 6:
        raise MasterParseError("too few fields")
    found = SEGMENT_NUMBERS.get(f[0].upper())
    if found is None and f[0].isdigit() and int(f[0]) in SEGMENT_EXCHANGES:
        found = int(f[0])
    if found is None:
        raise MasterParseError("unknown ExchangeSegment")
    segment: int = found
    instrument_id = _int(f[1])
    if instrument_id is None or instrument_id <= 0:
        raise MasterParseError("bad ExchangeInstrumentID")
    itype = _int(f[2])
    name, description, series = f[3], f[4], f[5].upper()
    if not name:
        raise MasterParseError("empty Name")
    lot = _int(f[12]) if len(f) > 12 else None
    tick = _float(f[11]) if len(f) > 11 else None
    common: dict[str, Any] = {
        "segment": segment,
        "instrument_id": instrument_id,
        "name": name,
        "description": description,
        "series": series,
        "lot_size": lot,
        "tick_size": tick,
    }
    if segment in _INDEX_EXCHANGE and series in ("INDEX", "SPOT"):
        return MasterRecord(
            instrument_type=itype or 0,
            exchange=_INDEX_EXCHANGE[segment],
            symbol=_index_symbol(name),
            **common,
        )
    exchange = SEGMENT_EXCHANGES[segment]
    if itype == EQUITY:
        # NSE lists one line per series; the platform's NSE symbol is the EQ line's name.
        symbol = name.upper() if (segment != 1 or series == "EQ") else description.upper()
        return MasterRecord(instrument_type=itype, exchange=exchange, symbol=symbol, **common)
    if itype in (FUTURE, SPREAD):
        if len(f) < 17:
            raise MasterParseError("too few fields for a future")
        expiry = _expiry(f[16])
        symbol = f"{name}{_ddmmmyy(expiry)}FUT".upper() if itype == FUTURE else description.upper()
        return MasterRecord(
            instrument_type=itype,
            exchange=exchange,
            symbol=symbol,
            expiry=expiry,
            **common,
        )
    if itype == OPTION:
        if len(f) < 19:
            raise MasterParseError("too few fields for an option")
        expiry = _expiry(f[16])
        strike = _strike(f[17])
        # NSE sends 3 (CE) / 4 (PE); some BSE masters are reported to send 1 / 2.
        kind = {"3": "CE", "1": "CE", "4": "PE", "2": "PE"}.get(f[18])
        if kind is None:
            raise MasterParseError("unknown OptionType")
        return MasterRecord(
            instrument_type=itype,
            exchange=exchange,
            symbol=f"{name}{_ddmmmyy(expiry)}{strike}{kind}".upper(),
            expiry=expiry,
            strike=strike,
            option_type=kind,
            **common,
        )
    raise MasterParseError("unknown InstrumentType")


class MasterFileResolver:
    """A resolver loaded from XTS instrument-master text (see the module docstring).

    Lines that cannot be used are skipped, counted by reason in :attr:`skipped` and logged
    once per load (never silently). A header line (``ExchangeSegment|...``) and blank lines are
    ignored. When two lines claim one symbol, the first wins and the clash is counted.
    """

    def __init__(self) -> None:
        self._forward: dict[tuple[str, str], tuple[int, int]] = {}
        self._aliases: dict[tuple[str, str], tuple[int, int]] = {}
        self._back: dict[tuple[int, int], tuple[str, str]] = {}
        self.records: dict[tuple[int, int], MasterRecord] = {}
        self.skipped: Counter[str] = Counter()

    # -- loading ---------------------------------------------------------------------------

    @classmethod
    def from_text(cls, text: str, *, source: str = "text") -> MasterFileResolver:
        """A resolver over master ``text``."""
        resolver = cls()
        resolver.load_text(text, source=source)
        return resolver

    @classmethod
    def from_files(cls, *paths: str | os.PathLike[str]) -> MasterFileResolver:
        """A resolver over one or more master files (UTF-8)."""
        resolver = cls()
        for path in paths:
            resolver.load_file(path)
        return resolver

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MasterFileResolver | None:
        """Files named by ``JAINAM_INSTRUMENT_MASTER`` (``os.pathsep``-separated), or None."""
        env = os.environ if environ is None else environ
        raw = (env.get(MASTER_ENV) or "").strip()
        if not raw:
            return None
        return cls.from_files(*[p for p in raw.split(os.pathsep) if p.strip()])

    def load_file(self, path: str | os.PathLike[str]) -> int:
        """Load a master file; returns the number of instruments added."""
        text = Path(path).read_text(encoding="utf-8")
        return self.load_text(text, source=str(path))

    def load_text(self, text: str, *, source: str = "text") -> int:
        """Load master text; returns the number of instruments added."""
        added = 0
        skipped: Counter[str] = Counter()
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.lower().startswith("exchangesegment|"):
                continue
            try:
                record = parse_master_line(line)
            except MasterParseError as exc:
                skipped[str(exc)] += 1
                continue
            if self._add(record, skipped):
                added += 1
        self._report(source, added, skipped)
        return added

    def load_index_list(self, exchange_segment: int, entries: Iterable[str]) -> int:
        """Add ``/instruments/indexlist`` entries (``"NIFTY 50_26000"``) of a cash segment."""
        exchange = _INDEX_EXCHANGE.get(int(exchange_segment))
        if exchange is None:
            raise ValueError(f"indices live on segment 1 or 11, not {exchange_segment}")
        added = 0
        skipped: Counter[str] = Counter()
        for entry in entries:
            name, sep, ident = str(entry).rpartition("_")
            iid = _int(ident) if sep else None
            if not name.strip() or iid is None or iid <= 0:
                skipped["bad index entry"] += 1
                continue
            record = MasterRecord(
                segment=int(exchange_segment),
                instrument_id=iid,
                instrument_type=0,
                name=name.strip(),
                description=name.strip(),
                series="INDEX",
                exchange=exchange,
                symbol=_index_symbol(name),
            )
            if self._add(record, skipped):
                added += 1
        self._report(f"index list {exchange}", added, skipped)
        return added

    def _add(self, record: MasterRecord, skipped: Counter[str]) -> bool:
        ident = (record.segment, record.instrument_id)
        key = (record.symbol.upper(), record.exchange)
        if key in self._forward and self._forward[key] != ident:
            skipped["duplicate symbol"] += 1
            return False
        self._forward[key] = ident
        self.records.setdefault(ident, record)
        self._back.setdefault(ident, key)
        aliases = {record.description.upper()}
        if record.exchange.endswith("_INDEX"):
            aliases.add(" ".join(record.name.upper().split()))
        for alias in aliases:
            if alias and alias != key[0]:
                self._aliases.setdefault((alias, record.exchange), ident)
        return True

    def _report(self, source: str, added: int, skipped: Counter[str]) -> None:
        self.skipped.update(skipped)
        if skipped:
            log.warning(
                "instrument master %s: %d instruments loaded, %d lines skipped (%s)",
                source,
                added,
                sum(skipped.values()),
                ", ".join(f"{reason}: {n}" for reason, n in sorted(skipped.items())),
            )
        else:
            log.info("instrument master %s: %d instruments loaded", source, added)

    # -- SymbolResolver ---------------------------------------------------------------------

    def resolve(self, symbol: str, exchange: str) -> tuple[int, int] | None:
        key = _key(symbol, exchange)
        found = self._forward.get(key)
        return found if found is not None else self._aliases.get(key)

    def reverse(self, exchange_segment: int, instrument_id: int) -> tuple[str, str] | None:
        return self._back.get((int(exchange_segment), int(instrument_id)))

    def record(self, symbol: str, exchange: str) -> MasterRecord | None:
        """The master line behind ``symbol`` (lot size, tick size, expiry...), or None."""
        found = self.resolve(symbol, exchange)
        return None if found is None else self.records.get(found)

    def __len__(self) -> int:
        return len(self._forward)

    def __repr__(self) -> str:
        return f"MasterFileResolver({len(self)} symbols, {sum(self.skipped.values())} skipped)"
