"""Decoding of XTS Socket.IO market-data payloads into :class:`~jainam_fsm.xts.ticks.Tick`.

One :class:`XtsDecoder` per connection. ``decode(event, data)`` never raises: bad input yields
``None``, is counted in :attr:`XtsDecoder.stats` by kind and logged once per kind (WARNING on the
``jainam_fsm.xts`` logger, payload sample cut to 200 characters).

Protocol decisions and their sources (sections of ``docs/xts-protocol.md``):

* Payloads arrive as **strings**: JSON text on ``<code>-json-full``, a flat ``k:v,k:v`` string
  on ``<code>-json-partial`` (§6). ``bytes`` are decoded as UTF-8; an already-parsed ``dict`` is
  accepted on full events. Anything else is ``not_a_string``.
* 1501 touchline comes **flat or nested** under ``Touchline`` (§7); both map to the same fields.
  The quantity key is read as ``LastTradedQunatity`` (sic, the real servers) or
  ``LastTradedQuantity`` (UTA docs). ``ExchangeSegment``/``ExchangeInstrumentID`` may be JSON
  numbers or digit strings (§7, RMDOC/JAVA).
* 1502 depth: ``Bids``/``Asks`` (up to 5 levels, best first) + ``Touchline``. ``bid``/``ask`` come
  from ``Touchline.BidInfo/AskInfo``; when those are absent, from ``bids[0]``/``asks[0]``.
* 1504 index: ``IndexValue`` -> ``ltp``, ``OpeningIndex/HighIndexValue/LowIndexValue/
  ClosingIndex`` -> OHLC (JAVA ``MarketDataResponseIndex``). Partial 1504 keyed by index *name*
  (``t:1_NIFTY 50``) cannot be keyed by instrument id: counted ``ignored_index_name``, no tick.
* 1505 candle: ``BarTime`` is 1970-based, ``BarVolume``, OHLC, ``OpenInterest``,
  ``SumOfQtyInToPrice`` -> ``sum_qty_price``.
* 1507 market status -> :class:`MarketStatus`; the segment is read from ``exchangeSegment``
  (lower case, sic) falling back to ``ExchangeSegment``; market type from ``maketType`` (sic),
  ``marketType`` or ``XMarketType``.
* 1510 open interest: ``OpenInterest``, ``ExchangeTimeStamp``, ``XTSMarketType``.
* 1512 LTP: ``LastTradedPrice``, quantity, ``LastUpdateTime``, optional ``PercentChange``/``Close``.
* 1105 instrument-property changes are not market data: counted as ``ignored_code`` (not an
  error) without looking at the payload (the real ones contain NUL characters).
* Partial format (§7 "Partial"): ``t:<seg>_<id>`` then ``key:value`` pairs split at the first
  ``:``. Keys per code: 1501/1502/1512 ``ltp ltq tb ts v ap ltt lut pc o h l c vp bt mt bi ai``
  (``bt``/``mt`` = BookType/MarketType; ``vp`` is mapped to ``total_value_traded``
  [inference: no source defines it]); 1505 ``o h l c bt bv pv`` (``bt`` = BarTime here);
  1510 ``o`` = OpenInterest; 1504 ``ltp lut pc o h l c``. Unknown keys are ignored (forward
  compatibility). ``bi``/``ai`` are ``|``-joined groups of ``Index|Size|Price|TotalOrders``
  (NODE ``constructPartialMarketDepthObject``; TRADX's variant is flagged incomplete by its
  author and not followed). An **empty value means unchanged** (NODE, for ``bi``/``ai``; applied
  to every key here).
* Partial merge: the first partial packet is complete, later ones carry only changed fields (§6,
  UTA). The decoder keeps the last record per ``(segment, instrument, code)`` and returns
  complete ticks. ``reset()`` forgets this on reconnect; :meth:`XtsDecoder.decode_snapshot`
  seeds it from a ``listQuotes``/quotes entry. At most ``max_instruments`` keys are remembered
  (oldest evicted) so garbage ids cannot grow memory without bound.
* ``MessageCode`` in a full body must match the event's code, else ``code_mismatch``.
* Numbers: JSON numbers or numeric strings; booleans and non-finite values are ``bad_number``.
  JSON is parsed strictly (orjson): ``NaN``/``Infinity`` literals, numbers beyond a double's
  range and lone surrogates make the payload ``invalid_json``. Quantities must be integral.
  Times: see :mod:`.timeconv`.

Bad-input kinds (keys of :attr:`XtsDecoder.stats`, plus ``decoded``): ``unknown_event``,
``unknown_code``, ``not_a_string``, ``bad_encoding``, ``oversize``, ``nul_character``,
``invalid_json``, ``not_an_object``, ``code_mismatch``, ``missing_id``, ``bad_id``,
``bad_number``, ``bad_value``, ``bad_depth``, ``malformed_partial``, ``unsupported_partial``,
``internal_error``; not errors (see :data:`IGNORED_KINDS`): ``ignored_code``,
``ignored_index_name``.
"""

from __future__ import annotations

import logging
import reprlib
from collections.abc import Callable, Mapping
from typing import Any, Final

import orjson

from jainam_fsm.xts.codes import EPOCH_1980_SEGMENTS, BroadcastMode, parse_event_name
from jainam_fsm.xts.json_fields import (
    _DEFAULT_VALUES,
    _I_ASK,
    _I_ASKS,
    _I_BID,
    _I_BIDS,
    _I_EXCHANGE_SEGMENT,
    _I_INSTRUMENT_ID,
    _I_MESSAGE_CODE,
    _PARTIAL_KEYS,
    _PRICE,
    _QTY,
    _TIME_EX,
    _full_candle,
    _full_index,
    _full_oi,
    _full_touchline,
    _ident,
    _ids,
    _market_status,
    _merge_levels,
    _price_text,
    _qty_text,
    _Reject,
    _split_partial,
    _time,
)
from jainam_fsm.xts.ticks import TICK_FIELDS, MarketStatus, Tick, _make_tick_args
from jainam_fsm.xts.timeconv import EPOCH_1980_OFFSET

__all__ = [
    "DEFAULT_MAX_INSTRUMENTS",
    "DEFAULT_MAX_PAYLOAD",
    "IGNORED_KINDS",
    "XtsDecoder",
]

log = logging.getLogger("jainam_fsm.xts")

#: Default largest accepted payload, in characters (a real 1502 is about 1.5 KB).
DEFAULT_MAX_PAYLOAD: Final = 64 * 1024
#: Default number of ``(segment, instrument, code)`` partial states kept.
DEFAULT_MAX_INSTRUMENTS: Final = 10_000
#: Stats kinds that are counted but are not errors.
IGNORED_KINDS: Final = frozenset({"ignored_code", "ignored_index_name"})

_SAMPLE_CHARS = 200

# orjson: strict JSON (no NaN/Infinity literals) and about twice as fast as json.loads on
# tick payloads; this is the hot path.
_json_decode: Callable[[str], Any] = orjson.loads


# ---------------------------------------------------------------------------------------------


class XtsDecoder:
    """Stateful decoder for one socket connection. Not thread-safe: use it from one thread.

    ``decode(event, data)`` returns a :class:`Tick`, a :class:`MarketStatus` or ``None`` and
    never raises. ``stats`` counts decoded records and every kind of dropped input.
    """

    def __init__(
        self,
        *,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        max_instruments: int = DEFAULT_MAX_INSTRUMENTS,
        logger: logging.Logger | None = None,
    ) -> None:
        if max_payload <= 0 or max_instruments <= 0:
            raise ValueError("max_payload and max_instruments must be positive")
        self.max_payload = max_payload
        self.max_instruments = max_instruments
        self._log = logger if logger is not None else log
        self._decoded = 0
        self._counts: dict[str, int] = {}
        self._logged: set[str] = set()
        self._state: dict[tuple[int, int, int], list[Any]] = {}
        self._events: dict[object, tuple[int, BroadcastMode] | None] = {}

    # -- public API ---------------------------------------------------------------------------

    @property
    def stats(self) -> Mapping[str, int]:
        """Snapshot: ``{"decoded": n, "<kind>": count, ...}`` (only kinds seen so far)."""
        out = {"decoded": self._decoded}
        out.update(self._counts)
        return out

    @property
    def errors(self) -> int:
        """Total dropped inputs, excluding the harmless :data:`IGNORED_KINDS`."""
        return sum(n for k, n in self._counts.items() if k not in IGNORED_KINDS)

    def reset(self) -> None:
        """Forget partial-mode state (call on every reconnect). Counters are kept."""
        self._state.clear()

    def decode(self, event: str, data: object) -> Tick | MarketStatus | None:
        """Decode one Socket.IO data event. Never raises; ``None`` means "no tick"."""
        try:
            try:
                spec = self._events.get(event)
            except TypeError:  # unhashable "event"
                spec = None
            if spec is None:
                spec = self._event_spec(event)
                if spec is None:
                    return None
            code, mode = spec
            if code == 1105:
                self._count("ignored_code", event, None)
                return None
            if type(data) is str and 0 < len(data) <= self.max_payload and "\x00" not in data:
                payload: Any = data  # the usual case, checked inline
            else:
                payload = self._payload(event, data, mode)
            if mode is BroadcastMode.FULL:
                result = self._decode_full(code, payload)
            else:
                result = self._decode_partial(code, payload)
        except _Reject as bad:
            self._count(bad.kind, event, data)
            return None
        except OverflowError:  # an integer too large for a float
            self._count("bad_number", event, data)
            return None
        except Exception:
            self._count("internal_error", event, data, exc_info=True)
            return None
        if result is not None:
            self._decoded += 1
        return result

    def decode_snapshot(self, data: object, code: int | None = None) -> Tick | MarketStatus | None:
        """Decode one full-shape snapshot (a ``listQuotes`` entry of subscribe or quotes).

        The code comes from ``code`` or the body's ``MessageCode``. The result also seeds
        partial-mode merging, so deltas that follow a reconnect apply to it. Never raises.
        """
        event = "listQuotes"
        try:
            obj = self._payload(event, data, BroadcastMode.FULL)
            if type(obj) is str:
                obj = self._loads(obj)
            if type(obj) is not dict:
                raise _Reject("not_an_object")
            if code is None:
                code = _ident(obj.get("MessageCode"), positive=True)
            if code == 1105:
                self._count("ignored_code", event, None)
                return None
            if code not in _KNOWN_FULL:
                raise _Reject("unknown_code")
            result = self._decode_full(code, obj)
            if isinstance(result, Tick):
                values = [getattr(result, name) for name in TICK_FIELDS]
                self._remember((result.exchange_segment, result.instrument_id, code), values)
        except _Reject as bad:
            self._count(bad.kind, event, data)
            return None
        except OverflowError:
            self._count("bad_number", event, data)
            return None
        except Exception:
            self._count("internal_error", event, data, exc_info=True)
            return None
        if result is not None:
            self._decoded += 1
        return result

    # -- internals ----------------------------------------------------------------------------

    def _event_spec(self, event: object) -> tuple[int, BroadcastMode] | None:
        spec = parse_event_name(event)
        if spec is None:
            self._count("unknown_event", event, None)
            return None
        if spec[0] not in _KNOWN_FULL and spec[0] != 1105:
            self._count("unknown_code", event, None)
            return None
        if len(self._events) < 64:  # cache only real events; garbage names are not remembered
            self._events[event] = spec
        return spec

    def _payload(self, event: object, data: object, mode: BroadcastMode) -> Any:
        """Return the payload text (or an already-parsed dict), checked for size and NULs."""
        if type(data) is str:
            text = data
        elif isinstance(data, bytes | bytearray | memoryview):
            if len(data) > self.max_payload:
                raise _Reject("oversize")
            try:
                text = bytes(data).decode("utf-8")
            except UnicodeDecodeError:
                raise _Reject("bad_encoding") from None
        elif isinstance(data, str):
            text = str(data)
        elif isinstance(data, dict) and mode is BroadcastMode.FULL:
            return data
        else:
            raise _Reject("not_a_string")
        if len(text) > self.max_payload:
            raise _Reject("oversize")
        if "\x00" in text:
            raise _Reject("nul_character")
        if not text:
            raise _Reject("invalid_json" if mode is BroadcastMode.FULL else "malformed_partial")
        return text

    @staticmethod
    def _loads(text: str) -> Any:
        try:
            return _json_decode(text)
        except (ValueError, RecursionError):
            raise _Reject("invalid_json") from None

    def _decode_full(self, code: int, payload: Any) -> Tick | MarketStatus | None:
        obj = self._loads(payload) if type(payload) is str else payload
        if type(obj) is not dict:
            raise _Reject("not_an_object")
        body_code = obj.get("MessageCode")
        if body_code is not None and body_code != code and str(body_code) != str(code):
            raise _Reject("code_mismatch")
        if code == 1507:
            return _market_status(obj)
        seg, iid = _ids(obj)
        d = _DEFAULT_VALUES.copy()
        d[_I_EXCHANGE_SEGMENT] = seg
        d[_I_INSTRUMENT_ID] = iid
        d[_I_MESSAGE_CODE] = code
        off = EPOCH_1980_OFFSET if seg in EPOCH_1980_SEGMENTS else 0
        if code in {1501, 1502, 1512}:
            _full_touchline(code, obj, d, off)
        elif code == 1505:
            _full_candle(obj, d)
        elif code == 1510:
            _full_oi(obj, d, off)
        else:  # 1504
            _full_index(obj, d, off)
        return _make_tick_args(*d)

    def _decode_partial(self, code: int, text: str) -> Tick | None:
        keys = _PARTIAL_KEYS.get(code)
        if keys is None:
            raise _Reject("unsupported_partial")
        fields = _split_partial(text)
        t = fields.pop("t", None)
        if t is None:
            raise _Reject("missing_id")
        seg_text, sep, id_text = t.partition("_")
        if not sep:
            raise _Reject("bad_id")
        seg = _ident(seg_text, positive=True)
        if code == 1504 and not (id_text.isascii() and id_text.isdigit()):
            raise _Reject("ignored_index_name")
        iid = _ident(id_text, positive=False)
        key = (seg, iid, code)
        previous = self._state.get(key)
        if previous is None:
            d = _DEFAULT_VALUES.copy()
            d[_I_EXCHANGE_SEGMENT] = seg
            d[_I_INSTRUMENT_ID] = iid
            d[_I_MESSAGE_CODE] = code
        else:
            d = previous.copy()
        off = EPOCH_1980_OFFSET if seg in EPOCH_1980_SEGMENTS else 0
        for name, value in fields.items():
            if not value:
                continue  # empty value: unchanged
            spec = keys.get(name)
            if spec is None:
                if name in {"bi", "ai"} and code in {1501, 1502}:
                    self._partial_depth(code, name, value, d)
                continue  # unknown key: ignored
            field, kind = spec
            if kind == _PRICE:
                d[field] = _price_text(value)
            elif kind == _QTY:
                d[field] = _qty_text(value)
            elif kind == _TIME_EX:
                d[field] = _time(_qty_text(value), off)
            else:
                d[field] = _time(_qty_text(value), 0)
        self._remember(key, d)
        return _make_tick_args(*d)

    @staticmethod
    def _partial_depth(code: int, name: str, value: str, d: list[Any]) -> None:
        best, ladder = (_I_BID, _I_BIDS) if name == "bi" else (_I_ASK, _I_ASKS)
        if code == 1502:
            levels = _merge_levels(value, d[ladder])
            d[ladder] = levels
            d[best] = levels[0] if levels else None
        else:
            prev = d[best]
            levels = _merge_levels(value, () if prev is None else (prev,))
            d[best] = levels[0]

    def _remember(self, key: tuple[int, int, int], d: list[Any]) -> None:
        state = self._state
        if key not in state and len(state) >= self.max_instruments:
            del state[next(iter(state))]  # evict the oldest key
        state[key] = d

    def _count(self, kind: str, event: object, data: object, *, exc_info: bool = False) -> None:
        self._counts[kind] = self._counts.get(kind, 0) + 1
        if kind in self._logged:
            return
        self._logged.add(kind)
        level = logging.DEBUG if kind in IGNORED_KINDS else logging.WARNING
        self._log.log(
            level,
            "xts decoder dropped input (%s) on event %s: %s; later ones of this kind are only "
            "counted in stats",
            kind,
            _sample(event),
            _sample(data),
            exc_info=exc_info,
        )


_KNOWN_FULL: Final = frozenset({1501, 1502, 1504, 1505, 1507, 1510, 1512})

_repr = reprlib.Repr()
_repr.maxstring = _SAMPLE_CHARS
_repr.maxother = _SAMPLE_CHARS


def _sample(value: object) -> str:
    """A short, safe description of a payload for the log: never more than ~200 characters."""
    try:
        if isinstance(value, str | bytes | bytearray):
            head = repr(value[:_SAMPLE_CHARS])
            more = f"... ({len(value)} chars)" if len(value) > _SAMPLE_CHARS else ""
            return head + more
        if value is None:
            return "-"
        return f"<{type(value).__name__}> {_repr.repr(value)[:_SAMPLE_CHARS]}"
    except Exception:
        return f"<{type(value).__name__}>"
