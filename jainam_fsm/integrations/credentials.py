"""Where the adapter's settings, symbols and feed token come from at ``initialize``/``connect``.

* Settings (:func:`build_config`): ``JAINAM_*`` variables (:meth:`AdapterConfig.from_env`),
  OpenAlgo's market-data key/secret when ours are unset, then ``auth_data`` (with the aliases
  platforms use: ``api_key``, ``api_secret``, ``root_url``), then the adapter's stream options.
* Symbols (:func:`build_resolver`): ``auth_data["instrument_master"]``, the resolver given to
  the adapter, the host's token database, else ``JAINAM_INSTRUMENT_MASTER``.
* The feed token: stand-alone, our token store (:func:`build_store`,
  :func:`stored_token_factory`); hosted, the token the host holds
  (:meth:`FeedSetup.host_token`), with a refreshed one handed back to it
  (:meth:`FeedSetup.store_host_token`).

:class:`FeedSetup` holds what one ``initialize`` settled, for the adapter's ``connect``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from jainam_fsm.core.ports import TelemetrySink, TokenSource
from jainam_fsm.integrations.openalgo import (
    MARKET_KEY_ENV,
    MARKET_SECRET_ENV,
    HostTokenSource,
    OpenAlgoHooks,
    TokenDbResolver,
)
from jainam_fsm.integrations.symbols import MasterFileResolver, SymbolResolver
from jainam_fsm.streaming.config import AdapterConfig

__all__ = [
    "FeedSetup",
    "Settled",
    "TokenSourceFactory",
    "build_config",
    "build_resolver",
    "build_store",
    "stored_token_factory",
]

#: What :class:`~jainam_fsm.streaming.adapter.StreamingAdapter` takes as ``token_source``.
TokenSourceFactory = Callable[[Any, TelemetrySink], TokenSource]

_CONFIG_FIELDS = {f.name for f in fields(AdapterConfig)} - {"backoff"}
#: Other names platforms use for the same settings.
_ALIASES = {"api_key": "app_key", "api_secret": "secret_key", "root_url": "base_url"}


def build_config(
    user: str,
    data: Mapping[str, Any],
    stream_options: Mapping[str, Any],
    environ: Mapping[str, str] | None,
) -> AdapterConfig:
    """The stream's settings for ``user`` (see the module docstring); raises ConfigError."""
    overrides: dict[str, Any] = dict(stream_options)
    env = os.environ if environ is None else environ
    # OpenAlgo's market-data credentials, unless our own variables are set.
    for ours, theirs, target in (
        ("JAINAM_APP_KEY", MARKET_KEY_ENV, "app_key"),
        ("JAINAM_SECRET_KEY", MARKET_SECRET_ENV, "secret_key"),
    ):
        if not env.get(ours) and env.get(theirs):
            overrides[target] = env[theirs]
    for name, value in data.items():
        target = _ALIASES.get(name, name)
        if target in _CONFIG_FIELDS and value is not None:
            overrides[target] = value
    overrides.setdefault("user", user)
    return AdapterConfig.from_env(environ, **overrides)


def build_resolver(
    data: Mapping[str, Any],
    given: SymbolResolver | None,
    hooks: OpenAlgoHooks,
    environ: Mapping[str, str] | None,
) -> SymbolResolver | None:
    """The symbol resolver (see the module docstring); raises OSError for an unreadable
    master file."""
    path = data.get("instrument_master")
    if path:
        return MasterFileResolver.from_files(path)
    if given is not None:
        return given
    if hooks.get_token is not None:
        return TokenDbResolver(hooks.get_token, hooks.get_symbol)
    return MasterFileResolver.from_env(environ)


def build_store(data: Mapping[str, Any], environ: Mapping[str, str] | None) -> tuple[Any, bool]:
    """``(token store, owned)``: ``auth_data["store"]`` (not ours to close), else one opened
    from ``database_url``/``pepper`` or the ``JAINAM_*`` variables."""
    given = data.get("store")
    if given is not None:
        return given, False
    from jainam_fsm.store import TokenStore

    kwargs: dict[str, Any] = {}
    if data.get("database_url"):
        kwargs["url"] = data["database_url"]
    if data.get("pepper"):
        kwargs["pepper"] = data["pepper"]
    return TokenStore.from_env(environ, **kwargs), True


def stored_token_factory(store: Any, config: AdapterConfig) -> TokenSourceFactory:
    """Stand-alone: the feed token from our token store, bound to ``config``'s server, app key
    and user; a login only when none stored is usable."""

    def make(login: Any, telemetry: TelemetrySink) -> TokenSource:
        from jainam_fsm.store import StoredTokenSource, TokenBinding

        return StoredTokenSource(
            store,
            config.user,
            login,
            telemetry,
            refresh_margin=config.refresh_margin,
            binding=TokenBinding.for_config(config),
        )

    return make


@dataclass(frozen=True)
class Settled:
    """What :meth:`FeedSetup.prepare` built for one ``initialize`` (nothing swapped in yet)."""

    user: str
    data: dict[str, Any]
    hosted: bool
    config: AdapterConfig
    resolver: SymbolResolver | None
    store: Any
    owns_store: bool


class FeedSetup:
    """What ``initialize`` settles and ``connect`` uses: the stream's settings, the symbol
    resolver and the feed token's source (see the module docstring).

    :param resolver: the adapter's own resolver (``auth_data["instrument_master"]`` wins).
    :param hooks: the host's helpers; None: OpenAlgo's, bound anew on each ``initialize``.
    """

    def __init__(
        self,
        resolver: SymbolResolver | None,
        hooks: OpenAlgoHooks | None,
        environ: Mapping[str, str] | None,
        stream_options: Mapping[str, Any] | None,
    ) -> None:
        self._hooks_given = hooks is not None
        self.hooks: OpenAlgoHooks = hooks or OpenAlgoHooks()
        self.resolver = resolver
        self._environ = environ
        self._stream_options = dict(stream_options or {})
        self.config: AdapterConfig | None = None
        self.store: Any = None
        self._owns_store = False
        #: ``auth_data`` of a hosted setup (the feed token is the host's); None stand-alone
        self.auth_data: dict[str, Any] | None = None
        self.user: str | None = None
        #: the host token source the running stream made (hosted only)
        self.token_source: HostTokenSource | None = None

    def bind_hooks(self) -> None:
        """Bind OpenAlgo's helpers (when importable) unless hooks were given."""
        if not self._hooks_given:
            self.hooks = OpenAlgoHooks.from_openalgo()

    def prepare(self, user: str, data: dict[str, Any]) -> Settled:
        """Build the settings, resolver and store for ``user``; raises ConfigError (settings)
        or OSError (an instrument master file), changing nothing."""
        hosted = bool(data.get("feed_token")) or self.hooks.has_tokens
        config = build_config(user, data, self._stream_options, self._environ)
        resolver = build_resolver(data, self.resolver, self.hooks, self._environ)
        store, owns = (None, False) if hosted else build_store(data, self._environ)
        return Settled(user, data, hosted, config, resolver, store, owns)

    def adopt(self, settled: Settled) -> None:
        """Swap ``settled`` in (the previous store, if ours, is closed)."""
        self.release_store()
        self.config, self.store, self._owns_store = (
            settled.config,
            settled.store,
            settled.owns_store,
        )
        self.auth_data = settled.data if settled.hosted else None
        self.resolver = settled.resolver
        self.user = settled.user

    def release_store(self, keep: bool = False) -> None:
        """Close the store's connections if we opened it (it stays usable); forget it unless
        ``keep``."""
        store = self.store
        if store is not None and self._owns_store:
            store.close()  # disposes connections; the store stays usable
        if not keep:
            self.store = None

    def token_source_factory(self) -> TokenSourceFactory:
        """The feed token's source for a new stream (after :meth:`adopt`)."""
        store, config = self.store, self.config
        assert config is not None
        if self.auth_data is not None:  # hosted: the platform's token, refreshed through it

            def hosted(login: Any, telemetry: TelemetrySink) -> TokenSource:
                source = HostTokenSource(self.host_token, login, self.store_host_token)
                self.token_source = source
                return source

            return hosted
        return stored_token_factory(store, config)

    def host_token(self) -> tuple[str | None, str | None]:
        """The feed token and login user id the host holds (``auth_data`` first)."""
        data, hooks, user = self.auth_data or {}, self.hooks, self.user or ""
        if data.get("feed_token"):
            uid = data.get("feed_user_id") or data.get("userID")
            if uid is None and hooks.get_user_id is not None:
                uid = hooks.get_user_id(user)
            return str(data["feed_token"]), None if uid is None else str(uid)
        token = hooks.get_feed_token(user) if hooks.get_feed_token is not None else None
        uid = hooks.get_user_id(user) if hooks.get_user_id is not None else None
        return token, None if uid is None else str(uid)

    def store_host_token(self, token: str, user_id: str) -> None:
        """Hand a refreshed token back: into ``auth_data`` when the token came from there, and
        to the host's store hook."""
        if self.auth_data is not None and self.auth_data.get("feed_token"):
            self.auth_data["feed_token"], self.auth_data["feed_user_id"] = token, user_id
        store = self.hooks.store_feed_token
        if store is not None:
            store(self.user or "", token, user_id)
