"""The I/O shell around the core: supervisor thread, asyncio I/O thread, tick delivery."""

from jainam_fsm.streaming.adapter import AdapterShutDown, StreamingAdapter
from jainam_fsm.streaming.aio import AsyncStreamingAdapter
from jainam_fsm.streaming.config import AdapterConfig

__all__ = ["AdapterConfig", "AdapterShutDown", "AsyncStreamingAdapter", "StreamingAdapter"]
