"""Decoding of the binary XTS market-data API (``xts-binary-packet`` events) into :class:`Tick`.

One :class:`BinaryDecoder` per connection. ``decode(data)`` takes one event's attachment and
returns the ticks of all its packets, in order; it never raises. Everything it drops is counted
in :meth:`BinaryDecoder.stats` by kind (logged once per kind) and skipped packets also per
``(code, payload size)`` in :attr:`BinaryDecoder.skipped`. The wire format, its sources and the
decisions are in the binary chapter of ``docs/xts-protocol.md``; in short:

* An event is one or more packets back to back, optionally preceded by one ``0x04`` (the
  Engine.IO 3 message type byte that an Engine.IO 4 client leaves in place; stripped when
  ``data[0] == 4 and data[1] in (0, 1)``).
* Packet = ``u8 flag`` (0 raw, 1 raw DEFLATE) + ``u16 code, i16 segment, i32 instrument,
  i16 book type, i16 market type, u16 payload size`` + (flag 1 only) ``u16 compressed size`` +
  payload. All little-endian. Compressed payloads must inflate to exactly the payload size.
* Payload = 40-byte common header (version 4: sequence number and extended-property count;
  .NET strings when the count is positive) + body. 1501, 1502 and 1510 bodies come in layout A
  (32-bit quantities, official SDKs) or B (64-bit quantities, Jainam production); the layout is
  chosen per packet by the exact payload length. 1512 and anything else is skipped by size.
* Framing errors (flag not 0/1, header or payload past the end) lose the rest of the event;
  a bad DEFLATE stream or a wrong inflated length only loses its own packet.
* Bad values inside a good packet do not lose the tick: NaN/Inf doubles become ``None``
  (``nonfinite``) and out-of-range times ``None`` (``bad_time``); a time or sequence number of
  0 means "not set" and is ``None``.

Parsing uses precompiled :class:`struct.Struct` objects on a ``memoryview`` (no per-field
slicing). :meth:`BinaryDecoder.decode_messages` returns the raw wire values instead of ticks
(tests, diagnostics).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Mapping
from datetime import datetime
from struct import Struct
from typing import Any, Final

from jainam_fsm.xts.binary_layout import (
    BODY_CODES,
    COMMON,
    COMMON_SIZE,
    I32,
    IDS,
    LAYOUTS,
    OI_HEAD,
    OLD_HEADERS,
    ROW_SIZE,
    ROWS,
    TOUCHLINE_SIZE,
    body_length,
    raw_message,
)
from jainam_fsm.xts.codes import EPOCH_1980_SEGMENTS
from jainam_fsm.xts.ticks import (
    DepthLevel,
    Tick,
    _make_level,
    _make_tick_args,
)
from jainam_fsm.xts.timeconv import EPOCH_1980_OFFSET, cached_time_from_wire, wire_time_cache

__all__ = ["BINARY_IGNORED_KINDS", "BinaryDecoder"]

log = logging.getLogger("jainam_fsm.xts")

#: Stats kinds that are counted but are not errors (the tick, if any, is still delivered).
BINARY_IGNORED_KINDS: Final = frozenset({"skipped", "nonfinite", "bad_time", "ambiguous_layout"})

#: Largest DEFLATE stream inflated in one shot; bigger ones inflate with an output bound, so a
#: crafted stream cannot allocate more than the header's payload size (+1 byte).
_ONE_SHOT_INFLATE = 2048
_MAX_SKIPPED_KEYS = 512
_MAX_PROPERTIES = 64
_SAMPLE_BYTES = 64

# The packet headers as the decoder reads them (HDR / HDR_Z of binary_layout, same sizes): the
# flag (already read), book type and market type (the payload repeats them) are pad bytes, so
# the unpack makes a 4- or 5-tuple instead of a 7- or 8-tuple.
_HDR_IN: Final = Struct("<xHhixxxxH")  # code, segment, instrument, payload size
_HDR_Z_IN: Final = Struct("<xHhixxxxHH")  # ... + compressed size
# TOUCHLINE (binary_layout) with the fields no Tick carries as pad bytes: BuyBackMarketMaker of
# both rows and the two buy-back totals. 22 values: bid size, price, orders, ask size, price,
# orders, LastUpdateTime, LTP, LTQ, TBQ, TSQ, TTQ, ATP, LTT, PercentChange, OHLC,
# TotalValueTraded, BookType, XMarketType.
_TOUCH_IN: Final = {
    "A": Struct("<idi2xidi2xqdiIIIdqdddddd4xhh"),
    "B": Struct("<qdi2xqdi2xqdqqqqdqdddddd4xhh"),
}
# A whole version-4 1501 payload without extended properties in one unpack (the hot path),
# keyed by payload size: code, version, (application type, token skipped), sequence number,
# property count, then IDS (segment, instrument, exchange timestamp), then _TOUCH_IN: 29 values.
_FUSED_IN: Final = {
    COMMON_SIZE + TOUCHLINE_SIZE[lay]: Struct("<HH2x8xqihiQ" + _TOUCH_IN[lay].format[1:])
    for lay in LAYOUTS
}
_TIMES_1970 = wire_time_cache(0)
_TIMES_1980 = wire_time_cache(EPOCH_1980_OFFSET)


class BinaryDecoder:
    """Stateful decoder of ``xts-binary-packet`` attachments for one connection.

    Not thread-safe: use it from one thread. ``epoch_1980_segments`` are the segments whose
    times count from 1980-01-01 (India wall clock); all others count from 1970.
    """

    def __init__(
        self,
        *,
        epoch_1980_segments: frozenset[int] = EPOCH_1980_SEGMENTS,
        logger: logging.Logger | None = None,
    ) -> None:
        self.epoch_1980_segments = frozenset(epoch_1980_segments)
        self._log = logger if logger is not None else log
        self._skipped: dict[tuple[int, int], int] = {}
        self._counts: dict[str, int] = {}
        self._logged: set[object] = set()
        self._decoded = 0
        self._events = 0
        self._packets = 0
        self._compressed = 0
        self._nonfinite = 0  # not an error and frequent (NaN TotalValueTraded): not logged
        self._layout = "B"  # the last layout chosen unambiguously (B = Jainam production)
        self._raw = False

    # -- public API -------------------------------------------------------------------------

    @property
    def skipped(self) -> Mapping[tuple[int, int], int]:
        """Packets skipped by size without decoding, per ``(message code, payload size)``:
        1512, unknown codes and sizes no layout matches. At most 512 keys; further ones are
        counted under ``(-1, -1)``."""
        return dict(self._skipped)

    @property
    def layout(self) -> str:
        """The layout (``"A"`` or ``"B"``) of the last packet whose length chose one alone;
        used to settle the rare lengths both layouts fit."""
        return self._layout

    def stats(self) -> dict[str, int]:
        """``{"decoded": ticks, "events": n, "packets": n, "compressed": n, "<kind>": n}``.

        Kinds: errors ``not_bytes``, ``empty_event``, ``bad_flag``, ``truncated``,
        ``bad_deflate``, ``bad_inflated_length``, ``bad_header``, ``bad_properties``,
        ``code_mismatch``, ``id_mismatch``, ``bad_id``, ``internal_error``; not errors
        (:data:`BINARY_IGNORED_KINDS`): ``skipped``, ``nonfinite``, ``bad_time``,
        ``ambiguous_layout``.
        """
        out = {
            "decoded": self._decoded,
            "events": self._events,
            "packets": self._packets,
            "compressed": self._compressed,
        }
        if self._nonfinite:
            out["nonfinite"] = self._nonfinite
        out.update(self._counts)
        return out

    @property
    def errors(self) -> int:
        """Dropped input that is not one of :data:`BINARY_IGNORED_KINDS`."""
        return sum(n for k, n in self._counts.items() if k not in BINARY_IGNORED_KINDS)

    def reset(self) -> None:
        """Forget per-connection state (the remembered layout). Counters are kept."""
        self._layout = "B"

    def decode(self, data: bytes | bytearray | memoryview) -> list[Tick]:
        """The ticks of one ``xts-binary-packet`` attachment, in packet order. Never raises."""
        if type(data) is not bytes:
            return self._run(data)
        # The usual attachment, inline (one call fewer per event than _run).
        self._events += 1
        out: list[Any] = []
        try:
            self._event(data, out)
        except Exception:
            self._count("internal_error", data, exc_info=True)
        self._decoded += len(out)
        return out

    def decode_messages(self, data: bytes | bytearray | memoryview) -> list[dict[str, Any]]:
        """Like :meth:`decode` but each packet as a dict of its raw wire values (times as wire
        seconds, NaN kept, plus ``layout``, ``compressed``, ``message_version``, buy-back
        fields and the 1510 underlying). For tests and diagnostics, not the hot path."""
        self._raw = True
        try:
            return self._run(data)
        finally:
            self._raw = False

    # -- framing ------------------------------------------------------------------------------

    def _run(self, data: object) -> list[Any]:
        self._events += 1
        out: list[Any] = []
        try:
            if type(data) is bytes:
                self._event(data, out)
            elif isinstance(data, bytes | bytearray | memoryview):
                with memoryview(data) as view:
                    try:
                        mv = view.cast("B")
                    except (TypeError, ValueError):  # not C-contiguous: not one attachment
                        self._count("not_bytes", data)
                        return out
                    with mv:
                        self._event(mv, out)
            else:
                self._count("not_bytes", data)
        except Exception:
            self._count("internal_error", data, exc_info=True)
        self._decoded += len(out)
        return out

    def _event(self, buf: Any, out: list[Any]) -> None:
        n = len(buf)
        if n == 0:
            self._count("empty_event", buf)
            return
        raw = self._raw
        packets = compressed = 0  # counted locally, stored once (the finally below)
        off = 1 if n >= 2 and buf[0] == 4 and buf[1] <= 1 else 0
        try:
            while off < n:
                flag = buf[off]
                if flag == 0:
                    if off + 15 > n:
                        self._count("truncated", buf)
                        return
                    code, seg, inst, size = _HDR_IN.unpack_from(buf, off)
                    payload = buf
                    p = off + 15
                    off = p + size
                    if off > n:
                        self._count("truncated", buf)
                        return
                    packets += 1
                elif flag == 1:
                    if off + 17 > n:
                        self._count("truncated", buf)
                        return
                    code, seg, inst, size, csize = _HDR_Z_IN.unpack_from(buf, off)
                    p = off + 17
                    off = p + csize
                    if off > n:
                        self._count("truncated", buf)
                        return
                    packets += 1
                    compressed += 1
                    if csize <= _ONE_SHOT_INFLATE:  # the usual case, inline
                        try:
                            payload = zlib.decompress(buf[p:off], -15, size or 1)
                        except zlib.error:
                            self._count("bad_deflate", buf)
                            continue
                        if len(payload) != size:
                            self._count("bad_inflated_length", buf)
                            continue
                    else:
                        payload = self._inflate(buf, p, csize, size)
                        if payload is None:
                            continue
                    p = 0
                else:
                    self._count("bad_flag", buf)
                    return
                if code == 1501 and not raw:
                    # The hot path: a version-4 1501 without extended properties is one unpack.
                    fused = _FUSED_IN.get(size)
                    if fused is not None:
                        tick = self._touch_tick(fused.unpack_from(payload, p), seg, inst)
                        if tick is not None:
                            self._layout = "A" if size == 180 else "B"
                            out.append(tick)
                            continue
                item = self._packet((code, seg, inst, size), payload, p, compressed=flag == 1)
                if item is not None:
                    out.append(item)
        finally:
            self._packets += packets
            self._compressed += compressed

    def _inflate(self, buf: Any, start: int, csize: int, size: int) -> bytes | None:
        """Inflate a stream too big for one shot with an output bound (the small ones are
        inflated inline in :meth:`_event`)."""
        try:
            inflater = zlib.decompressobj(-15)
            payload = inflater.decompress(buf[start : start + csize], size + 1)
            if len(payload) <= size and not inflater.eof:  # input used up, stream unfinished
                raise zlib.error("incomplete or truncated stream")
        except zlib.error:
            self._count("bad_deflate", buf)
            return None
        if len(payload) != size:
            self._count("bad_inflated_length", buf)
            return None
        return payload

    # -- one packet ---------------------------------------------------------------------------

    def _packet(
        self, head: tuple[int, int, int, int], buf: Any, p: int, *, compressed: bool
    ) -> Any:
        """Everything but the fused 1501 fast path of :meth:`_event`."""
        code, seg, inst, size = head
        if code not in BODY_CODES:
            self._skip(code, size)
            return None
        if size < 28:
            self._skip(code, size)
            return None
        pcode, version, _, _, seq, nprops = COMMON.unpack_from(buf, p)
        if pcode != code:
            self._count("code_mismatch", buf)
            return None
        end = p + size
        if version >= 4:
            if size < COMMON_SIZE:
                self._skip(code, size)
                return None
            q = p + 26
            if nprops:
                q = self._properties(buf, q, end, nprops)
                if q < 0:
                    return None
            if q + 14 > end:
                self._skip(code, size)
                return None
            found = self._choose(code, buf, q + 14, end)
            if found is None:
                self._skip(code, size)
                return None
            pseg, pinst, ts = IDS.unpack_from(buf, q)
            if pseg != seg or pinst != inst:
                self._count("id_mismatch", buf)
                return None
        else:  # older versions: the first header variant whose length and ids both fit
            for body_at, ids_at, has_seq in OLD_HEADERS:
                found = self._choose(code, buf, p + body_at, end)
                if found is not None:
                    pseg, pinst, ts = IDS.unpack_from(buf, p + ids_at)
                    if pseg == seg and pinst == inst:
                        seq = seq if has_seq else 0
                        break
                    found = None
            if found is None:
                self._skip(code, size)
                return None
        if seg <= 0 or inst < 0:
            self._count("bad_id", buf)
            return None
        layout, body, unique = found
        if unique:
            self._layout = layout
        else:
            self._count("ambiguous_layout", buf)
        if self._raw:
            meta = (seg, inst, ts, seq, version)
            return raw_message(code, layout, buf, body, meta, compressed=compressed)
        if code == 1510:
            off = EPOCH_1980_OFFSET if seg in self.epoch_1980_segments else 0
            return self._oi_tick(layout, buf, body, (seg, inst, ts, seq, off))
        bids: tuple[DepthLevel, ...] = ()
        asks: tuple[DepthLevel, ...] = ()
        if code == 1502:
            bids, body = self._levels(layout, buf, body)
            asks, body = self._levels(layout, buf, body)
        # Shaped like a _FUSED_IN unpack; the header was checked above (version 4 stands in).
        v = (code, 4, seq, 0, seg, inst, ts, *_TOUCH_IN[layout].unpack_from(buf, body))
        return self._touch_tick(v, seg, inst, (bids, asks))

    def _properties(self, buf: Any, q: int, end: int, count: int) -> int:
        """Skip ``count`` .NET key/value string pairs; the offset after them, or -1."""
        if not 0 < count <= _MAX_PROPERTIES:
            self._count("bad_properties", buf)
            return -1
        for _ in range(2 * count):
            if q >= end:
                self._count("bad_properties", buf)
                return -1
            present = buf[q]
            q += 1
            if not present:
                continue
            length = shift = 0
            while True:  # 7-bit varint, at most 5 bytes (BinaryReader.Read7BitEncodedInt)
                if q >= end or shift > 28:
                    self._count("bad_properties", buf)
                    return -1
                byte = buf[q]
                q += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            q += length
        if q > end:
            self._count("bad_properties", buf)
            return -1
        return q

    def _choose(self, code: int, buf: Any, body: int, end: int) -> tuple[str, int, bool] | None:
        """``(layout, body offset, unique)`` of the layout whose length is ``end - body``."""
        length = end - body
        if code == 1501:
            if length == 140:
                return "A", body, True
            if length == 164:
                return "B", body, True
            return None
        fits = [lay for lay in LAYOUTS if body_length(code, lay, buf, body, end) == length]
        if len(fits) == 1:
            return fits[0], body, True
        if not fits:
            return None
        return self._layout, body, False

    def _skip(self, code: int, size: int) -> None:
        key = (code, size)
        skipped = self._skipped
        if key not in skipped and len(skipped) >= _MAX_SKIPPED_KEYS:
            key = (-1, -1)
        skipped[key] = skipped.get(key, 0) + 1
        self._counts["skipped"] = self._counts.get("skipped", 0) + 1
        if key not in self._logged and len(self._logged) < _MAX_SKIPPED_KEYS:
            self._logged.add(key)
            # An unknown size of a known code may be a new layout: worth a WARNING.
            level = logging.WARNING if code in BODY_CODES else logging.DEBUG
            self._log.log(
                level,
                "xts binary decoder skipped message code %d with payload size %d; later ones "
                "are only counted in skipped",
                code,
                size,
            )

    # -- bodies -> ticks ------------------------------------------------------------------------

    def _touch_tick(
        self,
        v: tuple[Any, ...],
        seg: int,
        inst: int,
        depth: tuple[tuple[DepthLevel, ...], tuple[DepthLevel, ...]] | None = None,
    ) -> Tick | None:
        """A 1501/1502 tick from ``v``, the 29 values of a :data:`_FUSED_IN` unpack.

        ``depth`` is ``(bids, asks)`` from :meth:`_packet`, which has checked the header;
        without it (the fused 1501 path) ``v`` must be a version-4 1501 without extended
        properties whose ids match the packet header's ``seg``/``inst``, else ``None``.
        """
        (
            code, version, seq, nprops, pseg, pinst, ts,  # COMMON, IDS
            bsz, bp, bo, asz, ap, ao,  # bid row, ask row
            lut, ltp, ltq, tbq, tsq, vol, atp, ltt, pc, o, h, lo, c, tvt, bt, mt,
        ) = v  # fmt: skip
        if depth is None:
            if not (
                code == 1501
                and version >= 4
                and nprops == 0
                and pseg == seg
                and pinst == inst
                and seg > 0
                and inst >= 0
            ):
                return None
            bids: tuple[DepthLevel, ...] = ()
            asks: tuple[DepthLevel, ...] = ()
        else:
            bids, asks = depth
        # One sum tells whether the nine prices are finite (an overflow to inf only sends a
        # good packet down the per-field path). TotalValueTraded is checked on its own: NaN
        # there is common (NET marks the field obsolete) and must not slow every packet.
        s = bp + ap + ltp + atp + pc + o + h + lo + c
        if s - s == 0.0:
            bid: DepthLevel | None = _make_level(bp, bsz, bo)
            ask: DepthLevel | None = _make_level(ap, asz, ao)
        else:
            f = self._finite
            bid = None if f(bp) is None else _make_level(bp, bsz, bo)
            ask = None if f(ap) is None else _make_level(ap, asz, ao)
            ltp, atp, pc = f(ltp), f(atp), f(pc)
            o, h, lo, c = f(o), f(h), f(lo), f(c)
        if tvt - tvt != 0.0:
            tvt = None
            self._nonfinite += 1
        # Times: one lookup each in the shared memo (0 -> None is in it); a miss decodes.
        if seg in self.epoch_1980_segments:
            times, off = _TIMES_1980, EPOCH_1980_OFFSET
        else:
            times, off = _TIMES_1970, 0
        try:
            ltt_dt = times[ltt]
        except KeyError:
            ltt_dt = self._time(ltt, off)
        try:
            lut_dt = times[lut]
        except KeyError:
            lut_dt = self._time(lut, off)
        try:
            ts_dt = times[ts]
        except KeyError:
            ts_dt = self._time(ts, off)
        # Every Tick field, positionally in declaration order (ticks.TICK_FIELDS).
        return _make_tick_args(
            seg, inst, code,  # exchange_segment, instrument_id, message_code
            ltp, ltq, ltt_dt, lut_dt, ts_dt,  # ltp, ltq, last_traded/last_update/exchange_time
            o, h, lo, c,  # open, high, low, close
            vol, atp, tbq, tsq,  # volume, average_price, total_buy/sell_quantity
            tvt, pc, bid, ask, bids, asks,  # total_value_traded, percent_change, depth
            None, None, None, None,  # open_interest, bar_time, bar_volume, sum_qty_price
            bt, mt, seq or None,  # book_type, market_type, sequence_number
        )  # fmt: skip

    def _levels(self, layout: str, buf: Any, p: int) -> tuple[tuple[DepthLevel, ...], int]:
        count = I32.unpack_from(buf, p)[0]  # within 0.._MAX_LEVELS: checked by _choose
        v = ROWS[layout][count].unpack_from(buf, p + 4)
        levels: list[DepthLevel] = []
        append = levels.append
        for i in range(0, 4 * count, 4):
            price = v[i + 1]
            if price - price != 0.0:
                self._nonfinite += 1
                continue
            append(_make_level(price, v[i], v[i + 2]))
        return tuple(levels), p + 4 + ROW_SIZE[layout] * count

    def _oi_tick(
        self, layout: str, buf: Any, body: int, meta: tuple[int, int, int, int, int]
    ) -> Tick:
        seg, inst, ts, seq, off = meta
        market_type, oi = OI_HEAD[layout].unpack_from(buf, body)[:2]
        # Every Tick field, positionally in declaration order (ticks.TICK_FIELDS).
        return _make_tick_args(
            seg, inst, 1510,  # exchange_segment, instrument_id, message_code
            None, None, None, None, self._time(ts, off),  # ltp .. exchange_time
            None, None, None, None,  # open, high, low, close
            None, None, None, None,  # volume, average_price, total_buy/sell_quantity
            None, None, None, None, (), (),  # total_value_traded .. asks
            oi, None, None, None,  # open_interest, bar_time, bar_volume, sum_qty_price
            None, market_type, seq or None,  # book_type, market_type, sequence_number
        )  # fmt: skip

    def _finite(self, value: float) -> float | None:
        if value - value == 0.0:
            return value
        self._nonfinite += 1
        return None

    def _time(self, value: int, off: int) -> datetime | None:
        times = _TIMES_1980 if off else _TIMES_1970
        try:
            return times[value]
        except KeyError:
            pass
        try:
            return cached_time_from_wire(times, value, off)
        except ValueError:
            self._count("bad_time", None)
            return None

    # -- accounting ---------------------------------------------------------------------------

    def _count(self, kind: str, data: object, *, exc_info: bool = False) -> None:
        self._counts[kind] = self._counts.get(kind, 0) + 1
        if kind in self._logged:
            return
        self._logged.add(kind)
        level = logging.DEBUG if kind in BINARY_IGNORED_KINDS else logging.WARNING
        self._log.log(
            level,
            "xts binary decoder: %s in an xts-binary-packet event (%s); later ones of this kind "
            "are only counted in stats",
            kind,
            _sample(data),
            exc_info=exc_info,
        )


def _sample(data: object) -> str:
    """Type and size plus the first bytes in hex: enough to recognise a packet in a log."""
    try:
        if isinstance(data, bytes | bytearray | memoryview):
            raw = bytes(data[:_SAMPLE_BYTES])
            more = f"... ({len(data)} bytes)" if len(data) > _SAMPLE_BYTES else ""
            return raw.hex() + more
        if data is None:
            return "-"
        return f"<{type(data).__name__}>"
    except Exception:
        return f"<{type(data).__name__}>"
