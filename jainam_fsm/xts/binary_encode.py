"""Encoding of :class:`Tick` records as binary XTS packets (the simulator's and the tests' side).

The inverse of :mod:`jainam_fsm.xts.binary`; the format is described in the binary chapter of
``docs/xts-protocol.md``. Encoders are not on a receive loop: they raise ``ValueError`` for a
record the chosen layout cannot carry (a code other than 1501/1502/1510, a quantity beyond the
layout's integer width, an instrument id beyond 32 bits, a payload over 65535 bytes).

The binary format has no "absent" value, so unset tick fields are written as follows (and
decode accordingly): a ``None`` price as NaN (decoders sanitise it to ``None``; the official
SDKs to 0), a ``None`` time or sequence number as 0 ("not set", decodes to ``None``), a
``None`` quantity, book type or market type as 0 (decodes to 0), a ``None`` ``bid``/``ask`` as
``bids[0]``/``asks[0]`` when present (as the JSON decoder fills them), else as a zero row
(decodes to ``DepthLevel(0.0, 0, 0)``). Buy-back fields and ``BuyBackMarketMaker`` are 0.

``decode(encode_tick(t)) == [t]`` therefore holds for 1501/1502 ticks whose quantities, book
and market types are set and whose bid/ask are set or derivable, and for 1510 ticks with a
market type.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Final, Literal

from jainam_fsm.xts.binary_layout import HDR, HDR_Z, LAYOUTS, OI_HEAD, OI_TAIL, ROW, TOUCHLINE
from jainam_fsm.xts.codes import EPOCH_1980_SEGMENTS
from jainam_fsm.xts.ticks import DepthLevel, Tick
from jainam_fsm.xts.timeconv import EPOCH_1980_OFFSET, IST

__all__ = [
    "CORRUPT_KINDS",
    "corrupt_packet",
    "encode_event",
    "encode_payload",
    "encode_tick",
    "frame_packet",
    "opaque_packet",
]

Layout = Literal["A", "B"]
#: Kinds of broken packets :func:`corrupt_packet` builds; each is the decoder's stats kind.
CORRUPT_KINDS: Final = (
    "bad_flag",
    "truncated",
    "bad_deflate",
    "bad_inflated_length",
    "skipped",
)

_EPOCH_1970_IST = datetime(1970, 1, 1, tzinfo=IST)
_SECOND = timedelta(seconds=1)
_NAN = math.nan
_ZERO_ROW = DepthLevel(0.0, 0, 0)
_FILLER = struct.pack("<d", 1271.75) + struct.pack("<d", 23512.4)  # looks like prices


def _wire_time(when: datetime | None, segment: int, epoch_1980: frozenset[int]) -> int:
    if when is None:
        return 0
    if when.tzinfo is None:
        raise ValueError("naive datetime: XTS times must be timezone-aware")
    seconds = (when - _EPOCH_1970_IST) // _SECOND
    return seconds - (EPOCH_1980_OFFSET if segment in epoch_1980 else 0)


def _price(value: float | None) -> float:
    return _NAN if value is None else float(value)


def _int(value: int | None) -> int:
    return 0 if value is None else value


def _dotnet_string(text: str) -> bytes:
    """A .NET ``BinaryWriter`` string behind a presence byte (0 = empty, nothing follows)."""
    if not text:
        return b"\x00"
    data = text.encode("utf-8")
    n = len(data)
    varint = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        varint.append(byte | (0x80 if n else 0))
        if not n:
            break
    return b"\x01" + bytes(varint) + data


def _common(
    code: int, segment: int, instrument: int, *, exchange_ts: int, sequence: int, version: int,
    properties: Sequence[tuple[str, str]], legacy_header: str,
) -> bytes:  # fmt: skip
    ids = struct.pack("<hiQ", segment, instrument, exchange_ts)
    if version < 4 and legacy_header == "pyb":  # neither SequenceNumber nor the count
        return struct.pack("<HHHQ", code, version, 0, 0) + ids
    if version < 4 and legacy_header == "jsb":  # only the 4-byte count
        return struct.pack("<HHHQi", code, version, 0, 0, 0) + ids
    strings = b"".join(_dotnet_string(k) + _dotnet_string(v) for k, v in properties)
    head = struct.pack("<HHHQqi", code, version, 0, 0, sequence, len(properties))
    return head + strings + ids


def _touchline(tick: Tick, layout: Layout, epoch_1980: frozenset[int]) -> bytes:
    seg = tick.exchange_segment
    bid = tick.bid or (tick.bids[0] if tick.bids else _ZERO_ROW)
    ask = tick.ask or (tick.asks[0] if tick.asks else _ZERO_ROW)
    return TOUCHLINE[layout].pack(
        bid.size, bid.price, bid.orders, 0,
        ask.size, ask.price, ask.orders, 0,
        _wire_time(tick.last_update_time, seg, epoch_1980),
        _price(tick.ltp),
        _int(tick.ltq),
        _int(tick.total_buy_quantity),
        _int(tick.total_sell_quantity),
        _int(tick.volume),
        _price(tick.average_price),
        _wire_time(tick.last_traded_time, seg, epoch_1980),
        _price(tick.percent_change),
        _price(tick.open), _price(tick.high), _price(tick.low), _price(tick.close),
        _price(tick.total_value_traded),
        0, 0,
        _int(tick.book_type), _int(tick.market_type),
    )  # fmt: skip


def _levels(levels: Sequence[DepthLevel], layout: Layout) -> bytes:
    row = ROW[layout]
    return struct.pack("<i", len(levels)) + b"".join(
        row.pack(level.size, level.price, level.orders, 0) for level in levels
    )


def encode_payload(
    tick: Tick,
    *,
    layout: Layout = "B",
    message_version: int = 4,
    extended_properties: Sequence[tuple[str, str]] = (),
    nan_total_value_traded: bool = False,
    underlying_segment: int = 0,
    underlying_instrument_id: int = 0,
    underlying_name: str = "",
    underlying_total_oi: int = 0,
    legacy_header: Literal["net", "jsb", "pyb"] = "net",
    epoch_1980_segments: frozenset[int] = EPOCH_1980_SEGMENTS,
) -> bytes:
    """The uncompressed payload (common header + body) of ``tick`` as 1501, 1502 or 1510.

    ``message_version`` below 4 writes one of the older common headers (``legacy_header``:
    ``"net"`` keeps SequenceNumber and the property count, ``"jsb"`` only the count, ``"pyb"``
    neither). ``underlying_*`` fill the 1510 body (``underlying_name`` at most 127 bytes).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}")
    code = tick.message_code
    seg = tick.exchange_segment
    try:
        head = _common(
            code,
            seg,
            tick.instrument_id,
            exchange_ts=_wire_time(tick.exchange_time, seg, epoch_1980_segments),
            sequence=_int(tick.sequence_number),
            version=message_version,
            properties=extended_properties,
            legacy_header=legacy_header,
        )
        if code in (1501, 1502):
            if nan_total_value_traded:
                tick = _with_nan_tvt(tick)
            body = _touchline(tick, layout, epoch_1980_segments)
            if code == 1502:
                body = _levels(tick.bids, layout) + _levels(tick.asks, layout) + body
        elif code == 1510:
            name = underlying_name.encode("utf-8")
            if len(name) > 127:
                raise ValueError("underlying name longer than 127 bytes")
            body = OI_HEAD[layout].pack(
                _int(tick.market_type), _int(tick.open_interest), underlying_segment,
                underlying_instrument_id, 1 if name else 0,
            )  # fmt: skip
            if name:
                body += bytes([len(name)]) + name
            body += OI_TAIL[layout].pack(underlying_total_oi)
        else:
            raise ValueError(f"message code {code} has no binary layout (1501, 1502, 1510)")
    except struct.error as exc:
        raise ValueError(f"layout {layout} cannot carry this {code} tick: {exc}") from None
    payload = head + body
    if len(payload) > 0xFFFF:
        raise ValueError("payload longer than 65535 bytes")
    return payload


def _with_nan_tvt(tick: Tick) -> Tick:
    return replace(tick, total_value_traded=_NAN)


def frame_packet(
    code: int,
    segment: int,
    instrument: int,
    payload: bytes,
    *,
    compress: bool = False,
    level: int = 6,
    book_type: int = 1,
    market_type: int = 1,
) -> bytes:
    """One packet: flag + 14-byte header (+ compressed size) + payload, raw or raw DEFLATE."""
    try:
        if not compress:
            return HDR.pack(0, code, segment, instrument, book_type, market_type, len(payload)) + (
                payload
            )
        deflater = zlib.compressobj(level, zlib.DEFLATED, -15)
        data = deflater.compress(payload) + deflater.flush()
        head = HDR_Z.pack(
            1, code, segment, instrument, book_type, market_type, len(payload), len(data)
        )
    except struct.error as exc:
        raise ValueError(f"packet header cannot carry these values: {exc}") from None
    return head + data


def encode_tick(
    tick: Tick,
    *,
    layout: Layout = "B",
    compress: bool = False,
    level: int = 6,
    message_version: int = 4,
    extended_properties: Sequence[tuple[str, str]] = (),
    nan_total_value_traded: bool = False,
    underlying_segment: int = 0,
    underlying_instrument_id: int = 0,
    underlying_name: str = "",
    underlying_total_oi: int = 0,
    legacy_header: Literal["net", "jsb", "pyb"] = "net",
    epoch_1980_segments: frozenset[int] = EPOCH_1980_SEGMENTS,
) -> bytes:
    """``tick`` (1501, 1502 or 1510) as one packet in ``layout``, raw or compressed
    (``zlib.compressobj(level, DEFLATED, -15)``). See :func:`encode_payload` for the options."""
    payload = encode_payload(
        tick,
        layout=layout,
        message_version=message_version,
        extended_properties=extended_properties,
        nan_total_value_traded=nan_total_value_traded,
        underlying_segment=underlying_segment,
        underlying_instrument_id=underlying_instrument_id,
        underlying_name=underlying_name,
        underlying_total_oi=underlying_total_oi,
        legacy_header=legacy_header,
        epoch_1980_segments=epoch_1980_segments,
    )
    return frame_packet(
        tick.message_code,
        tick.exchange_segment,
        tick.instrument_id,
        payload,
        compress=compress,
        level=level,
        book_type=_int(tick.book_type) if tick.message_code != 1510 else 1,
        market_type=_int(tick.market_type),
    )


def opaque_packet(
    code: int, segment: int, instrument: int, size: int, *, compress: bool = False
) -> bytes:
    """A packet of ``code`` whose ``size``-byte payload no decoder can parse (e.g. 1512, whose
    binary layout no public source gives): a version-4 common header when ``size >= 40``, then
    bytes that read as plausible prices, so a decoder that scans for prices would be caught."""
    if not 0 <= size <= 0xFFFF:
        raise ValueError("size must be 0..65535")
    if size >= 40:
        head = struct.pack("<HHHQqihiQ", code, 4, 0, 0, 0, 0, segment, instrument, 0)
    else:
        head = struct.pack("<H", code)[:size]
    filler = _FILLER * (size // len(_FILLER) + 1)
    payload = (head + filler)[:size]
    return frame_packet(code, segment, instrument, payload, compress=compress)


def encode_event(packets: Iterable[bytes], *, eio3_prefix: bool = False) -> bytes:
    """One ``xts-binary-packet`` attachment: the packets back to back, with one leading
    ``0x04`` when ``eio3_prefix`` (Jainam as an Engine.IO 4 client receives it)."""
    data = b"".join(packets)
    return b"\x04" + data if eio3_prefix else data


def corrupt_packet(kind: str, tick: Tick, *, layout: Layout = "B") -> bytes:
    """A broken packet made from ``tick`` that :class:`~jainam_fsm.xts.binary.BinaryDecoder`
    counts under ``kind`` (one of :data:`CORRUPT_KINDS`).

    ``bad_flag`` and ``truncated`` lose framing: the decoder drops the rest of the event, so
    put them last. ``bad_deflate`` and ``bad_inflated_length`` are compressed packets whose
    framing holds. ``skipped`` is a raw 1501 one byte short (no layout has that length).
    """
    payload = encode_payload(tick, layout=layout)
    code, seg, inst = tick.message_code, tick.exchange_segment, tick.instrument_id
    if kind == "bad_flag":
        return b"\x02" + frame_packet(code, seg, inst, payload)[1:]
    if kind == "truncated":
        return frame_packet(code, seg, inst, payload)[:-1]
    if kind == "bad_deflate":
        good = frame_packet(code, seg, inst, payload, compress=True)
        return good[:17] + b"\xff" * (len(good) - 17)  # reserved block type 3: invalid
    if kind == "bad_inflated_length":
        good = frame_packet(code, seg, inst, payload + b"\x00", compress=True)
        return good[:13] + struct.pack("<H", len(payload)) + good[15:]
    if kind == "skipped":
        return frame_packet(code, seg, inst, payload[:-1])
    raise ValueError(f"unknown corrupt kind {kind!r}; one of {CORRUPT_KINDS}")
