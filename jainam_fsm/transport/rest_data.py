"""Reference-data and history calls of the XTS market-data REST API: the instrument master,
the index list, instrument search and OHLC bars (docs/xts-protocol.md, "Instrument master,
search and OHLC"). Both API flavours serve them under their own prefix.

Mixed into :class:`~jainam_fsm.transport.rest.XtsRestClient`; kept here so the session and
subscription plumbing stays one concern. Error mapping is the client's: ``e-session-0007`` ->
:class:`~jainam_fsm.errors.TokenRejected`, other 4xx envelopes ->
:class:`~jainam_fsm.errors.SubscriptionRejected`, the rest -> TransportFailure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from jainam_fsm.core.ports import FeedToken
from jainam_fsm.errors import TransportFailure
from jainam_fsm.xts.codes import ExchangeSegment
from jainam_fsm.xts.timeconv import IST, bar_time_from_wire

if TYPE_CHECKING:
    from jainam_fsm.transport.rest import _Answer

__all__ = ["OhlcBar", "ReferenceDataCalls", "ohlc_time", "parse_ohlc"]


@dataclass(frozen=True, slots=True)
class OhlcBar:
    """One OHLC bar. ``time`` is the bar's start, aware, India time."""

    time: datetime
    open: float
    high: float
    low: float
    close: float
    volume: int
    open_interest: int

    def to_dict(self) -> dict[str, object]:
        """A JSON-serialisable dict (time as ISO-8601)."""
        return {
            "time": self.time.isoformat(),
            "open": self.open,
            "high": self.high,
            "low": self.low,
            "close": self.close,
            "volume": self.volume,
            "open_interest": self.open_interest,
        }


def ohlc_time(when: datetime) -> str:
    """``startTime``/``endTime`` as XTS wants them: ``"Dec 01 2026 091500"`` in India time."""
    if when.tzinfo is None:
        raise ValueError("naive datetime: give OHLC times with a timezone")
    return when.astimezone(IST).strftime("%b %d %Y %H%M%S")


def parse_ohlc(text: str) -> list[OhlcBar]:
    """Bars from ``result.dataReponse`` (sic): bars separated by ``,``, fields by ``|``:
    ``time|open|high|low|close|volume|oi|``. ``time`` counts seconds from 1970 as India wall
    clock, like a candle's ``BarTime``. Raises ``ValueError`` on a malformed bar."""
    bars: list[OhlcBar] = []
    for chunk in text.split(","):
        fields = [f.strip() for f in chunk.strip().split("|")]
        if not any(fields):
            continue
        if len(fields) < 6:
            raise ValueError(f"OHLC bar with {len(fields)} field(s)")
        when = bar_time_from_wire(int(fields[0]))
        if when is None:
            raise ValueError("OHLC bar at time 0")
        oi = fields[6] if len(fields) > 6 and fields[6] else "0"
        bars.append(
            OhlcBar(
                when,
                float(fields[1]),
                float(fields[2]),
                float(fields[3]),
                float(fields[4]),
                int(float(fields[5])),
                int(float(oi)),
            )
        )
    return bars


def _segment_name(segment: int | str) -> str:
    if isinstance(segment, str) and not segment.isdigit():
        return segment.upper()
    try:
        return ExchangeSegment(int(segment)).name
    except ValueError:
        raise ValueError(f"unknown exchange segment {segment!r}") from None


class ReferenceDataCalls:
    """The master, index-list, search and OHLC calls (a mixin of XtsRestClient)."""

    if TYPE_CHECKING:  # provided by XtsRestClient

        async def _request(
            self,
            method: str,
            path: str,
            *,
            body: dict[str, Any] | None = None,
            token: str | None = None,
            secrets: Sequence[str] = (),
            absent: frozenset[int] = frozenset(),
        ) -> _Answer: ...

        def _raise_for(self, what: str, answer: _Answer, token: FeedToken) -> None: ...

    async def _get_result(
        self, what: str, method: str, path: str, token: FeedToken, body: dict[str, Any] | None
    ) -> object:
        answer = await self._request(method, path, token=token.value, body=body)
        if not answer.ok:
            self._raise_for(what, answer, token)
        envelope = answer.envelope or {}
        return envelope.get("result")

    async def instrument_master(self, token: FeedToken, segments: Sequence[int | str]) -> str:
        """The instrument master of ``segments`` (numbers or XTS names such as ``"NSECM"``):
        pipe-separated text, one instrument a line (``POST /instruments/master``)."""
        names = [_segment_name(s) for s in segments]
        result = await self._get_result(
            "instrument master",
            "POST",
            "/instruments/master",
            token,
            {"exchangeSegmentList": names},
        )
        if not isinstance(result, str):
            raise TransportFailure("instrument master: result is not the master text")
        return result

    async def index_list(self, token: FeedToken, segment: int) -> list[str]:
        """The index names of a cash segment, as XTS gives them: ``"NIFTY 50_26000"`` (name,
        underscore, instrument id) (``GET /instruments/indexlist``)."""
        query = urlencode({"exchangeSegment": int(segment)})
        result = await self._get_result(
            "index list", "GET", f"/instruments/indexlist?{query}", token, None
        )
        entries = result.get("indexList") if isinstance(result, dict) else None
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            raise TransportFailure("index list: result.indexList is not a list of strings")
        return list(entries)

    async def search_instruments(self, token: FeedToken, query: str) -> list[dict[str, Any]]:
        """Instruments whose name matches ``query`` (``GET /search/instruments``): the server's
        records as dicts (``ExchangeSegment``, ``ExchangeInstrumentID``, ``Name``, ...)."""
        qs = urlencode({"searchString": query})
        result = await self._get_result(
            "instrument search", "GET", f"/search/instruments?{qs}", token, None
        )
        if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
            raise TransportFailure("instrument search: result is not a list of objects")
        return list(result)

    async def ohlc(
        self,
        token: FeedToken,
        segment: int | str,
        instrument_id: int,
        *,
        start: datetime,
        end: datetime,
        compression: int = 60,
    ) -> list[OhlcBar]:
        """OHLC bars of one instrument from ``start`` to ``end`` (aware datetimes), each
        ``compression`` seconds long (``GET /instruments/ohlc``)."""
        qs = urlencode(
            {
                "exchangeSegment": _segment_name(segment),
                "exchangeInstrumentID": int(instrument_id),
                "startTime": ohlc_time(start),
                "endTime": ohlc_time(end),
                "compressionValue": int(compression),
            }
        )
        result = await self._get_result("ohlc", "GET", f"/instruments/ohlc?{qs}", token, None)
        data = result.get("dataReponse") if isinstance(result, dict) else None
        if not isinstance(data, str):
            raise TransportFailure("ohlc: result.dataReponse is not text")
        try:
            return parse_ohlc(data)
        except (ValueError, OverflowError) as exc:
            raise TransportFailure(f"ohlc: malformed bar data ({exc})") from None
