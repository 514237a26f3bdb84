from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jainam_fsm.core.backoff import ENV_VARS, BackoffPolicy, BackoffSchedule
from jainam_fsm.errors import ConfigError


def test_default_schedule() -> None:
    sched = BackoffSchedule(BackoffPolicy())
    delays = []
    while (d := sched.next_delay()) is not None:
        delays.append(d)
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]
    assert sched.spent and sched.attempt == 10
    sched.reset()
    assert sched.attempt == 0 and sched.next_delay() == 1


def test_from_env_reads_every_variable() -> None:
    env = {
        "JAINAM_BACKOFF_INITIAL": "0.5",
        "JAINAM_BACKOFF_FACTOR": "3",
        "JAINAM_BACKOFF_MAX": "10",
        "JAINAM_BACKOFF_MAX_ATTEMPTS": "4",
        "JAINAM_BACKOFF_JITTER": "0.25",
    }
    p = BackoffPolicy.from_env(env)
    assert p == BackoffPolicy(initial=0.5, factor=3, max_delay=10, max_attempts=4, jitter=0.25)
    assert BackoffPolicy.from_env(env, max_attempts=2).max_attempts == 2


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("JAINAM_BACKOFF_INITIAL", "-1"),
        ("JAINAM_BACKOFF_INITIAL", "nan"),
        ("JAINAM_BACKOFF_INITIAL", "abc"),
        ("JAINAM_BACKOFF_FACTOR", "0.9"),
        ("JAINAM_BACKOFF_FACTOR", "NaN"),
        ("JAINAM_BACKOFF_MAX", "-5"),
        ("JAINAM_BACKOFF_MAX", "inf"),
        ("JAINAM_BACKOFF_MAX_ATTEMPTS", "0"),
        ("JAINAM_BACKOFF_MAX_ATTEMPTS", "2.5"),
        ("JAINAM_BACKOFF_JITTER", "1.5"),
        ("JAINAM_BACKOFF_JITTER", "-0.1"),
    ],
)
def test_invalid_env_is_refused_naming_the_variable(var: str, value: str) -> None:
    with pytest.raises(ConfigError) as err:
        BackoffPolicy.from_env({var: value})
    assert var in str(err.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial": 0},
        {"factor": 0.5},
        {"max_delay": math.nan},
        {"max_attempts": 0},
        {"jitter": 2},
        {"permanent_attempts": 0},
        {"permanent_attempts": 1.5},
    ],
)
def test_invalid_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError) as err:
        BackoffPolicy(**kwargs)  # type: ignore[arg-type]
    assert next(iter(kwargs)) in str(err.value)


def test_env_var_names_documented() -> None:
    assert set(ENV_VARS.values()) == {
        "JAINAM_BACKOFF_INITIAL",
        "JAINAM_BACKOFF_FACTOR",
        "JAINAM_BACKOFF_MAX",
        "JAINAM_BACKOFF_MAX_ATTEMPTS",
        "JAINAM_BACKOFF_JITTER",
        "JAINAM_BACKOFF_PERMANENT_ATTEMPTS",
    }


@settings(max_examples=300, deadline=None)
@given(
    initial=st.floats(0.001, 100),
    factor=st.floats(1, 10),
    extra=st.floats(0, 1000),
    jitter=st.floats(0, 1),
    attempt=st.integers(1, 5000),
    u=st.floats(0, 1, exclude_max=True),
)
def test_delay_never_above_cap_never_negative(
    initial: float, factor: float, extra: float, jitter: float, attempt: int, u: float
) -> None:
    p = BackoffPolicy(initial=initial, factor=factor, max_delay=initial + extra, jitter=jitter)
    d = p.delay(attempt, lambda: u)
    assert 0 <= d <= p.max_delay
    assert d <= p.base_delay(attempt)
    assert d >= p.base_delay(attempt) * (1 - jitter) - 1e-9
