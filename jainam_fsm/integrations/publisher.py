"""A ZeroMQ PUB socket that connects to the platform proxy's SUB (the proxy binds).

Messages are two frames, ``[topic, json]``, as OpenAlgo's proxy reads them. The socket has its
own :class:`zmq.Context`; :meth:`ZmqPublisher.close` closes the socket with linger 0 and
terminates the context, so nothing (no fd, no I/O thread) outlives the adapter.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from jainam_fsm.errors import ConfigError

__all__ = ["DEFAULT_ZMQ_ADDRESS", "ZMQ_ADDRESS_ENV", "ZmqPublisher", "zmq_address_from_env"]

log = logging.getLogger("jainam_fsm.integrations")

DEFAULT_ZMQ_ADDRESS = "tcp://127.0.0.1:5555"
#: Our variable; OpenAlgo's ``ZMQ_HOST``/``ZMQ_PORT`` are honoured when it is not set.
ZMQ_ADDRESS_ENV = "JAINAM_ZMQ_ADDRESS"


def zmq_address_from_env(environ: Mapping[str, str] | None = None) -> str:
    """``JAINAM_ZMQ_ADDRESS``, else ``tcp://$ZMQ_HOST:$ZMQ_PORT``, else the default."""
    env = os.environ if environ is None else environ
    explicit = (env.get(ZMQ_ADDRESS_ENV) or "").strip()
    if explicit:
        return explicit
    host = (env.get("ZMQ_HOST") or "").strip()
    port = (env.get("ZMQ_PORT") or "").strip()
    if host or port:
        if port and not (port.isdigit() and 1 <= int(port) <= 65535):
            # Never echo the value (a secret typed into the wrong variable stays unprinted).
            raise ConfigError("ZMQ_PORT must be a port number from 1 to 65535")
        return f"tcp://{host or '127.0.0.1'}:{port or '5555'}"
    return DEFAULT_ZMQ_ADDRESS


class ZmqPublisher:
    """Publishes JSON payloads on a PUB socket connected to ``address``. Thread-safe.

    :param address: the proxy's SUB endpoint, e.g. ``tcp://127.0.0.1:5555``.
    :param sndhwm: messages queued per peer before ZeroMQ drops (PUB never blocks).
    """

    def __init__(self, address: str = DEFAULT_ZMQ_ADDRESS, *, sndhwm: int = 1000) -> None:
        import zmq  # optional extra: pip install jainam-fsm[zmq]

        self.address = address
        self._zmq = zmq
        self._lock = threading.Lock()
        self.sent = 0
        self.errors = 0
        self._context = zmq.Context()
        try:
            self._socket = self._context.socket(zmq.PUB)
            self._socket.setsockopt(zmq.SNDHWM, sndhwm)
            self._socket.setsockopt(zmq.LINGER, 0)
            self._socket.connect(address)
        except Exception:
            self._context.destroy(linger=0)
            raise
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def socket(self) -> Any:
        """The PUB socket (OpenAlgo's proxy and pool read an adapter's ``socket``)."""
        return self._socket

    @property
    def context(self) -> Any:
        """The socket's private :class:`zmq.Context`."""
        return self._context

    @property
    def port(self) -> int | None:
        """The TCP port of :attr:`address` (None for other transports)."""
        head, _, port = self.address.rpartition(":")
        return int(port) if head.startswith("tcp://") and port.isdigit() else None

    def publish(self, topic: str, data: Mapping[str, Any]) -> bool:
        """Send ``[topic, json(data)]``. False (counted and logged) if it could not be sent."""
        try:
            frames = [topic.encode("utf-8"), json.dumps(data, separators=(",", ":")).encode()]
        except (TypeError, ValueError) as exc:
            self.errors += 1
            log.error("zmq publish %s: payload not JSON-serialisable: %s", topic, exc)
            return False
        with self._lock:
            if self._closed:
                return False
            try:
                self._socket.send_multipart(frames, flags=self._zmq.NOBLOCK)
            except self._zmq.Again:
                self.errors += 1  # high-water mark reached: PUB drops rather than block
                return False
            except self._zmq.ZMQError as exc:
                self.errors += 1
                log.error("zmq publish %s failed: %s", topic, exc)
                return False
            self.sent += 1
            return True

    def close(self) -> None:
        """Close the socket (linger 0) and terminate the context. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._socket.close(linger=0)
            finally:
                self._context.term()

    def __enter__(self) -> ZmqPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ZmqPublisher(address={self.address!r}, closed={self._closed})"
