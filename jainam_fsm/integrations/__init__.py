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
    OPENALGO_CLASS_NAME,
    JainamPropWebSocketAdapter,
    openalgo_adapter_class,
)
from jainam_fsm.integrations.openalgo import (
    HostTokenSource,
    OpenAlgoHooks,
    TokenDbResolver,
    is_auth_error,
    openalgo_base,
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
    "OPENALGO_CLASS_NAME",
    "BaseBrokerAdapter",
    "ErrorCode",
    "HostTokenSource",
    "InMemoryResolver",
    "JainamPropWebSocketAdapter",
    "MasterFileResolver",
    "Mode",
    "OpenAlgoHooks",
    "SymbolResolver",
    "TokenDbResolver",
    "ZmqPublisher",
    "error_response",
    "is_auth_error",
    "normalize_tick",
    "openalgo_adapter_class",
    "openalgo_base",
    "success_response",
    "topic_for",
]
