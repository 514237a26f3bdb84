"""Embedding in broker platforms: the OpenAlgo-style adapter surface and ZeroMQ publishing.

See ``docs/embedding.md``. ``pyzmq`` is the optional extra ``jainam-fsm[zmq]``; it is imported
only when an adapter connects.
"""

from jainam_fsm.integrations.base import (
    EXCHANGE_SEGMENTS,
    BaseBrokerAdapter,
    ErrorCode,
    Mode,
    error_response,
    success_response,
)
from jainam_fsm.integrations.jainam_prop import (
    BROKER_NAME,
    DEFAULT_CONSUMER,
    JainamPropWebSocketAdapter,
)
from jainam_fsm.integrations.payloads import normalize_tick, topic_for
from jainam_fsm.integrations.publisher import DEFAULT_ZMQ_ADDRESS, ZmqPublisher
from jainam_fsm.integrations.symbols import (
    InMemoryResolver,
    MasterFileResolver,
    SymbolResolver,
)

__all__ = [
    "BROKER_NAME",
    "DEFAULT_CONSUMER",
    "DEFAULT_ZMQ_ADDRESS",
    "EXCHANGE_SEGMENTS",
    "BaseBrokerAdapter",
    "ErrorCode",
    "InMemoryResolver",
    "JainamPropWebSocketAdapter",
    "MasterFileResolver",
    "Mode",
    "SymbolResolver",
    "ZmqPublisher",
    "error_response",
    "normalize_tick",
    "success_response",
    "topic_for",
]
