"""Exponential backoff: the policy (configuration) and the schedule (attempt counter).

Delay of attempt ``n`` (1-based)::

    base(n)  = min(max_delay, initial * factor ** (n - 1))
    delay(n) = base(n) * (1 - jitter * U),   U uniform in [0, 1)

``jitter`` is a fraction in ``[0, 1]``. ``0`` (the default) gives the exact schedule 1, 2, 4, 8,
16, 32, 60, 60, 60, 60 s; ``1`` is AWS "full jitter" (uniform in ``(0, base]``); values between
are multiplicative jitter that only ever shortens a delay. A delay is therefore never above the
cap and never negative. python-socketio's additive ``±0.5 s`` jitter is deliberately not offered
(``docs/resilience.md`` §1, §2).
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from jainam_fsm.errors import ConfigError

#: Environment variable for each policy field.
ENV_VARS: Mapping[str, str] = {
    "initial": "JAINAM_BACKOFF_INITIAL",
    "factor": "JAINAM_BACKOFF_FACTOR",
    "max_delay": "JAINAM_BACKOFF_MAX",
    "max_attempts": "JAINAM_BACKOFF_MAX_ATTEMPTS",
    "jitter": "JAINAM_BACKOFF_JITTER",
    "permanent_attempts": "JAINAM_BACKOFF_PERMANENT_ATTEMPTS",
}
#: Fields that take whole numbers.
_INTEGERS = frozenset({"max_attempts", "permanent_attempts"})


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """How long to wait before each reconnect attempt, and how many attempts to make.

    Invalid values raise :class:`~jainam_fsm.errors.ConfigError` at construction.
    """

    initial: float = 1.0
    factor: float = 2.0
    max_delay: float = 60.0
    max_attempts: int = 10
    jitter: float = 0.0
    #: Attempts in a row (the first one counts) failing with a permanent cause
    #: (:data:`~jainam_fsm.core.causes.PERMANENT`: TLS verification, scheme mismatch, not
    #: Socket.IO, not XTS) before giving up early. 2 = one confirming retry; a value above
    #: ``max_attempts + 1`` keeps backing off (ERROR each time) to the end of the budget.
    permanent_attempts: int = 2

    def __post_init__(self) -> None:
        _check(self.initial, "initial", lambda v: v > 0, "a number > 0")
        _check(self.factor, "factor", lambda v: v >= 1, "a number >= 1")
        _check(self.max_delay, "max_delay", lambda v: v >= self.initial, "a number >= initial")
        _check(self.jitter, "jitter", lambda v: 0 <= v <= 1, "a number between 0 and 1")
        for name in sorted(_INTEGERS):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"backoff setting '{name}' must be a whole number >= 1")

    def base_delay(self, attempt: int) -> float:
        """The delay of ``attempt`` (1-based) before jitter."""
        if attempt < 1:
            raise ValueError("attempt numbers start at 1")
        # Exponent is capped so huge attempt numbers cannot overflow a float.
        exponent = min(attempt - 1, 1024)
        try:
            raw = self.initial * self.factor**exponent
        except OverflowError:
            raw = math.inf
        return min(self.max_delay, raw)

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """The delay of ``attempt`` with jitter drawn from ``rand`` (uniform in ``[0, 1)``)."""
        base = self.base_delay(attempt)
        if self.jitter == 0:
            return base
        u = min(max(rand(), 0.0), 1.0)
        return max(0.0, base * (1.0 - self.jitter * u))

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: float | int
    ) -> BackoffPolicy:
        """Build a policy from ``JAINAM_BACKOFF_*`` variables; ``overrides`` win over them.

        A variable that is set but invalid raises :class:`ConfigError` naming the variable.
        """
        env = os.environ if environ is None else environ
        values: dict[str, float | int] = {}
        for name, var in ENV_VARS.items():
            raw = env.get(var)
            if raw is None or raw.strip() == "":
                continue
            values[name] = _parse_env(var, raw, integer=(name in _INTEGERS))
        values.update(overrides)
        try:
            return cls(**values)  # type: ignore[arg-type]
        except ConfigError as exc:
            # Name the environment variable when the bad value came from one.
            for name, var in ENV_VARS.items():
                if f"'{name}'" in str(exc) and name not in overrides and name in values:
                    raise ConfigError(f"{var}: {exc}") from None
            raise


class BackoffSchedule:
    """The attempt counter of one lifecycle. Not thread-safe: owned by the machine's thread."""

    def __init__(self, policy: BackoffPolicy, rand: Callable[[], float] = random.random) -> None:
        self.policy = policy
        self._rand = rand
        self._attempt = 0

    @property
    def attempt(self) -> int:
        """Number of retries scheduled since the last reset."""
        return self._attempt

    @property
    def spent(self) -> bool:
        """True when every allowed attempt has been used."""
        return self._attempt >= self.policy.max_attempts

    def next_delay(self) -> float | None:
        """Count one more attempt and return its delay, or ``None`` when attempts are spent."""
        if self.spent:
            return None
        self._attempt += 1
        return self.policy.delay(self._attempt, self._rand)

    def reset(self) -> None:
        """Start counting from zero again (after a connection is up *and* reconciled)."""
        self._attempt = 0


def _check(value: object, name: str, ok: Callable[[float], bool], what: str) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or math.isnan(value)
        or math.isinf(value)
        or not ok(float(value))
    ):
        # Never echo the value: a secret typed into the wrong variable must not be printed.
        raise ConfigError(f"backoff setting '{name}' must be {what}")


def _parse_env(var: str, raw: str, *, integer: bool) -> float | int:
    text = raw.strip()
    try:
        if integer:
            return int(text)
        value = float(text)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise ConfigError(f"{var} must be {kind}") from None
    if math.isnan(value) or math.isinf(value):
        raise ConfigError(f"{var} must be a finite number")
    return value
