"""Fake ports for unit and property tests of the pure core (and only there)."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from jainam_fsm.core.causes import Cause
from jainam_fsm.core.ports import FeedActivity, FeedToken, Instrument, RequestOutcome
from jainam_fsm.core.registry import SubKey
from jainam_fsm.errors import (
    CredentialsRejected,
    SubscriptionRejected,
    TokenRejected,
    TokenUnavailable,
    TransportFailure,
)

SECRET = "sekret-app-key-secret-0123456789"


class FakeClock:
    """Manual time. ``advance`` fires due timers in order, on the caller's thread."""

    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[tuple[float, int, _Timer]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[[], None]) -> _Timer:
        assert delay >= 0
        timer = _Timer(self.now + delay, callback)
        heapq.heappush(self._heap, (timer.due, next(self._seq), timer))
        return timer

    @property
    def pending(self) -> list[_Timer]:
        return [t for _, _, t in self._heap if not t.cancelled]

    def next_due(self) -> float | None:
        pending = self.pending
        return min(t.due for t in pending) if pending else None

    def advance(self, seconds: float) -> None:
        target = self.now + seconds
        while self._heap and self._heap[0][0] <= target:
            due, _, timer = heapq.heappop(self._heap)
            if timer.cancelled:
                continue
            self.now = due
            timer.cancelled = True
            timer.callback()
        self.now = target

    def fire_next(self) -> bool:
        due = self.next_due()
        if due is None:
            return False
        self.advance(due - self.now)
        return True


@dataclass
class _Timer:
    due: float
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class FakeBroker:
    """The server side: one market-data session per app key, subscriptions per session."""

    credentials_ok: bool = True
    down: bool = False
    store_down: bool = False
    keep_subscriptions_on_login: bool = False
    valid_token: str | None = None
    logins: int = 0
    opens: int = 0
    subscribe_requests: list[tuple[int, tuple[Instrument, ...]]] = field(default_factory=list)
    unsubscribe_requests: list[tuple[int, tuple[Instrument, ...]]] = field(default_factory=list)
    subs: set[SubKey] = field(default_factory=set)
    #: keys confirmed to the client in the current session and still subscribed
    confirmed: set[SubKey] = field(default_factory=set)
    duplicate_requests: list[SubKey] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    #: 0 = no limit; else at most this many subscriptions per session (all-or-nothing batches)
    limit: int = 0
    #: the server answers GET /instruments/subscription
    lists: bool = True
    list_requests: int = 0
    released: list[tuple[int, tuple[Instrument, ...], float]] = field(default_factory=list)
    #: release requests fail (e.g. the server is gone at shutdown)
    release_fails: bool = False
    #: the cause a down server's connect failure carries (as the real transport attaches it)
    down_cause: Cause | None = None

    def login(self) -> str:
        if not self.credentials_ok:
            raise CredentialsRejected("invalid app key or secret")
        self.logins += 1
        token = f"tok-{self.logins}-{SECRET[:6]}-payload"
        self.valid_token = token
        self.issued.append(token)
        self.confirmed.clear()
        if not self.keep_subscriptions_on_login:
            self.subs.clear()
        return token

    def invalidate(self) -> None:
        self.valid_token = None

    def check(self, token: str) -> None:
        if self.down:
            raise TransportFailure("connection refused", cause=self.down_cause)
        if token != self.valid_token:
            raise TokenRejected("Invalid Token")


class FakeTokenSource:
    def __init__(self, broker: FakeBroker) -> None:
        self.broker = broker
        self.stored: FeedToken | None = None
        self.refreshes = 0
        self.calls: list[FeedToken | None] = []

    def get_token(self, *, stale: FeedToken | None = None) -> FeedToken:
        if self.broker.store_down:
            raise TokenUnavailable("database unreachable")
        self.calls.append(stale)
        if stale is not None:
            self.refreshes += 1
        if self.stored is None or (stale is not None and stale.value == self.stored.value):
            self.stored = FeedToken(self.broker.login(), user_id="U1")
        return self.stored


class FakeFeed:
    """The tick path as the core sees it (the ``FeedMonitor`` port), moved by hand on the
    :class:`FakeClock`: a new socket, a wanted tick, an event that decodes to nothing."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.since = clock.now
        self.wanted = 0
        self.undecodable: dict[str, int] = {}
        self.raises = False
        #: wanted ticks on every socket so far
        self.total = 0

    def connecting(self) -> None:
        self.since = self.clock.now
        self.wanted = 0
        self.undecodable = {}

    def tick(self) -> None:
        self.wanted += 1
        self.total += 1
        self.since = self.clock.now
        self.undecodable = {}

    def garbage(self, name: str = "1501-json-full", n: int = 1) -> None:
        self.undecodable[name] = self.undecodable.get(name, 0) + n

    def activity(self) -> FeedActivity:
        if self.raises:
            raise RuntimeError("feed monitor bug")
        return FeedActivity(self.since, self.wanted, dict(self.undecodable), {"api": "json"})


class FakeTransport:
    def __init__(self, broker: FakeBroker, feed: FakeFeed | None = None) -> None:
        self.broker = broker
        self.feed = feed
        self.connected = False
        self.token: str | None = None
        self.closes = 0

    def open(self, token: FeedToken) -> None:
        assert not self.connected, "open() while a socket is up: two connections"
        self.broker.opens += 1
        if self.feed is not None:
            self.feed.connecting()  # as the real transport: a new socket starts the count
        self.broker.check(token.value)
        self.connected = True
        self.token = token.value

    def close(self) -> None:
        self.closes += 1
        self.connected = False

    def _request(self) -> None:
        if not self.connected or self.broker.down:
            raise TransportFailure("socket is down")
        assert self.token is not None
        self.broker.check(self.token)

    def subscribe(self, code: int, instruments: Sequence[Instrument]) -> RequestOutcome:
        self.broker.subscribe_requests.append((code, tuple(instruments)))
        self._request()
        keys = {(s, i, code) for s, i in instruments}
        self.broker.duplicate_requests.extend(sorted(keys & self.broker.confirmed))
        new = keys - self.broker.subs
        if self.broker.limit and len(self.broker.subs) + len(new) > self.broker.limit:
            raise SubscriptionRejected("HTTP 400 e-session-0004 'Subscription limit exceeded'")
        self.broker.subs |= keys
        self.broker.confirmed |= keys
        return RequestOutcome.DONE if new else RequestOutcome.ALREADY

    def unsubscribe(self, code: int, instruments: Sequence[Instrument]) -> RequestOutcome:
        self.broker.unsubscribe_requests.append((code, tuple(instruments)))
        self._request()
        keys = {(s, i, code) for s, i in instruments}
        self.broker.subs -= keys
        self.broker.confirmed -= keys
        return RequestOutcome.DONE

    def list_subscriptions(self) -> frozenset[SubKey] | None:
        self.broker.list_requests += 1
        self._request()
        return frozenset(self.broker.subs) if self.broker.lists else None

    def release(self, code: int, instruments: Sequence[Instrument], timeout: float) -> None:
        self.broker.released.append((code, tuple(instruments), timeout))
        if self.broker.release_fails:
            raise TransportFailure("timed out")
        self.unsubscribe(code, instruments)


class RecordingTelemetry:
    def __init__(self) -> None:
        self.records: list[tuple[str, int, dict[str, object]]] = []

    def emit(self, event: str, level: int, fields: dict[str, object]) -> None:
        self.records.append((event, level, dict(fields)))

    def named(self, event: str) -> list[dict[str, object]]:
        return [f for e, _, f in self.records if e == event]


@dataclass
class Rig:
    """A lifecycle wired to fakes."""

    lifecycle: object
    broker: FakeBroker
    tokens: FakeTokenSource
    transport: FakeTransport
    clock: FakeClock
    telemetry: RecordingTelemetry
    exhausted: list[str]
    #: the tick path, when the rig has a stall watchdog (``make_rig(stall_timeout=...)``)
    feed: FakeFeed | None = None


def make_rig(**kwargs: object) -> Rig:
    from jainam_fsm.core.lifecycle import Lifecycle
    from jainam_fsm.core.registry import SubscriptionRegistry

    broker = FakeBroker()
    tokens = FakeTokenSource(broker)
    clock = FakeClock()
    feed = FakeFeed(clock) if kwargs.get("stall_timeout") is not None else None
    if feed is not None:
        kwargs["feed"] = feed
    transport = FakeTransport(broker, feed)
    telemetry = RecordingTelemetry()
    exhausted: list[str] = []
    lc = Lifecycle(
        registry=SubscriptionRegistry(),
        tokens=tokens,
        transport=transport,
        clock=clock,
        telemetry=telemetry,
        on_exhausted=exhausted.append,
        **kwargs,  # type: ignore[arg-type]
    )
    return Rig(lc, broker, tokens, transport, clock, telemetry, exhausted, feed)
