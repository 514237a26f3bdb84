"""The simulator's reference data and history: instrument master, index list, instrument search
and OHLC bars, under the flavour's prefix (docs/xts-protocol.md, "Instrument master, search and
OHLC"). All need a valid token, as every market-data call does.

The master holds every instrument of :attr:`SimulatorConfig.instruments` (a made-up equity line
``SIM<id>`` for an id the built-in table lacks) plus the built-in table's other rows, indices
included (series ``INDEX``/``SPOT`` rows, as in ``tests/data/xts_instrument_master_sample.txt``).
OHLC bars are a pure function of ``(seed, instrument, bar start)``: two runs agree.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from jainam_fsm.simulator.binary_rest import BodyError, parse_body
from jainam_fsm.simulator.config import SimulatorConfig
from jainam_fsm.simulator.market import Market
from jainam_fsm.simulator.validation import BadRequest, envelope, invalid_token, json_response
from jainam_fsm.xts.codes import ExchangeSegment
from jainam_fsm.xts.timeconv import IST, bar_time_to_wire

__all__ = ["MASTER_LINES", "ReferenceData", "master_lines"]

_EQ = (
    "|8|{name}|{name}-EQ|EQ|{name}-EQ|{uid}|{hi}|{lo}|100001|0.05|1|1|{name}|{isin}|1|1|"
    "{long}-EQ|0|-1|-1"
)

#: The built-in master: (segment name, id) -> the line. Cash names, indices, derivatives.
MASTER_LINES: dict[tuple[int, int], str] = {
    (1, 22): "NSECM|22"
    + _EQ.format(
        name="ACC",
        uid="1100100000022",
        hi="2310.5",
        lo="1890.5",
        isin="INE012A01025",
        long="ACC LIMITED",
    ),
    (1, 467): "NSECM|467"
    + _EQ.format(
        name="HDFCLIFE",
        uid="1100100000467",
        hi="790.1",
        lo="646.5",
        isin="INE795G01014",
        long="HDFC LIFE INS CO LTD",
    ),
    (1, 1594): "NSECM|1594"
    + _EQ.format(
        name="INFY",
        uid="1100100001594",
        hi="1702.4",
        lo="1392.9",
        isin="INE009A01021",
        long="INFOSYS LIMITED",
    ),
    (1, 2885): "NSECM|2885"
    + _EQ.format(
        name="RELIANCE",
        uid="1100100002885",
        hi="1611.2",
        lo="1318.3",
        isin="INE002A01018",
        long="RELIANCE INDUSTRIES LTD",
    ),
    (1, 11536): "NSECM|11536"
    + _EQ.format(
        name="TCS",
        uid="1100100011536",
        hi="3861.5",
        lo="3159.5",
        isin="INE467B01029",
        long="TATA CONSULTANCY SERV LT",
    ),
    (1, 26000): "NSECM|26000|8|NIFTY 50|NIFTY 50|INDEX|NIFTY 50-INDEX|1100100026000|0|0|0|0.05|"
    "1|1|NIFTY 50||1|1|NIFTY 50|0|-1|-1",
    (1, 26001): "NSECM|26001|8|NIFTY BANK|NIFTY BANK|INDEX|NIFTY BANK-INDEX|1100100026001|0|0|0|"
    "0.05|1|1|NIFTY BANK||1|1|NIFTY BANK|0|-1|-1",
    (11, 500325): "BSECM|500325|8|RELIANCE|RELIANCE|A|RELIANCE-A|1100200500325|1611.0|1318.0|"
    "100001|0.05|1|1|RELIANCE|INE002A01018|1|1|RELIANCE INDUSTRIES LTD.|0|-1|-1",
    (11, 1): "BSECM|1|8|SENSEX|SENSEX|SPOT|SENSEX-SPOT|1100200000001|0|0|0|0.01|1|1|SENSEX||1|1|"
    "S&P BSE SENSEX|0|-1|-1",
    (2, 35001): "NSEFO|35001|1|NIFTY|NIFTY26DECFUT|FUTIDX|NIFTY-FUTIDX|2612900035001|28901.5|"
    "23646.7|1801|0.1|75|1|-1|Nifty 50|2026-12-29T14:30:00|NIFTY 29DEC2026|1|1|NIFTY26DECFUT",
    (2, 46082): "NSEFO|46082|2|NIFTY|NIFTY26D2926000CE|OPTIDX|NIFTY-OPTIDX|2612900046082|812.4|"
    "101.6|1801|0.05|75|1|-1|Nifty 50|2026-12-29T14:30:00|26000|3|NIFTY 29DEC2026 CE 26000|1|1|"
    "NIFTY26D2926000CE",
    (2, 46083): "NSEFO|46083|2|NIFTY|NIFTY26D2925500PE|OPTIDX|NIFTY-OPTIDX|2612900046083|640.2|"
    "88.3|1801|0.05|75|1|-1|Nifty 50|2026-12-29T14:30:00|25500|4|NIFTY 29DEC2026 PE 25500|1|1|"
    "NIFTY26D2925500PE",
    (51, 444001): "MCXFO|444001|1|CRUDEOIL|CRUDEOIL26DECFUT|FUTCOM|CRUDEOIL-FUTCOM|2612100444001|"
    "7200|5800|10001|1|100|1|-1|CRUDEOIL|2026-12-18T23:30:00|CRUDEOIL 18DEC2026|1|1|"
    "CRUDEOIL26DECFUT",
}

#: Index-list entries per cash segment (``"NAME_ID"``, as XTS answers ``/instruments/indexlist``).
INDEX_LISTS: dict[int, list[str]] = {
    1: ["NIFTY 50_26000", "NIFTY BANK_26001"],
    11: ["SENSEX_1"],
}

#: Most bars one OHLC request may ask for (a guard against a runaway range).
MAX_BARS = 20_000


def _found(code: str, result: object) -> web.Response:
    # The master's result is text and the search's a list: not the usual object.
    return json_response(
        200, {"type": "success", "code": code, "description": "Data found", "result": result}
    )


def _segment_name(segment: int) -> str:
    try:
        return ExchangeSegment(segment).name
    except ValueError:
        return str(segment)


def master_lines(instruments: tuple[tuple[int, int], ...]) -> dict[tuple[int, int], str]:
    """The simulator's master: the built-in table plus a line for every configured instrument
    the table lacks (a made-up equity ``SIM<id>`` on its segment)."""
    out = dict(MASTER_LINES)
    for seg, iid in instruments:
        if (seg, iid) not in out:
            name = f"SIM{iid}"
            out[(seg, iid)] = f"{_segment_name(seg)}|{iid}" + _EQ.format(
                name=name, uid=f"{seg:03d}{iid:010d}", hi="0", lo="0", isin="", long=name
            )
    return out


def _parse_segment(value: object, field: str) -> int:
    text = str(value).strip().upper() if value is not None else ""
    if text.isdigit():
        return int(text)
    if text in ExchangeSegment.__members__:
        return int(ExchangeSegment[text])
    raise BadRequest([{"field": field, "message": f"unknown exchange segment {text[:20]!r}"}])


def _parse_time(value: object, field: str) -> datetime:
    try:
        naive = datetime.strptime(str(value), "%b %d %Y %H%M%S")
    except ValueError:
        raise BadRequest(
            [{"field": field, "message": "expected a time like 'Dec 01 2026 091500'"}]
        ) from None
    return naive.replace(tzinfo=IST)


def _search_record(line: str) -> dict[str, Any]:
    f = line.split("|")
    return {
        "ExchangeSegment": int(ExchangeSegment[f[0]]),
        "ExchangeInstrumentID": int(f[1]),
        "InstrumentType": int(f[2]),
        "Name": f[3],
        "Description": f[4],
        "Series": f[5],
        "NameWithSeries": f[6],
        "InstrumentID": int(f[7]),
        "TickSize": float(f[11]),
        "LotSize": int(f[12]),
        "DisplayName": f[14] if f[14] != "-1" else f[4],
    }


class ReferenceData:
    """Master, index list, search and OHLC handlers of one simulator."""

    def __init__(
        self,
        config: SimulatorConfig,
        market: Market,
        session_ok: Callable[[web.Request], bool],
        count: Callable[[str], None],
    ) -> None:
        self._config = config
        self._market = market
        self._session_ok = session_ok
        self._count = count
        self.lines = master_lines(config.instruments)

    def install(self, app: web.Application, prefix: str) -> None:
        """Register the four routes under ``prefix``."""
        r = app.router
        r.add_post(f"{prefix}/instruments/master", self._master)
        r.add_get(f"{prefix}/instruments/indexlist", self._index_list)
        r.add_get(f"{prefix}/search/instruments", self._search)
        r.add_get(f"{prefix}/instruments/ohlc", self._ohlc)

    async def _master(self, request: web.Request) -> web.StreamResponse:
        self._count("master_requests")
        if not self._session_ok(request):
            return invalid_token()
        try:
            body = parse_body(
                await request.text(),
                request.content_type,
                allow_form=self._config.api == "binary",
            )
        except BodyError as exc:
            raise BadRequest([{"field": "body", "message": str(exc)}]) from None
        wanted = body.get("exchangeSegmentList")
        if isinstance(wanted, str):  # a form body carries the list as JSON text or one name
            wanted = [w.strip(' "[]') for w in wanted.split(",")]
        if not isinstance(wanted, list) or not wanted:
            raise BadRequest(
                [{"field": "exchangeSegmentList", "message": "a list of segments is required"}]
            )
        segments = {_parse_segment(w, "exchangeSegmentList") for w in wanted}
        text = "\n".join(line for (seg, _), line in sorted(self.lines.items()) if seg in segments)
        return _found("s-instrument-0001", text)

    async def _index_list(self, request: web.Request) -> web.StreamResponse:
        self._count("indexlist_requests")
        if not self._session_ok(request):
            return invalid_token()
        seg = _parse_segment(request.query.get("exchangeSegment"), "exchangeSegment")
        return json_response(
            200,
            envelope(
                "success",
                "s-instrument-0001",
                "Data found",
                {"exchangeSegment": seg, "indexList": INDEX_LISTS.get(seg, [])},
            ),
        )

    async def _search(self, request: web.Request) -> web.StreamResponse:
        self._count("search_requests")
        if not self._session_ok(request):
            return invalid_token()
        text = request.query.get("searchString", "").strip().upper()
        if not text:
            raise BadRequest([{"field": "searchString", "message": "searchString is required"}])
        found = [
            _search_record(line)
            for _, line in sorted(self.lines.items())
            if text in line.split("|")[3].upper() or text in line.split("|")[4].upper()
        ]
        return _found("s-search-0001", found)

    async def _ohlc(self, request: web.Request) -> web.StreamResponse:
        self._count("ohlc_requests")
        if not self._session_ok(request):
            return invalid_token()
        q = request.query
        seg = _parse_segment(q.get("exchangeSegment"), "exchangeSegment")
        try:
            iid = int(q.get("exchangeInstrumentID", ""))
            step = int(q.get("compressionValue", "60"))
        except ValueError:
            raise BadRequest(
                [{"field": "exchangeInstrumentID", "message": "numbers required"}]
            ) from None
        start = _parse_time(q.get("startTime"), "startTime")
        end = _parse_time(q.get("endTime"), "endTime")
        if step < 60 or end < start or (end - start).total_seconds() / step > MAX_BARS:
            raise BadRequest(
                [{"field": "compressionValue", "message": "bad range or compression (>= 60 s)"}]
            )
        bars = self._bars(seg, iid, bar_time_to_wire(start), bar_time_to_wire(end), step)
        return json_response(
            200,
            envelope(
                "success",
                "s-instrument-0002",
                "Data found",
                {
                    "exchangeSegment": _segment_name(seg),
                    "exchangeInstrumentID": iid,
                    "dataReponse": bars,
                },
            ),
        )

    def _bars(self, seg: int, iid: int, start: int, end: int, step: int) -> str:
        """``time|open|high|low|close|volume|oi|`` bars joined by ``,``, aligned to ``step``."""
        base = self._market.walk((seg, iid), 0.0).close_ticks / 20
        first = -(-start // step) * step
        out = []
        for t in range(first, end, step):
            rng = random.Random(f"jainam-sim-ohlc:{self._config.seed}:{seg}:{iid}:{t}")  # noqa: S311
            o = round(base * (1 + rng.uniform(-0.02, 0.02)) * 20) / 20
            c = round(o * (1 + rng.uniform(-0.005, 0.005)) * 20) / 20
            h = max(o, c) + rng.randint(0, 10) / 20
            lo = min(o, c) - rng.randint(0, 10) / 20
            vol = rng.randint(100, 50_000)
            oi = rng.randint(0, 5_000_000) if seg != 1 else 0
            out.append(f"{t}|{o:.2f}|{h:.2f}|{lo:.2f}|{c:.2f}|{vol}|{oi}|")
        return ",".join(out)
