"""The binary XTS wire layouts as precompiled :class:`struct.Struct` objects (shared by
:mod:`.binary` and :mod:`.binary_encode`; not public API).

Every integer is little-endian. Offsets, field lists and sources: the binary chapter of
``docs/xts-protocol.md``. A packet is ``HDR`` (raw) or ``HDR_Z`` (compressed) + payload; a
payload is ``COMMON`` (+ .NET strings) + ``IDS`` + a body. Bodies come in layout A (32-bit
quantities, 18-byte depth rows) or B (64-bit quantities, 22-byte rows):

* 1501 = ``TOUCHLINE[layout]`` (140 / 164 bytes: bid row, ask row, LastUpdateTime, LTP, LTQ,
  TBQ, TSQ, TTQ, ATP, LTT, PercentChange, OHLC, TotalValueTraded, buy-back totals, BookType,
  XMarketType);
* 1502 = ``i32 n`` + n rows + ``i32 m`` + m rows + ``TOUCHLINE[layout]``;
* 1510 = ``OI_HEAD[layout]`` (+ ``u8 length`` + name when its last field is 1) + ``OI_TAIL``.
"""

from __future__ import annotations

from struct import Struct
from typing import Any, Final

__all__ = [
    "BODY_CODES",
    "COMMON",
    "COMMON_SIZE",
    "FUSED_1501",
    "HDR",
    "HDR_Z",
    "I32",
    "IDS",
    "LAYOUTS",
    "MAX_LEVELS",
    "OI_HEAD",
    "OI_TAIL",
    "OLD_HEADERS",
    "ROW",
    "ROWS",
    "ROW_SIZE",
    "TOUCHLINE",
    "TOUCHLINE_SIZE",
    "body_length",
    "raw_message",
]

#: The two body layouts: A (32-bit quantities, official SDKs), B (64-bit, Jainam production).
LAYOUTS: Final = ("A", "B")
#: Message codes with a known body; every other code is skipped by size.
BODY_CODES: Final = frozenset({1501, 1502, 1510})
#: Depth levels accepted per side (5 in practice; the JSON decoder also accepts up to 20).
MAX_LEVELS: Final = 20

HDR: Final = Struct("<BHhihhH")  # flag, code, segment, instrument, book, market, payload size
HDR_Z: Final = Struct("<BHhihhHH")  # ... + compressed size
COMMON: Final = Struct("<HHHQqi")  # code, version, application type, token, sequence, count
IDS: Final = Struct("<hiQ")  # segment, instrument, exchange timestamp
I32: Final = Struct("<i")
#: The common header's length with no extended properties (version 4).
COMMON_SIZE: Final = 40
#: Common headers of MessageVersion < 4: (body offset, offset of IDS, SequenceNumber present).
#: NET reads SequenceNumber and the count always (authoritative), JSB only the 4-byte count,
#: PYB/GO neither.
OLD_HEADERS: Final = ((40, 26, True), (32, 18, False), (28, 14, False))

#: Depth row: size, price, total orders, BuyBackMarketMaker.
ROW: Final = {"A": Struct("<idih"), "B": Struct("<qdih")}
ROW_SIZE: Final = {"A": 18, "B": 22}
#: ``ROWS[layout][n]`` unpacks n rows at once.
ROWS: Final = {
    lay: tuple(Struct("<" + ROW[lay].format[1:] * n) for n in range(MAX_LEVELS + 1))
    for lay in LAYOUTS
}
#: TouchlineData + BookType + XMarketType: the 1501 body and the tail of a 1502 body.
TOUCHLINE: Final = {
    "A": Struct("<idihidihqdiIIIdqddddddHHhh"),
    "B": Struct("<qdihqdihqdqqqqdqddddddHHhh"),
}
TOUCHLINE_SIZE: Final = {"A": 140, "B": 164}
#: A whole version-4 1501 payload without extended properties (COMMON + IDS + TOUCHLINE) in
#: one Struct, keyed by payload size (180: layout A, 204: layout B): the hot path's one unpack.
FUSED_1501: Final = {
    40 + TOUCHLINE_SIZE[lay]: Struct(COMMON.format + IDS.format[1:] + TOUCHLINE[lay].format[1:])
    for lay in LAYOUTS
}
#: 1510: XTSMarketType, OpenInterest, UnderlyingSegment, UnderlyingInstrumentID, IsStringExists.
OI_HEAD: Final = {"A": Struct("<hihQb"), "B": Struct("<hqhQb")}
#: 1510: UnderlyingTotalOpenInterest.
OI_TAIL: Final = {"A": Struct("<i"), "B": Struct("<Q")}


def body_length(code: int, layout: str, buf: Any, body: int, end: int) -> int:
    """The length a ``code`` body of ``layout`` starting at ``body`` must have, or -1 when the
    counts it depends on lie outside the payload or out of range."""
    if code == 1502:
        row = ROW_SIZE[layout]
        p = body
        for _ in range(2):
            if p + 4 > end:
                return -1
            count = I32.unpack_from(buf, p)[0]
            if not 0 <= count <= MAX_LEVELS:
                return -1
            p += 4 + row * count
        return p - body + TOUCHLINE_SIZE[layout]
    # 1510
    head = OI_HEAD[layout].size
    fixed = head + OI_TAIL[layout].size
    if body + head > end:
        return -1
    flag = buf[body + head - 1]
    if flag == 0:
        return fixed
    if flag != 1 or body + head >= end:
        return -1
    length: int = buf[body + head]
    if length > 127:  # i8 length
        return -1
    return fixed + 1 + length


def raw_message(
    code: int, layout: str, buf: Any, body: int, meta: tuple[int, int, int, int, int], *,
    compressed: bool,
) -> dict[str, Any]:  # fmt: skip
    """A packet's raw wire values (:meth:`~jainam_fsm.xts.binary.BinaryDecoder.decode_messages`)."""
    seg, inst, ts, seq, version = meta
    m: dict[str, Any] = {
        "message_code": code,
        "exchange_segment": seg,
        "instrument_id": inst,
        "compressed": compressed,
        "message_version": version,
        "sequence": seq,
        "exchange_timestamp": ts,
        "layout": layout,
    }
    if code == 1510:
        head = OI_HEAD[layout]
        mt, oi, useg, uid, has_name = head.unpack_from(buf, body)
        q = body + head.size
        name = ""
        if has_name == 1:
            length = buf[q]
            name = bytes(buf[q + 1 : q + 1 + length]).decode("utf-8", "replace")
            q += 1 + length
        m.update(
            market_type=mt,
            open_interest=oi,
            underlying_segment=useg,
            underlying_instrument_id=uid,
            underlying_name=name,
            underlying_total_oi=OI_TAIL[layout].unpack_from(buf, q)[0],
        )
        return m
    if code == 1502:
        for side in ("bids", "asks"):
            count = I32.unpack_from(buf, body)[0]
            v = ROWS[layout][count].unpack_from(buf, body + 4)
            m[side] = [
                {"size": v[i], "price": v[i + 1], "orders": v[i + 2]}
                for i in range(0, 4 * count, 4)
            ]
            body += 4 + ROW_SIZE[layout] * count
    t = TOUCHLINE[layout].unpack_from(buf, body)
    m.update(
        bid={"size": t[0], "price": t[1], "orders": t[2]},
        ask={"size": t[4], "price": t[5], "orders": t[6]},
        last_update_time=t[8],
        ltp=t[9],
        ltq=t[10],
        total_buy_qty=t[11],
        total_sell_qty=t[12],
        volume=t[13],
        atp=t[14],
        ltt=t[15],
        percent_change=t[16],
        open=t[17],
        high=t[18],
        low=t[19],
        close=t[20],
        total_value_traded=t[21],
        buyback_total_buy=t[22],
        buyback_total_sell=t[23],
        book_type=t[24],
        market_type=t[25],
    )
    return m
