"""The stall watchdog: when a silent feed counts as stalled, what the stall says, and the
timer that asks.

:class:`StallWatchdog` is the policy, pure: no clock, no thread, no I/O; time is passed in, so
the tests (and Hypothesis) drive it with a manual clock. :class:`StallTimer` runs it on the
lifecycle's owner thread (``Clock.call_later``) while the stream is ``ready`` and the server
holds at least one of our subscriptions; :class:`~jainam_fsm.core.lifecycle.Lifecycle` fires
``connection_lost`` with the stall's reason when a check finds one.

The policy (docs/operations.md § 3):

* Silence counts from the latest of: watching began, the current socket started opening, the
  last tick for a wanted instrument. Nothing else is life: not pings, not unwanted
  instruments, not events that decode to nothing.
* A silence of ``timeout x factor`` or more is a stall. It is *undecodable* when events that
  decode to nothing arrived during it (the feed talks, but not in a form we read), otherwise
  *stalled*.
* The factor starts at 1. A stall on a socket that received nothing at all (no wanted tick, no
  undecodable event: a closed or very quiet market) doubles it for the next socket, up to
  :data:`MAX_FACTOR`, so a quiet feed is not reconnected every ``timeout`` forever. A wanted
  tick on the current socket brings it back to 1.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from jainam_fsm.core.ports import (
    Cancellable,
    Clock,
    Emit,
    FeedActivity,
    FeedMonitor,
    InternalError,
)

#: The allowance grows to at most this many times the timeout.
MAX_FACTOR = 8
#: Longest wait between two checks while the allowance is above 1x: a wanted tick (which the
#: core only learns of by asking) brings the allowance back to 1x, and the next check must
#: not be a whole 8x allowance away.
MAX_POLL = 1.0
#: Shortest wait between two checks (float rounding must never make the timer spin).
MIN_POLL = 0.001
#: A silence this close below the allowance counts as reaching it: the timer is due at
#: ``since + allowance`` computed as ``now + delay``, which float rounding may put a hair
#: early, and a re-check ``MIN_POLL`` later would report the stall late.
EPSILON = 1e-6


class StallKind(StrEnum):
    """Why a silent feed counts as lost; the value is the ``connection_lost`` reason."""

    #: nothing usable arrived (``connection.stalled``, WARNING)
    STALLED = "stall"
    #: events arrived but none decoded to a wanted tick (``connection.undecodable``, ERROR)
    UNDECODABLE = "undecodable"


@dataclass(frozen=True, slots=True)
class Stall:
    """A stall the watchdog found: what it reports and the reason the connection is lost."""

    kind: StallKind
    #: seconds of silence (at least ``allowance``)
    silent: float
    #: the allowance this socket had, and the one the next socket gets
    allowance: float
    next_allowance: float
    #: undecodable events during the silence, by event name (empty for ``STALLED``)
    events: dict[str, int] = field(default_factory=dict)

    @property
    def event(self) -> str:
        """The telemetry record's name."""
        if self.kind is StallKind.UNDECODABLE:
            return "connection.undecodable"
        return "connection.stalled"

    def fields(self) -> dict[str, object]:
        """The telemetry record's fields (``silent_seconds`` rounded up to the ms, so a
        report never shows a silence below its allowance)."""
        out: dict[str, object] = {
            "silent_seconds": math.ceil(self.silent * 1000) / 1000,
            "allowance": self.allowance,
            "next_allowance": self.next_allowance,
        }
        if self.events:
            out["events"] = dict(self.events)
            out["undecodable_events"] = sum(self.events.values())
        return out


class StallWatchdog:
    """The stall policy with its state (the allowance factor and the counts).

    :param timeout: seconds of silence a socket is allowed at 1x (``stall_timeout``).
    """

    def __init__(self, timeout: float) -> None:
        number = isinstance(timeout, int | float) and not isinstance(timeout, bool)
        if not (number and math.isfinite(timeout) and timeout > 0):
            raise ValueError("stall timeout must be a finite number > 0")
        self.timeout = float(timeout)
        self.factor = 1
        #: stalls found, and how many of them were undecodable
        self.stalls = 0
        self.undecodable_stalls = 0

    @property
    def allowance(self) -> float:
        """The silence the current socket is allowed, in seconds."""
        return self.timeout * self.factor

    @property
    def poll(self) -> float:
        """Longest wait between checks while the factor is above 1."""
        return min(MAX_POLL, self.timeout / 4)

    def check(self, now: float, since: float, activity: FeedActivity) -> Stall | None:
        """A stall, or None while the feed is within its allowance.

        ``since`` is when watching began; the silence counts from the later of it and
        ``activity.since``. Finding a stall counts it and sets the next socket's allowance.
        """
        if activity.wanted:
            self.factor = 1
        allowance = self.allowance
        silent = now - max(since, activity.since)
        if silent < allowance - EPSILON:
            return None
        self.stalls += 1
        events = {str(k): int(v) for k, v in activity.undecodable.items()}
        if events:
            self.undecodable_stalls += 1
            kind = StallKind.UNDECODABLE
        else:
            kind = StallKind.STALLED
            if not activity.wanted:
                self.factor = min(MAX_FACTOR, self.factor * 2)
        return Stall(kind, silent, allowance, self.allowance, events)

    def first_check(self) -> float:
        """Seconds from the start of watching to the first check (see :meth:`next_check`)."""
        if self.factor > 1:
            return min(self.allowance, self.poll)
        return self.allowance

    def next_check(self, now: float, since: float, activity: FeedActivity) -> float:
        """Seconds from ``now`` to the next check: when the silence reaches the allowance,
        or sooner (:attr:`poll`) while a wanted tick could still bring the allowance down."""
        factor = 1 if activity.wanted else self.factor  # what check() will use
        due = max(since, activity.since) + self.timeout * factor - now
        if factor > 1:
            due = min(due, self.poll)
        return max(MIN_POLL, due)

    def __repr__(self) -> str:
        return f"StallWatchdog(timeout={self.timeout!r}, factor={self.factor})"


class StallTimer:
    """The watchdog's timer: checks the feed when a silence could reach the allowance, reports
    a stall (``connection.stalled`` / ``connection.undecodable``) and hands it to ``on_stall``.

    :param policy: the stall policy and its counts.
    :param feed: what the tick path saw (the policy's input).
    :param clock: time and the timer; its callbacks run on the owner thread.
    :param watched: whether the stream is still to be watched when the timer runs (ready, and
        the server holds a subscription of ours).
    :param on_stall: the lifecycle's reaction to a stall found.
    :param emit: telemetry (the report).
    :param internal_error: how a failing ``feed.activity()`` is reported.
    """

    def __init__(
        self,
        policy: StallWatchdog,
        feed: FeedMonitor,
        clock: Clock,
        *,
        watched: Callable[[], bool],
        on_stall: Callable[[Stall], None],
        emit: Emit,
        internal_error: InternalError,
    ) -> None:
        self.policy = policy
        self._feed = feed
        self._clock = clock
        self._watched = watched
        self._on_stall = on_stall
        self._emit = emit
        self._internal_error = internal_error
        self._timer: Cancellable | None = None
        #: when watching began (``Clock.monotonic``): the silence counts from no earlier
        self.since = 0.0

    @property
    def armed(self) -> bool:
        """The timer is set: the stream is being watched."""
        return self._timer is not None

    def watch(self) -> None:
        """Watch from now on, unless already watching."""
        if self._timer is None:
            self.since = self._clock.monotonic()
            self._arm(self.policy.first_check())

    def stop(self) -> None:
        """Stop watching (the timer is cancelled)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, delay: float) -> None:
        self._timer = self._clock.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if not self._watched():
            return
        policy = self.policy
        now = self._clock.monotonic()
        try:
            activity = self._feed.activity()
        except Exception as exc:  # a port bug must not stop the watching
            self._internal_error("feed.activity", exc)
            self._arm(policy.poll)
            return
        stall = policy.check(now, self.since, activity)
        if stall is None:
            self._arm(policy.next_check(now, self.since, activity))
            return
        fields = stall.fields()
        if stall.events:
            fields.update(activity.context)
        level = logging.ERROR if stall.events else logging.WARNING
        self._emit(stall.event, level, **fields)
        self._on_stall(stall)
