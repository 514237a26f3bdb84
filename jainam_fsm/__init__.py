"""jainam-fsm: an XTS market-data connection that never silently goes quiet.

The public API, importable from here::

    from jainam_fsm import AdapterConfig, StreamingAdapter

Names are loaded on first use, so ``import jainam_fsm.core`` stays free of any socket, HTTP or
database import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    # streaming: the product
    "StreamingAdapter": "jainam_fsm.streaming.adapter",
    "AsyncStreamingAdapter": "jainam_fsm.streaming.aio",
    "AdapterConfig": "jainam_fsm.streaming.config",
    "AdapterShutDown": "jainam_fsm.streaming.adapter",
    # the lifecycle
    "State": "jainam_fsm.core.machine",
    "Trigger": "jainam_fsm.core.machine",
    "BackoffPolicy": "jainam_fsm.core.backoff",
    "FeedToken": "jainam_fsm.core.ports",
    "TokenSource": "jainam_fsm.core.ports",
    "TelemetrySink": "jainam_fsm.core.ports",
    "Readiness": "jainam_fsm.core.ports",
    "Refusal": "jainam_fsm.core.ports",
    # ticks
    "Tick": "jainam_fsm.xts.ticks",
    "MarketStatus": "jainam_fsm.xts.ticks",
    "DepthLevel": "jainam_fsm.xts.ticks",
    "MessageCode": "jainam_fsm.xts.codes",
    "ExchangeSegment": "jainam_fsm.xts.codes",
    "BroadcastMode": "jainam_fsm.xts.codes",
    # names, modes, the instrument master, REST market data (docs/instruments.md)
    "Mode": "jainam_fsm.instruments.modes",
    "MarketDataClient": "jainam_fsm.instruments.client",
    "InstrumentMaster": "jainam_fsm.instruments.master",
    "UnknownInstrument": "jainam_fsm.instruments.master",
    # tokens
    "TokenStore": "jainam_fsm.store",
    "StoredTokenSource": "jainam_fsm.store",
    # telemetry
    "LoggingTelemetry": "jainam_fsm.telemetry",
    "configure_json_logging": "jainam_fsm.telemetry",
    # errors
    "JainamError": "jainam_fsm.errors",
    "ConfigError": "jainam_fsm.errors",
    "CredentialsRejected": "jainam_fsm.errors",
    "TokenRejected": "jainam_fsm.errors",
    "TokenUnavailable": "jainam_fsm.errors",
    "TransportFailure": "jainam_fsm.errors",
    "SubscriptionRejected": "jainam_fsm.errors",
}

__all__ = [
    "AdapterConfig",
    "AdapterShutDown",
    "AsyncStreamingAdapter",
    "BackoffPolicy",
    "BroadcastMode",
    "ConfigError",
    "CredentialsRejected",
    "DepthLevel",
    "ExchangeSegment",
    "FeedToken",
    "InstrumentMaster",
    "JainamError",
    "LoggingTelemetry",
    "MarketDataClient",
    "MarketStatus",
    "MessageCode",
    "Mode",
    "Readiness",
    "Refusal",
    "State",
    "StoredTokenSource",
    "StreamingAdapter",
    "SubscriptionRejected",
    "TelemetrySink",
    "Tick",
    "TokenRejected",
    "TokenSource",
    "TokenStore",
    "TokenUnavailable",
    "TransportFailure",
    "Trigger",
    "UnknownInstrument",
    "__version__",
    "configure_json_logging",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        # Lazy: importlib.metadata pulls in email/socket, which the core must not need.
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("jainam-fsm")
        except PackageNotFoundError:  # a source tree that was never installed
            return "0.0.0"
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'jainam_fsm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from jainam_fsm.core.backoff import BackoffPolicy
    from jainam_fsm.core.machine import State, Trigger
    from jainam_fsm.core.ports import FeedToken, TelemetrySink, TokenSource
    from jainam_fsm.errors import (
        ConfigError,
        CredentialsRejected,
        JainamError,
        SubscriptionRejected,
        TokenRejected,
        TokenUnavailable,
        TransportFailure,
    )
    from jainam_fsm.instruments.client import MarketDataClient
    from jainam_fsm.instruments.master import InstrumentMaster, UnknownInstrument
    from jainam_fsm.instruments.modes import Mode
    from jainam_fsm.store import StoredTokenSource, TokenStore
    from jainam_fsm.streaming.adapter import AdapterShutDown, StreamingAdapter
    from jainam_fsm.streaming.aio import AsyncStreamingAdapter
    from jainam_fsm.streaming.config import AdapterConfig
    from jainam_fsm.telemetry import LoggingTelemetry, configure_json_logging
    from jainam_fsm.xts.codes import BroadcastMode, ExchangeSegment, MessageCode
    from jainam_fsm.xts.ticks import DepthLevel, MarketStatus, Tick
