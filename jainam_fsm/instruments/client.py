"""``MarketDataClient``: the instrument master, names, quotes and OHLC over REST, blocking.

For scripts and the CLI: ``jainam-fsm instruments ...``, ``jainam-fsm quote``, ``jainam-fsm
ohlc`` use it. It reuses the feed token stored in the token store (bound to server root, app
key and user, :class:`~jainam_fsm.store.TokenBinding`), logs in only when there is no usable
one, and stores the new token for the stream to reuse. A token the server rejects is marked
stale and replaced once.

The master is cached in the store's database (:class:`~.cache.InstrumentCache`): names are
resolved offline; :meth:`MarketDataClient.master` downloads only segments never fetched or
older than ``max_age``; :meth:`MarketDataClient.download` refreshes on demand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import orjson

from jainam_fsm.core.ports import FeedToken
from jainam_fsm.errors import ConfigError, TokenRejected
from jainam_fsm.instruments.cache import DEFAULT_MAX_AGE, InstrumentCache
from jainam_fsm.instruments.master import (
    InstrumentInfo,
    InstrumentMaster,
    index_records,
)
from jainam_fsm.instruments.modes import Mode, code_for
from jainam_fsm.store import StoredTokenSource, TokenBinding, TokenStore
from jainam_fsm.streaming.config import AdapterConfig
from jainam_fsm.telemetry import REDACTOR
from jainam_fsm.transport.rest import LoginResult, XtsRestClient
from jainam_fsm.transport.rest_data import OhlcBar
from jainam_fsm.xts.decode import XtsDecoder
from jainam_fsm.xts.ticks import Tick, _stamp_symbol

__all__ = ["DEFAULT_SEGMENTS", "MarketDataClient"]

T = TypeVar("T")

#: Segments ``download()`` fetches by default: NSE cash and F&O, BSE cash (with their indices).
DEFAULT_SEGMENTS: tuple[int, ...] = (1, 2, 11)
#: Cash segments whose index list is merged into the master.
_INDEX_SEGMENTS = frozenset({1, 11})


class MarketDataClient:
    """Blocking REST market data with the stored token. Use as a context manager.

    :param config: connection settings (``AdapterConfig.from_env()`` by default).
    :param store: the token store (``TokenStore.from_env()`` by default); it also holds the
        instrument-master cache.
    :param max_age: seconds after which a cached segment's master is refreshed by
        :meth:`master` (default a day).
    """

    def __init__(
        self,
        config: AdapterConfig | None = None,
        *,
        store: TokenStore | None = None,
        max_age: float = DEFAULT_MAX_AGE,
    ) -> None:
        self.config = config if config is not None else AdapterConfig.from_env()
        self._own_store = store is None
        self.store = store if store is not None else TokenStore.from_env()
        self.cache = InstrumentCache(self.store, max_age=max_age)
        self.api = self.config.api_str if self.config.api_str in ("json", "binary") else "json"
        self._loop = asyncio.new_event_loop()
        self._rest = XtsRestClient(
            self.config.base_url,
            prefix=self.config.prefix_str,
            timeout=self.config.request_timeout,
            verify_tls=self.config.verify_tls,
        )
        self._tokens = StoredTokenSource(
            self.store,
            self.config.user,
            self._login,
            refresh_margin=self.config.refresh_margin,
            binding=TokenBinding.for_config(self.config),
        )
        self._master: InstrumentMaster | None = None
        #: logins this client performed (0 when a stored token was reused)
        self.logins = 0
        self._used = False

    def __repr__(self) -> str:
        return f"MarketDataClient(base_url={self.config.base_url!r}, api={self.api!r})"

    def __enter__(self) -> MarketDataClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP session (and the store, if this client opened it)."""
        if self._loop.is_closed():
            return
        try:
            if self._used:  # a request ran, so the HTTP session exists
                self._loop.run_until_complete(self._rest.aclose())
        finally:
            self._loop.close()
            if self._own_store:
                self.store.close()

    # -- plumbing ---------------------------------------------------------------------------

    def _run(self, coro: Awaitable[T]) -> T:
        self._used = True
        return self._loop.run_until_complete(coro)

    def _login(self) -> LoginResult:
        result = self._run(
            self._rest.login(self.config.app_key, self.config.secret_key, source=self.config.source)
        )
        REDACTOR.add(result.token.value)
        self.logins += 1
        return result

    def _call(self, call: Callable[[FeedToken], Awaitable[T]]) -> T:
        """``call`` with the stored token; once more with a fresh one if it was rejected."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass  # no loop in this thread: we may run our own
        else:
            raise ConfigError(
                "MarketDataClient blocks: call it outside a running event loop (e.g. through "
                "asyncio.to_thread), or use XtsRestClient's coroutines"
            )
        token = self._tokens.get_token()
        try:
            return self._run(call(token))
        except TokenRejected:
            token = self._tokens.get_token(stale=token)
            return self._run(call(token))

    # -- the instrument master --------------------------------------------------------------

    def download(self, segments: Sequence[int] = DEFAULT_SEGMENTS) -> dict[int, int]:
        """Fetch the master of ``segments`` (and the index lists of the cash segments among
        them) and replace their cached rows. Returns ``segment -> instruments cached``."""
        segs = [int(s) for s in segments]
        text = self._call(lambda t: self._rest.instrument_master(t, segs))
        master = InstrumentMaster()
        records = master.load_text(text)
        for seg in segs:
            if seg in _INDEX_SEGMENTS:
                entries = self._call(lambda t, s=seg: self._rest.index_list(t, s))  # type: ignore[misc]
                for record in index_records(seg, entries):
                    if master.get(*record.key) is None:
                        master.add(record)
                        records.append(record)
        self.cache.replace(segs, records, server=self.config.base_url)
        self._master = None
        return {seg: sum(1 for r in records if r.segment == seg) for seg in segs}

    def master(
        self, segments: Sequence[int] = DEFAULT_SEGMENTS, *, refresh: bool = True
    ) -> InstrumentMaster:
        """The cached master; with ``refresh`` (default), segments never fetched or stale are
        downloaded first. ``refresh=False`` never touches the network."""
        if refresh:
            stale = self.cache.stale(segments)
            if stale:
                self.download(stale)
        if self._master is None:
            self._master = self.cache.master()
        return self._master

    def resolve(self, name: str | tuple[int, int]) -> InstrumentInfo:
        """The instrument named ``EXCHANGE:SYMBOL`` / ``SEG:ID`` (or a ``(segment, id)`` key)
        from the cached master, offline. Raises :class:`~.master.UnknownInstrument`."""
        if isinstance(name, tuple):
            name = f"{int(name[0])}:{int(name[1])}"
        return self.master(refresh=False).lookup(name)

    def search(self, query: str, *, limit: int = 20, online: bool = False) -> list[dict[str, Any]]:
        """Instruments matching ``query``: from the cache (default, offline), or from the
        server's ``/search/instruments`` with ``online=True`` (its records as given)."""
        if online:
            return self._call(lambda t: self._rest.search_instruments(t, query))[:limit]
        return [r.to_dict() for r in self.master(refresh=False).search(query, limit=limit)]

    # -- quotes and OHLC --------------------------------------------------------------------

    def _keys(
        self, names: str | tuple[int, int] | Iterable[str | tuple[int, int]]
    ) -> list[tuple[tuple[int, int], str | None]]:
        items = [names] if isinstance(names, str | tuple) else list(names)
        out: list[tuple[tuple[int, int], str | None]] = []
        master = self.master(refresh=False)
        for item in items:
            if isinstance(item, tuple):
                key = (int(item[0]), int(item[1]))
                out.append((key, master.name_of(*key)))
            else:
                record = master.lookup(item)
                out.append((record.key, record.display))
        return out

    def quotes(
        self,
        names: str | tuple[int, int] | Iterable[str | tuple[int, int]],
        mode: Mode | str | int = Mode.QUOTE,
    ) -> list[Tick]:
        """Snapshots of instruments (names, ``SEG:ID`` or ``(segment, id)``) in ``mode``
        (``POST /instruments/quotes``, ``publishFormat`` JSON on both API flavours), one
        :class:`~jainam_fsm.xts.ticks.Tick` each, with its symbol when known."""
        keys = self._keys(names)
        code = code_for(mode, self.api)
        quotes = self._call(lambda t: self._rest.quotes(t, code, [k for k, _ in keys]))
        names_of = dict(keys)
        decoder = XtsDecoder()
        ticks: list[Tick] = []
        for raw in quotes:
            item = decoder.decode_snapshot(orjson.loads(raw) if raw else raw, code)
            if type(item) is Tick:
                _stamp_symbol(item, names_of.get(item.instrument))
                ticks.append(item)
        return ticks

    def ohlc(
        self,
        name: str | tuple[int, int],
        start: datetime,
        end: datetime,
        compression: int = 60,
    ) -> list[OhlcBar]:
        """OHLC bars of one instrument between two aware datetimes, ``compression`` seconds
        each (60 = one-minute bars) (``GET /instruments/ohlc``)."""
        ((seg, iid), _), *_ = self._keys(name)
        return self._call(
            lambda t: self._rest.ohlc(t, seg, iid, start=start, end=end, compression=compression)
        )
