"""The ZeroMQ half of the adapter contract: who owns the PUB socket, and publishing through it.

OpenAlgo's proxy and connection pool read an adapter's ``socket``/``context``/``zmq_port``,
call ``publish_market_data`` and ``cleanup_zmq``, and may put their own publisher in place
(``docs/openalgo.md`` §1-2). :class:`ZmqSide` is a base of
:class:`~jainam_fsm.integrations.jainam_prop.JainamPropWebSocketAdapter`: the adapter opens its
own :class:`~jainam_fsm.integrations.publisher.ZmqPublisher` only when no host did, and
otherwise defers to the host's base class (reached through ``super()``, which in
``class X(JainamPropWebSocketAdapter, BaseBrokerWebSocketAdapter)`` is OpenAlgo's).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from jainam_fsm.errors import ConfigError
from jainam_fsm.integrations.base import ErrorCode, error_response
from jainam_fsm.integrations.publisher import ZmqPublisher, zmq_address_from_env

__all__ = ["ZmqSide"]


class ZmqSide:
    """Publishing attributes and methods of the adapter (its ``__init__`` sets the fields)."""

    #: ZeroMQ attributes OpenAlgo's proxy and pool read (set by a host base class, or by
    #: ``connect`` when the adapter opens its own PUB socket).
    socket: Any
    context: Any
    zmq_port: int | None
    _publisher: ZmqPublisher | None
    _zmq_address: str | None
    _environ: Mapping[str, str] | None
    _lock: threading.RLock

    @property
    def publisher(self) -> ZmqPublisher | None:
        """The live ZeroMQ publisher (None when disconnected)."""
        return self._publisher

    def publish_market_data(self, topic: str, data: Mapping[str, Any]) -> bool | None:
        """Send ``[topic, json(data)]`` on the PUB socket: our own, or the one a host base class
        opened. The connection pool replaces this method on the instance to route through its
        shared publisher; the adapter always publishes through the attribute. False when the
        message could not be sent (counted)."""
        publisher = self._publisher
        if publisher is not None:
            return publisher.publish(topic, data)
        parent = getattr(super(), "publish_market_data", None)
        if parent is not None:
            parent(topic, data)
            return None
        return False

    def cleanup_zmq(self) -> None:
        """Close the PUB socket (linger 0) and its context if this adapter opened them, else let
        a host base class clean up its own. Idempotent."""
        if self._close_own_publisher():
            return
        parent = getattr(super(), "cleanup_zmq", None)
        if parent is not None and self.socket is not None:
            parent()
            self.socket = None

    def _address(self) -> str:
        return self._zmq_address or zmq_address_from_env(self._environ)

    def _open_publisher(self) -> tuple[ZmqPublisher | None, dict[str, Any] | None]:
        """``(publisher, None)``: our own PUB socket, connected, or None when a host publishes;
        ``(None, error envelope)`` when it cannot be opened."""
        try:
            return (None if self._host_publishes() else ZmqPublisher(self._address())), None
        except ImportError:
            return None, error_response(
                ErrorCode.CONFIG_ERROR, "pyzmq is not installed: pip install jainam-fsm[zmq]"
            )
        except ConfigError as exc:
            return None, error_response(ErrorCode.CONFIG_ERROR, str(exc))
        except Exception as exc:
            return None, error_response(
                ErrorCode.ZMQ_ERROR,
                f"cannot connect the PUB socket: {type(exc).__name__}: {exc}",
            )

    def _adopt_publisher(self, publisher: ZmqPublisher | None) -> None:
        """Make ``publisher`` (from :meth:`_open_publisher`) the live one (``_lock`` held)."""
        self._publisher = publisher
        if publisher is not None:
            self.socket, self.context = publisher.socket, publisher.context
            self.zmq_port = publisher.port

    def _close_own_publisher(self) -> bool:
        """Close the PUB socket this adapter opened, if any (a host's socket stays open)."""
        with self._lock:
            publisher, self._publisher = self._publisher, None
        if publisher is None:
            return False
        publisher.close()
        self.socket = self.context = None
        self.zmq_port = None
        return True

    def _host_publishes(self) -> bool:
        """True when someone else owns publishing: the connection pool replaced
        ``publish_market_data`` (or marked us as using its shared publisher), or a host base
        class opened ``socket`` for us."""
        return (
            "publish_market_data" in vars(self)
            or bool(getattr(self, "_uses_shared_zmq", False))
            or (self.socket is not None and self._publisher is None)
        )
