"""Prometheus metrics for a running adapter (the optional ``metrics`` extra: ``prometheus_client``).

:class:`AdapterCollector` is a custom collector: it reads :meth:`StreamingAdapter.stats` when
Prometheus scrapes, so the tick path pays nothing (no metric object is touched per tick).
Register it in your own registry::

    from prometheus_client import REGISTRY
    from jainam_fsm.metrics import AdapterCollector

    REGISTRY.register(AdapterCollector(adapter))

or serve it alone with :func:`serve` (what ``jainam-fsm stream --metrics-port N`` does):
``/metrics`` in the Prometheus text format and ``/healthz``, 200 only while the stream is ready
(connected with every subscription reconciled), 503 otherwise.

Metric names and meanings are listed in docs/operations.md (Monitoring with Prometheus).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

try:
    from prometheus_client import CollectorRegistry, make_wsgi_app
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
    from prometheus_client.registry import Collector
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "jainam_fsm.metrics needs prometheus_client: pip install 'jainam-fsm[metrics]'"
    ) from exc

from jainam_fsm.core.machine import State

if TYPE_CHECKING:
    from jainam_fsm.streaming.adapter import StreamingAdapter

#: every metric name this collector exposes (``_total`` is added to counters by the format)
PREFIX = "jainam"

#: (stats key, metric name, help) of the plain counters
COUNTERS = (
    ("ticks_dropped", "ticks_dropped", "Ticks evicted from the full delivery queue (oldest first)"),
    ("logins", "logins", "Logins made (a stored token is reused without one)"),
    ("reconnects", "reconnects", "Reconnect attempts scheduled (reconnect.scheduled events)"),
    ("socket_connects", "socket_connects", "Sockets opened"),
    ("stalls", "stalls", "Stalls detected by the watchdog (silence on a ready stream)"),
    ("replays", "replays", "Subscription replays made (connect, reconnect, subscribe changes)"),
    ("callback_errors", "callback_errors", "Exceptions raised by the consumer's callbacks"),
    ("events_undecodable", "events_undecodable", "Socket events that decoded to nothing"),
)

#: (stats key, metric name, help) of the plain gauges
GAUGES = (
    ("queue_depth", "queue_depth", "Items waiting in the delivery queue"),
    ("subscriptions", "subscriptions", "Subscriptions wanted by the consumers"),
    ("server_subscriptions", "server_subscriptions", "Subscriptions the server holds for us"),
    ("attempt", "reconnect_attempt", "Reconnect attempt in progress (0 when ready)"),
    ("last_replay_seconds", "last_replay_seconds", "Duration of the last subscription replay"),
    ("last_tick_age_seconds", "last_tick_age_seconds", "Seconds since the last wanted tick"),
)


class AdapterCollector(Collector):
    """Reads one adapter's ``stats()`` at scrape time. ``name`` becomes the ``feed`` label
    (for a process with several adapters)."""

    def __init__(self, adapter: StreamingAdapter, name: str = "default") -> None:
        self.adapter = adapter
        self.name = name

    def describe(self) -> Iterable[Metric]:
        # The names without samples: registering never calls stats() (nor collect()).
        return list(self._families({}))

    def collect(self) -> Iterable[Metric]:
        return list(self._families(self.adapter.stats()))

    def _families(self, stats: dict[str, Any]) -> Iterator[Metric]:
        feed = [self.name]
        state = GaugeMetricFamily(
            f"{PREFIX}_lifecycle_state",
            "1 for the lifecycle state the adapter is in, 0 for the others",
            labels=["feed", "state"],
        )
        ready = GaugeMetricFamily(
            f"{PREFIX}_ready",
            "1 while connected with every subscription reconciled",
            labels=["feed"],
        )
        ticks = CounterMetricFamily(
            f"{PREFIX}_ticks",
            "Ticks handed to the consumer, by message code",
            labels=["feed", "code"],
        )
        if stats:
            for s in State:
                state.add_metric([*feed, s.value], 1.0 if stats.get("state") == s.value else 0.0)
            ready.add_metric(feed, 1.0 if stats.get("ready") else 0.0)
            for code, n in sorted((stats.get("ticks_by_code") or {}).items()):
                ticks.add_metric([*feed, str(code)], float(n))
        yield state
        yield ready
        yield ticks
        for key, name, doc in COUNTERS:
            counter = CounterMetricFamily(f"{PREFIX}_{name}", doc, labels=["feed"])
            if stats:
                counter.add_metric(feed, _number(stats.get(key)))
            yield counter
        for key, name, doc in GAUGES:
            gauge = GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=["feed"])
            if stats:
                gauge.add_metric(feed, _number(stats.get(key)))
            yield gauge


def _number(value: object) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    return math.nan  # unknown (e.g. no tick yet)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # scrapes every few seconds are not worth a log line each


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def wsgi_app(registry: CollectorRegistry, ready: Callable[[], bool]) -> WsgiApp:
    """``/metrics`` (the registry) and ``/healthz`` (200 while ``ready()``, else 503)."""
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        if path == "/healthz":
            ok = ready()
            body = b"ready\n" if ok else b"not ready\n"
            status = "200 OK" if ok else "503 Service Unavailable"
            start_response(
                status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
            )
            return [body]
        body = b"not found: try /metrics or /healthz\n"
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [body]

    return app


class MetricsServer:
    """A running ``/metrics`` + ``/healthz`` HTTP server on its own daemon thread."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self.thread = thread

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def close(self) -> None:
        """Stop serving and close the socket. Idempotent."""
        if self.thread.is_alive():
            self._server.shutdown()
            self.thread.join(5)
        self._server.server_close()


def serve(
    adapter: StreamingAdapter, port: int, host: str = "127.0.0.1", name: str = "default"
) -> MetricsServer:
    """Serve ``adapter``'s metrics on ``host:port`` (port 0: any free port; see
    :attr:`MetricsServer.port`). Uses its own registry, so nothing else leaks in."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(AdapterCollector(adapter, name))
    app = wsgi_app(registry, lambda: bool(adapter.stats().get("ready")))
    server = make_server(host, port, app, _Server, handler_class=_QuietHandler)
    thread = threading.Thread(
        target=server.serve_forever, name="jainam-metrics", kwargs={"poll_interval": 0.2}
    )
    thread.daemon = True
    thread.start()
    return MetricsServer(server, thread)
