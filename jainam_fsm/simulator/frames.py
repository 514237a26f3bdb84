"""Socket.IO events encoded once, sendable in either Engine.IO dialect.

A :class:`Frame` is one Socket.IO event on the default namespace: its Socket.IO packet text
(``2[...]`` or, with binary attachments, ``51-[...]``) plus the attachments. The Socket.IO layer is
the same for Socket.IO 2 and 5 on ``/``; only the Engine.IO framing around it differs, so each
dialect asks the frame for its own form (cached: a tick sent to 100 sockets is encoded once).
"""

from __future__ import annotations

from collections.abc import Callable
from json.encoder import encode_basestring_ascii

import socketio
from engineio.packet import MESSAGE as EIO_MESSAGE
from engineio.packet import Packet as EioPacket

__all__ = ["Frame", "data_frame", "event_frame"]

_quote: Callable[[str], str] = encode_basestring_ascii

#: Engine.IO 3 prefixes a binary websocket frame with the packet type byte (MESSAGE = 4).
EIO3_BINARY_PREFIX = b"\x04"


class Frame:
    """One encoded Socket.IO event; see the module docstring."""

    __slots__ = ("_eio3", "_eio4", "attachments", "text")

    def __init__(self, text: str, attachments: tuple[bytes, ...] = ()) -> None:
        self.text = text
        self.attachments = attachments
        self._eio4: tuple[EioPacket, ...] | None = None
        self._eio3: tuple[str | bytes, ...] | None = None

    def eio4(self) -> tuple[EioPacket, ...]:
        """Engine.IO 4 packets: a MESSAGE with the text, one binary MESSAGE per attachment."""
        packets = self._eio4
        if packets is None:
            packets = self._eio4 = (
                EioPacket(EIO_MESSAGE, self.text),
                *(EioPacket(EIO_MESSAGE, a) for a in self.attachments),
            )
        return packets

    def eio3(self) -> tuple[str | bytes, ...]:
        """Engine.IO 3 websocket frames: ``"4" + text``, then ``0x04 + data`` per attachment."""
        frames = self._eio3
        if frames is None:
            frames = self._eio3 = (
                "4" + self.text,
                *(EIO3_BINARY_PREFIX + a for a in self.attachments),
            )
        return frames


def data_frame(event: str, payload: str) -> Frame:
    """The frame of a string-payload event, built without python-socketio's encoder.

    Socket.IO EVENT on "/" without ack id: ``2`` + JSON array, exactly as
    ``socketio.packet.Packet.encode()`` writes it (a test pins the equality). The strings are
    escaped by the json module's C helper directly: no encoder object, no list walk.
    """
    return Frame(f"2[{_quote(event)},{_quote(payload)}]")


def event_frame(event: str, data: object) -> Frame:
    """The frame of any event python-socketio can encode (bytes become attachments)."""
    encoded = socketio.packet.Packet(socketio.packet.EVENT, data=[event, data]).encode()
    if isinstance(encoded, list):
        text, *attachments = encoded
        return Frame(str(text), tuple(bytes(a) for a in attachments))
    return Frame(str(encoded))
