"""Code that runs inside the worker processes of ``test_store_multiproc`` (no tests here).

Kept apart with few imports so the forkserver can preload it and each worker starts fast.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
from multiprocessing.synchronize import Barrier
from typing import Any

from jainam_fsm.core.ports import FeedToken, RequestOutcome
from jainam_fsm.errors import TokenRejected
from jainam_fsm.store import StoredTokenSource, TokenStore
from jainam_fsm.transport.rest import LoginResult, XtsRestClient

BARRIER_TIMEOUT = 60.0
INSTRUMENT = (1, 22)


class NameSink:
    """Keeps the names of the telemetry events a worker emitted."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def emit(self, event: str, level: int, fields: dict[str, object]) -> None:
        self.names.append(event)


def rest_login(root_url: str, app_key: str, secret: str) -> LoginResult:
    """The blocking ``login`` callable a worker hands to its token source."""

    async def go() -> LoginResult:
        async with XtsRestClient(root_url) as client:
            return await client.login(app_key, secret)

    return asyncio.run(go())


def subscribe(root_url: str, token: FeedToken) -> RequestOutcome:
    """One subscribe request with ``token``."""

    async def go() -> RequestOutcome:
        async with XtsRestClient(root_url) as client:
            return (await client.subscribe(token, 1501, [INSTRUMENT])).outcome

    return asyncio.run(go())


def worker(
    i: int,
    db_url: str,
    pepper: str,
    root_url: str,
    app_key: str,
    secret: str,
    barrier: Barrier,
    results: mp.Queue[tuple[Any, ...]],
) -> None:
    """One adapter process: race for a token, get rejected, race for a new one, resume."""
    try:
        store = TokenStore(db_url, pepper=pepper, lock_timeout=30)
        sink = NameSink()
        source = StoredTokenSource(
            store, "desk-1", lambda: rest_login(root_url, app_key, secret), sink
        )
        barrier.wait(BARRIER_TIMEOUT)  # phase 1: everyone starts on an empty store at once
        token = source.get_token()
        results.put(("token", i, token.fingerprint, list(sink.names)))
        barrier.wait(BARRIER_TIMEOUT)  # the parent invalidates every token meanwhile
        try:
            subscribe(root_url, token)
            results.put(("not-rejected", i))
        except TokenRejected:
            pass
        barrier.wait(BARRIER_TIMEOUT)  # phase 2: everyone reports the token stale at once
        new = source.get_token(stale=token)
        outcome = subscribe(root_url, new)
        results.put(("resumed", i, new.fingerprint, outcome.value, sink.names[1:]))
        store.close()
    except BaseException as exc:  # reported, so the parent fails with the reason
        results.put(("error", i, f"{type(exc).__name__}: {exc}"))
        barrier.abort()
