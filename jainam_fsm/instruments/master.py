"""The instrument master in memory: names to ``(segment, id)`` keys and back, and search.

Built from the pipe-separated text ``POST {prefix}/instruments/master`` returns (parsed by
:func:`jainam_fsm.integrations.symbols.parse_master_line`, the same parser the platform
integration uses) or from the rows of the store's cache (:mod:`jainam_fsm.instruments.cache`).

Names are ``EXCHANGE:SYMBOL``: ``NSE:RELIANCE``, ``NFO:NIFTY29DEC26FUT``, ``NSE:NIFTY`` (an
index; ``NSE_INDEX:NIFTY`` and ``NSE:NIFTY 50`` name it too). The exchange part may also be an
XTS segment name (``NSECM``) or number (``1``). Besides the platform symbol, a record answers to
its ``Description`` (``RELIANCE-EQ``) and, for indices, its XTS name (``NIFTY 50``). Lookups
ignore case. An unknown name raises :class:`UnknownInstrument`, a one-line message that lists
close matches (:mod:`difflib`).
"""

from __future__ import annotations

import difflib
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

from jainam_fsm.errors import JainamError
from jainam_fsm.integrations.base import EXCHANGE_SEGMENTS, SEGMENT_NUMBERS
from jainam_fsm.integrations.symbols import MasterParseError, parse_master_line
from jainam_fsm.xts.codes import ExchangeSegment

__all__ = [
    "InstrumentInfo",
    "InstrumentMaster",
    "UnknownInstrument",
    "index_records",
    "parse_key",
    "segment_number",
]

log = logging.getLogger("jainam_fsm.instruments")


class UnknownInstrument(JainamError, LookupError):
    """A name the instrument master does not know (the message lists close matches)."""


@dataclass(frozen=True, slots=True)
class InstrumentInfo:
    """One instrument of the master."""

    segment: int
    instrument_id: int
    #: Platform exchange: NSE, NFO, CDS, BSE, BFO, MCX, NSE_INDEX, BSE_INDEX.
    exchange: str
    #: Platform symbol (``RELIANCE``, ``NIFTY29DEC26FUT``, ``NIFTY``).
    symbol: str
    #: XTS ``Name`` and ``Description`` columns.
    name: str
    description: str
    series: str
    instrument_type: int
    lot_size: int | None = None
    tick_size: float | None = None
    expiry: date | None = None
    strike: str | None = None
    option_type: str | None = None
    #: The master line as the server sent it.
    line: str = ""

    @property
    def key(self) -> tuple[int, int]:
        """``(segment, instrument_id)``: what subscriptions and ticks use."""
        return (self.segment, self.instrument_id)

    @property
    def display(self) -> str:
        """``EXCHANGE:SYMBOL`` with the index exchanges shown as their cash exchange
        (``NSE:NIFTY``), the form ticks carry in :attr:`Tick.symbol`."""
        return f"{self.exchange.removesuffix('_INDEX')}:{self.symbol}"

    @property
    def is_index(self) -> bool:
        """An index row (series INDEX/SPOT on a cash segment)."""
        return self.exchange.endswith("_INDEX")

    def to_dict(self) -> dict[str, object]:
        """A JSON-serialisable dict (expiry as ISO date)."""
        return {
            "name": self.display,
            "exchange_segment": self.segment,
            "instrument_id": self.instrument_id,
            "exchange": self.exchange,
            "symbol": self.symbol,
            "xts_name": self.name,
            "description": self.description,
            "series": self.series,
            "instrument_type": self.instrument_type,
            "lot_size": self.lot_size,
            "tick_size": self.tick_size,
            "expiry": self.expiry.isoformat() if self.expiry else None,
            "strike": self.strike,
            "option_type": self.option_type,
        }

    @classmethod
    def from_line(cls, line: str) -> InstrumentInfo:
        """Parse one master line; raises :class:`MasterParseError`."""
        r = parse_master_line(line)
        return cls(
            segment=r.segment,
            instrument_id=r.instrument_id,
            exchange=r.exchange,
            symbol=r.symbol,
            name=r.name,
            description=r.description,
            series=r.series,
            instrument_type=r.instrument_type,
            lot_size=r.lot_size,
            tick_size=r.tick_size,
            expiry=r.expiry,
            strike=r.strike,
            option_type=r.option_type,
            line=line.strip(),
        )


def segment_number(text: str) -> int | None:
    """A segment from an exchange (``NSE``), an XTS segment name (``NSECM``) or a number."""
    t = text.strip().upper()
    if t in EXCHANGE_SEGMENTS:
        return EXCHANGE_SEGMENTS[t]
    if t in SEGMENT_NUMBERS:
        return SEGMENT_NUMBERS[t]
    if t in ExchangeSegment.__members__:
        return int(ExchangeSegment[t])
    if t.isdigit() and 0 < int(t) < 10_000:
        return int(t)
    return None


def parse_key(text: str) -> tuple[int, int] | None:
    """``SEG:ID`` (``1:2885``, ``NSECM:2885``, ``NSE:2885``) -> ``(1, 2885)``; None if the text
    is not of that form (it may be a name)."""
    head, sep, tail = text.strip().partition(":")
    if not sep or not tail.strip().isdigit():
        return None
    seg = segment_number(head)
    iid = int(tail.strip())
    if seg is None or iid <= 0:
        return None
    return (seg, iid)


class InstrumentMaster:
    """An instrument master in memory. Build with :meth:`from_text` or :meth:`from_records`."""

    def __init__(self, records: Iterable[InstrumentInfo] = ()) -> None:
        self._by_key: dict[tuple[int, int], InstrumentInfo] = {}
        self._by_name: dict[tuple[int, str], InstrumentInfo] = {}
        #: Lines skipped by the last :meth:`load_text`, by reason.
        self.skipped: Counter[str] = Counter()
        for record in records:
            self.add(record)

    @classmethod
    def from_text(cls, text: str) -> InstrumentMaster:
        """From master text (a header line and blank lines are ignored, bad lines counted)."""
        master = cls()
        master.load_text(text)
        return master

    @classmethod
    def from_records(cls, records: Iterable[InstrumentInfo]) -> InstrumentMaster:
        """From records (e.g. the cache's)."""
        return cls(records)

    def load_text(self, text: str) -> list[InstrumentInfo]:
        """Parse and add every line; returns the records added. Unusable lines are counted in
        :attr:`skipped` by reason and logged once (never silently)."""
        added: list[InstrumentInfo] = []
        skipped: Counter[str] = Counter()
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.upper().startswith("EXCHANGESEGMENT|"):
                continue
            try:
                record = InstrumentInfo.from_line(line)
            except MasterParseError as exc:
                skipped[str(exc)] += 1
                continue
            self.add(record)
            added.append(record)
        if skipped:
            log.warning(
                "instrument master: %d line(s) skipped (%s)",
                sum(skipped.values()),
                ", ".join(f"{reason}: {n}" for reason, n in sorted(skipped.items())),
            )
        self.skipped = skipped
        return added

    def add(self, record: InstrumentInfo) -> None:
        """Add (or replace) one record; its names are added where not taken."""
        self._by_key[record.key] = record
        for text in (record.symbol, record.description, record.name if record.is_index else ""):
            alias = " ".join(text.upper().split())
            if alias:
                self._by_name.setdefault((record.segment, alias), record)

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self) -> Iterator[InstrumentInfo]:
        return iter(self._by_key.values())

    def __repr__(self) -> str:
        return f"InstrumentMaster({len(self)} instruments)"

    def get(self, segment: int, instrument_id: int) -> InstrumentInfo | None:
        """The record of ``(segment, instrument_id)``, or None."""
        return self._by_key.get((int(segment), int(instrument_id)))

    def name_of(self, segment: int, instrument_id: int) -> str | None:
        """``EXCHANGE:SYMBOL`` of an instrument, or None when the master lacks it."""
        record = self._by_key.get((int(segment), int(instrument_id)))
        return record.display if record is not None else None

    def lookup(self, name: str) -> InstrumentInfo:
        """The record named ``EXCHANGE:SYMBOL`` or ``SEG:ID``; raises :class:`UnknownInstrument`
        (one line, with close matches) otherwise."""
        text = " ".join(str(name).split())
        key = parse_key(text)
        if key is not None:
            found = self._by_key.get(key)
            if found is not None:
                return found
            raise UnknownInstrument(
                f"instrument {text[:60]!r} is not in the instrument master{self._hint()}"
            )
        head, sep, tail = text.partition(":")
        if not sep or not tail.strip():
            raise UnknownInstrument(
                f"{text[:60]!r}: expected EXCHANGE:SYMBOL such as NSE:RELIANCE, or SEG:ID"
            )
        segment = segment_number(head)
        if segment is None:
            raise UnknownInstrument(
                f"{text[:60]!r}: unknown exchange {head[:20]!r}; use one of "
                f"{', '.join(sorted(EXCHANGE_SEGMENTS))} (or an XTS segment such as NSECM)"
            )
        symbol = " ".join(tail.upper().split())
        found = self._by_name.get((segment, symbol))
        if found is not None:
            return found
        raise UnknownInstrument(f"unknown instrument {text[:60]!r}{self._suggest(segment, symbol)}")

    def _hint(self) -> str:
        if not self._by_key:
            return " (the master is empty: run `jainam-fsm instruments download`)"
        return ""

    def _suggest(self, segment: int, symbol: str) -> str:
        if not self._by_key:
            return self._hint()
        names = [n for (seg, n) in self._by_name if seg == segment]
        close = difflib.get_close_matches(symbol, names, n=5, cutoff=0.6)
        if not close:
            return "; no close match in the instrument master"
        shown = []
        for n in close:
            shown.append(self._by_name[(segment, n)].display)
        return "; close matches: " + ", ".join(dict.fromkeys(shown))

    def search(self, query: str, *, limit: int = 20) -> list[InstrumentInfo]:
        """Instruments whose symbol, XTS name or description contains ``query`` (any case),
        best first: exact symbol, then symbol prefix, then the rest (each by symbol). A query
        ``EXCHANGE:TEXT`` searches that exchange's segment only."""
        text = " ".join(query.upper().split())
        segment: int | None = None
        head, sep, tail = text.partition(":")
        if sep and segment_number(head) is not None:
            segment, text = segment_number(head), tail.strip()
        if not text:
            return []
        ranked: list[tuple[int, str, InstrumentInfo]] = []
        for record in self._by_key.values():
            if segment is not None and record.segment != segment:
                continue
            sym = record.symbol.upper()
            if sym == text:
                rank = 0
            elif sym.startswith(text):
                rank = 1
            elif text in sym or text in record.name.upper() or text in record.description.upper():
                rank = 2
            else:
                continue
            ranked.append((rank, sym, record))
        ranked.sort(key=lambda r: (r[0], r[1], r[2].segment, r[2].instrument_id))
        return [r[2] for r in ranked[: max(0, limit)]]


def index_records(segment: int, entries: Iterable[str]) -> list[InstrumentInfo]:
    """Records from ``/instruments/indexlist`` entries (``"NIFTY 50_26000"``: name, underscore,
    instrument id) of a cash segment; malformed entries are skipped and logged."""
    seg_name = ExchangeSegment(int(segment)).name
    out: list[InstrumentInfo] = []
    bad = 0
    for entry in entries:
        name, _, iid = str(entry).rpartition("_")
        if not name.strip() or not iid.strip().isdigit():
            bad += 1
            continue
        line = (
            f"{seg_name}|{int(iid)}|8|{name.strip()}|{name.strip()}|INDEX|{name.strip()}-INDEX|0|"
            f"0|0|0|0.05|1|1|{name.strip()}||1|1|{name.strip()}|0|-1|-1"
        )
        try:
            out.append(InstrumentInfo.from_line(line))
        except MasterParseError:
            bad += 1
    if bad:
        log.warning("index list of segment %d: %d malformed entr(ies) skipped", segment, bad)
    return out
