"""Settings of the XTS market-data simulator.

Every default that mimics the real server cites ``docs/xts-protocol.md``; every default that is
our own choice says so.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Literal

from jainam_fsm.xts.codes import BroadcastMode

__all__ = [
    "API_PREFIXES",
    "DEFAULT_UNIVERSE",
    "ApiFlavour",
    "BinaryKnobs",
    "Layout",
    "SessionEndPolicy",
    "SimUser",
    "SimulatorConfig",
    "throwaway_user",
]

#: What the sockets of a session receive when that session ends (new login, logout,
#: ``invalidate_tokens(disconnect=True)``): ``"logout"`` = a ``logout`` event then a server
#: disconnect; ``"silent"`` = nothing at all, the socket just stays open and mute.
SessionEndPolicy = Literal["logout", "silent"]

#: Which market-data API the simulator serves: the JSON one (``<code>-json-full`` strings) or the
#: binary one (``xts-binary-packet`` attachments), see docs/xts-protocol.md.
ApiFlavour = Literal["json", "binary"]

#: The REST prefix each flavour is served under (docs/xts-protocol.md [JP], [NET-LOG22]).
API_PREFIXES: dict[str, str] = {"json": "/apimarketdata", "binary": "/apibinarymarketdata"}

#: Binary body layout: ``"A"`` 32-bit quantities (official SDKs), ``"B"`` 64-bit quantities
#: (what Jainam's production server emits, [OA] offsets).
Layout = Literal["A", "B"]


@dataclass(frozen=True, slots=True)
class BinaryKnobs:
    """How the binary flavour builds its ``xts-binary-packet`` events. Changeable at run time
    (:meth:`Simulator.set_binary_knobs`, ``POST /_sim/binary``). Defaults are our choices."""

    #: Body layout of every packet (B: Jainam production).
    layout: Layout = "B"
    #: Share (0..1) of packets sent raw-DEFLATE compressed; which ones is seeded, so reproducible.
    compressed_share: float = 0.5
    #: Packets per ``xts-binary-packet`` event (1..n): a socket's due packets, in order, are cut
    #: into events of this many, mixing instruments and codes.
    packets_per_event: int = 1
    #: Write ``TotalValueTraded`` as NaN (as some servers do) instead of the turnover.
    nan_total_value_traded: bool = False
    #: Number of ``ExtendedProperty`` key/value pairs in each packet's common header.
    extended_properties: int = 0
    #: Share (0..1) of packets followed by an opaque 1512 packet for the same instrument
    #: (no public 1512 layout exists: decoders must skip it by size).
    opaque_share: float = 0.0
    #: Payload size of opaque packets (1512 and, on subscription, 1504), bytes.
    opaque_size: int = 64
    #: Add JSON-string ``listQuotes`` to subscribe answers (real binary servers send none).
    subscribe_list_quotes: bool = False

    def __post_init__(self) -> None:
        if self.layout not in ("A", "B"):
            raise ValueError("BinaryKnobs.layout must be 'A' or 'B'")
        for name in ("compressed_share", "opaque_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"BinaryKnobs.{name} must be between 0 and 1")
        if not 1 <= self.packets_per_event <= 1000:
            raise ValueError("BinaryKnobs.packets_per_event must be between 1 and 1000")
        if not 0 <= self.extended_properties <= 100:
            raise ValueError("BinaryKnobs.extended_properties must be between 0 and 100")
        if not 40 <= self.opaque_size <= 65535:
            raise ValueError("BinaryKnobs.opaque_size must be between 40 and 65535")


#: Instruments the simulator quotes out of the box (NSECM cash names and NSEFO ids as seen in
#: the public samples). Any other ``(segment, id)`` that is subscribed gets a walk too.
DEFAULT_UNIVERSE: tuple[tuple[int, int], ...] = (
    (1, 22),
    (1, 467),
    (1, 2885),
    (1, 1594),
    (1, 11536),
    (1, 26000),
    (2, 35001),
    (2, 46082),
)


@dataclass(frozen=True, slots=True)
class SimUser:
    """One set of API credentials the simulator accepts. The secret never shows in a repr."""

    app_key: str
    secret_key: str = field(repr=False)
    user_id: str


def throwaway_user(user_id: str = "SIM001") -> SimUser:
    """Fresh random credentials, good for one simulator run and nothing else."""
    return SimUser(
        app_key="sim" + secrets.token_hex(10),
        secret_key="Sim" + secrets.token_hex(6) + "$",
        user_id=user_id,
    )


def _default_users() -> tuple[SimUser, ...]:
    return (throwaway_user(),)


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """Everything the simulator can be told at start-up. Faults are switched at run time."""

    host: str = "127.0.0.1"
    #: 0 = an ephemeral port; after ``go_down`` the simulator comes back on the port it got.
    port: int = 0
    #: Market-data API flavour: ``"json"`` or ``"binary"`` (docs/xts-protocol.md).
    api: ApiFlavour = "json"
    #: REST prefix; the socket path is ``<prefix>/socket.io``. Configurable because brokers differ.
    #: Empty = the flavour's own (:data:`API_PREFIXES`); :attr:`rest_prefix` is the one in use.
    prefix: str = ""
    #: Accepted credentials; the first one is :attr:`Simulator.credentials`.
    users: tuple[SimUser, ...] = field(default_factory=_default_users)
    #: JWT ``exp - iat``: 24 h as observed (openalgo #373 log).
    token_ttl: float = 86400.0
    #: Distinct ``(instrument, message code)`` pairs per session; 50 as observed (RMDOC/QT/OA).
    subscription_limit: int = 50
    #: Serve ``GET <prefix>/instruments/subscription?xtsMessageCode=N`` (the session's list;
    #: a documented route whose answer shape is our choice). Off = the route does not exist.
    subscription_list: bool = True
    #: Our switch: does a fresh login keep the subscriptions of the session it replaces?
    keep_subscriptions_on_login: bool = False
    #: Our switch: what the sockets of an ended session receive.
    on_session_end: SessionEndPolicy = "logout"
    #: Price-walk steps per second per subscribed instrument (one event per code per socket each).
    rate: float = 2.0
    #: Emission batching interval in seconds: every interval, all due steps are sent together.
    emit_interval: float = 0.02
    #: Seed of the price walk: the n-th step of an instrument is a function of (seed, instrument).
    seed: int = 0
    #: The universe listed by the simulator (any subscribed instrument still gets a walk).
    instruments: tuple[tuple[int, int], ...] = DEFAULT_UNIVERSE
    #: ``broadcastMode`` used when a socket URL omits it.
    broadcast_mode: BroadcastMode = BroadcastMode.FULL
    #: Engine.IO dialect of the socket endpoint: 3 (Socket.IO 2 framing, what the official SDKs
    #: and the real server speak, docs/xts-protocol.md "Engine.IO 3") or 4 (python-socketio 5).
    eio: int = 4
    #: Engine.IO heartbeat; real server values are NOT FOUND. Defaults: 25 s interval for both
    #: dialects; timeout ``None`` = the dialect's default: 5 s under 3 (Socket.IO 2's default,
    #: SIO2), 20 s under 4 (python-engineio's). Under 4, python-engineio advertises
    #: ``pingInterval`` truncated to whole seconds, so use >= 1 there.
    ping_interval: float = 25.0
    ping_timeout: float | None = None
    #: HTTP status of a login refused by :meth:`Simulator.reject_logins`.
    login_failure_status: int = 503
    #: Binary flavour: how ``xts-binary-packet`` events are built.
    binary: BinaryKnobs = field(default_factory=BinaryKnobs)
    #: Emitted ticks remembered per ``(segment, instrument, code)`` for :meth:`Simulator.emitted`
    #: (the newest ones; counts are kept for all). 0 = remember none, count only.
    emitted_cap: int = 1000

    def __post_init__(self) -> None:
        if self.api not in API_PREFIXES:
            raise ValueError("SimulatorConfig.api must be 'json' or 'binary'")
        if self.emitted_cap < 0:
            raise ValueError("SimulatorConfig.emitted_cap must be >= 0")
        if not self.users:
            raise ValueError("SimulatorConfig.users must hold at least one user")
        if len({u.app_key for u in self.users}) != len(self.users):
            raise ValueError("SimulatorConfig.users: app keys must be distinct")
        if self.prefix and (not self.prefix.startswith("/") or self.prefix.endswith("/")):
            raise ValueError("SimulatorConfig.prefix must start with '/' and not end with '/'")
        if self.rate < 0 or self.emit_interval <= 0:
            raise ValueError("SimulatorConfig.rate must be >= 0 and emit_interval > 0")
        if self.subscription_limit < 0 or self.token_ttl <= 0:
            raise ValueError("SimulatorConfig.subscription_limit >= 0 and token_ttl > 0 required")
        if self.eio not in (3, 4) or isinstance(self.eio, bool):
            raise ValueError("SimulatorConfig.eio must be 3 or 4")
        if self.ping_timeout is None:
            object.__setattr__(self, "ping_timeout", 5.0 if self.eio == 3 else 20.0)
        if self.ping_interval <= 0 or self.heartbeat_timeout <= 0:
            raise ValueError("SimulatorConfig.ping_interval and ping_timeout must be > 0")
        if self.on_session_end not in ("logout", "silent"):
            raise ValueError("SimulatorConfig.on_session_end must be 'logout' or 'silent'")
        if not 500 <= self.login_failure_status <= 599:
            raise ValueError("SimulatorConfig.login_failure_status must be a 5xx status")

    @property
    def heartbeat_timeout(self) -> float:
        """``ping_timeout`` resolved (the dialect's default when it was left ``None``)."""
        assert self.ping_timeout is not None  # filled in by __post_init__
        return self.ping_timeout

    @property
    def rest_prefix(self) -> str:
        """The REST prefix in use: :attr:`prefix`, or the flavour's own when that is empty."""
        return self.prefix or API_PREFIXES[self.api]

    @property
    def other_prefix(self) -> str | None:
        """The other flavour's prefix, answered with an nginx-style HTML 404 (as production
        does, docs/xts-protocol.md), or ``None`` when it is the prefix in use."""
        other = API_PREFIXES["json" if self.api == "binary" else "binary"]
        return None if other == self.rest_prefix else other
