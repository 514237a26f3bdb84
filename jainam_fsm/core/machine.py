"""The connection lifecycle, declared as data.

This module is the single source of truth for the state machine: the runtime machine
(:class:`jainam_fsm.core.lifecycle.Lifecycle`), the diagrams in ``diagrams/`` and the
exhaustive (state, trigger) test are all built from :data:`STATES` and :data:`TRANSITIONS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from jainam_fsm.core.ports import LinkKind


class State(StrEnum):
    """The six lifecycle states."""

    IDLE = "idle"
    AUTHENTICATING = "authenticating"
    CONNECTED = "connected"
    BACKING_OFF = "backing_off"
    EXHAUSTED = "exhausted"
    SHUT_DOWN = "shut_down"


class Trigger(StrEnum):
    """Every event the machine accepts."""

    START = "start"
    AUTHENTICATED = "authenticated"
    CONNECTION_LOST = "connection_lost"
    TOKEN_REJECTED = "token_rejected"
    CREDENTIALS_REJECTED = "credentials_rejected"
    RETRY = "retry"
    GIVE_UP = "give_up"
    REVIVE = "revive"
    STEP_DOWN = "step_down"
    SHUTDOWN = "shutdown"


@dataclass(frozen=True, slots=True)
class Edge:
    """One declared move. ``condition``/``unless`` name a predicate on the model."""

    trigger: Trigger
    source: State
    dest: State
    condition: str | None = None
    unless: str | None = None

    def as_transitions_dict(self) -> dict[str, Any]:
        """The form :class:`transitions.Machine` takes."""
        out: dict[str, Any] = {
            "trigger": self.trigger.value,
            "source": self.source.value,
            "dest": self.dest.value,
        }
        if self.condition:
            out["conditions"] = self.condition
        if self.unless:
            out["unless"] = self.unless
        return out


S, T = State, Trigger

#: Predicate on the model: a refresh was already made in this attempt.
REFRESHED = "refreshed_this_attempt"
#: Predicate on the model: the failure's cause is one retrying cannot fix (core/causes.py
#: ``PERMANENT``), seen on ``BackoffPolicy.permanent_attempts`` attempts in a row.
PERMANENT = "permanent_failure"

TRANSITIONS: tuple[Edge, ...] = (
    Edge(T.START, S.IDLE, S.AUTHENTICATING),
    Edge(T.AUTHENTICATED, S.AUTHENTICATING, S.CONNECTED),
    # Transport error, server disconnect, stalled feed, connect failure, token unobtainable.
    Edge(T.CONNECTION_LOST, S.AUTHENTICATING, S.BACKING_OFF, unless=PERMANENT),
    Edge(T.CONNECTION_LOST, S.CONNECTED, S.BACKING_OFF, unless=PERMANENT),
    # A cause retrying cannot fix (bad TLS certificate, http/https mix-up, not a Socket.IO or
    # XTS server), confirmed on the next attempt: give up now, not after the whole budget.
    Edge(T.CONNECTION_LOST, S.AUTHENTICATING, S.EXHAUSTED, condition=PERMANENT),
    Edge(T.CONNECTION_LOST, S.CONNECTED, S.EXHAUSTED, condition=PERMANENT),
    # A rejected token is refreshed once per attempt; a second rejection backs off.
    Edge(T.TOKEN_REJECTED, S.AUTHENTICATING, S.AUTHENTICATING, unless=REFRESHED),
    Edge(T.TOKEN_REJECTED, S.CONNECTED, S.AUTHENTICATING, unless=REFRESHED),
    Edge(T.TOKEN_REJECTED, S.AUTHENTICATING, S.BACKING_OFF, condition=REFRESHED),
    Edge(T.TOKEN_REJECTED, S.CONNECTED, S.BACKING_OFF, condition=REFRESHED),
    # Bad credentials are not transient: no retry storm.
    Edge(T.CREDENTIALS_REJECTED, S.AUTHENTICATING, S.EXHAUSTED),
    Edge(T.RETRY, S.BACKING_OFF, S.AUTHENTICATING),
    Edge(T.GIVE_UP, S.BACKING_OFF, S.EXHAUSTED),
    Edge(T.REVIVE, S.EXHAUSTED, S.AUTHENTICATING),
    # Hot standby (jainam_fsm/standby): leadership lost or fenced. Back to idle, the registry
    # kept, where a follower waits; ``start`` again when leadership is regained.
    *(
        Edge(T.STEP_DOWN, s, S.IDLE)
        for s in (S.AUTHENTICATING, S.CONNECTED, S.BACKING_OFF, S.EXHAUSTED)
    ),
    # Explicit sources (not '*') so the diagram shows no shut_down self-loop.
    *(Edge(T.SHUTDOWN, s, S.SHUT_DOWN) for s in State if s is not S.SHUT_DOWN),
)

#: ``Lifecycle.connect()``: the trigger a host's "connect" fires in each state (elsewhere it
#: does nothing: a stream already starting, up or backing off needs no second loop).
CONNECT_TRIGGERS: dict[State, Trigger] = {S.IDLE: T.START, S.EXHAUSTED: T.REVIVE}

#: ``Lifecycle.on_link()``: what the transport reports about an open socket, and the trigger
#: each kind fires (``lost``: transport error, server disconnect, socket ``error``;
#: ``token_rejected``: an ``error`` naming the token, a ``logout`` event).
LINK_TRIGGERS: dict[LinkKind, Trigger] = {
    LinkKind.LOST: T.CONNECTION_LOST,
    LinkKind.TOKEN_REJECTED: T.TOKEN_REJECTED,
}

#: The stall watchdog (``core/watchdog.py``, a timer while the stream is ``ready``): a feed
#: silent past its allowance fires this, with the reason ``stall`` or ``undecodable``.
STALL_TRIGGER = T.CONNECTION_LOST


class Phase(StrEnum):
    """The sub-state of ``connected`` (``Lifecycle.phase``; ``None`` in every other state).

    Not a seventh state: the socket is up in both, and every edge out of ``connected`` leaves
    either. It decides ``ready`` (``wait_ready()``), whether the backoff was reset, and whether
    the stall watchdog runs.
    """

    #: entered with ``connected``: the session is listed and the desired set replayed
    REPLAYING = "replaying"
    #: the first replay round completed: ``connection.ready``, backoff reset, watchdog on
    READY = "ready"


#: Every move of the sub-state; ``None`` is "not connected". ``Lifecycle._set_phase`` is its
#: one writer and refuses anything else.
PHASE_MOVES: frozenset[tuple[Phase | None, Phase | None]] = frozenset(
    {
        (None, Phase.REPLAYING),  # on entering connected
        (Phase.REPLAYING, Phase.READY),  # the first replay round completed
        (Phase.REPLAYING, None),  # left connected before that (a failed replay, shutdown)
        (Phase.READY, None),  # left connected
    }
)

INITIAL = State.IDLE
TERMINAL = frozenset({State.SHUT_DOWN})


def machine_kwargs() -> dict[str, Any]:
    """Keyword arguments shared by the runtime machine and the diagram machines."""
    return {
        "states": [s.value for s in State],
        "transitions": [e.as_transitions_dict() for e in TRANSITIONS],
        "initial": INITIAL.value,
        "auto_transitions": False,
        "ignore_invalid_triggers": False,
    }


def edges_from(state: State, trigger: Trigger) -> tuple[Edge, ...]:
    """The declared edges for ``trigger`` fired in ``state`` (empty: the trigger is refused)."""
    return tuple(e for e in TRANSITIONS if e.source is state and e.trigger is trigger)
