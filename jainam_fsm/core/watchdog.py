"""The stall watchdog's policy: when a silent feed counts as stalled, and what the stall says.

Pure: no clock, no thread, no I/O. :class:`~jainam_fsm.core.lifecycle.Lifecycle` runs it as a
timer on its owner thread (``Clock.call_later``) while the stream is ``ready`` and the server
holds at least one of our subscriptions, and fires ``connection_lost`` with the stall's reason
when :meth:`StallWatchdog.check` finds one. Time is passed in, so the tests (and Hypothesis)
drive it with a manual clock.

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

import math
from dataclasses import dataclass, field
from enum import StrEnum

from jainam_fsm.core.ports import FeedActivity

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
