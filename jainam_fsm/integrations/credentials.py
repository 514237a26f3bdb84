"""Where the adapter's settings, symbols and feed token come from at ``initialize``/``connect``.

* Settings (:func:`build_config`): ``JAINAM_*`` variables (:meth:`AdapterConfig.from_env`),
  OpenAlgo's market-data key/secret when ours are unset, then ``auth_data`` (with the aliases
  platforms use: ``api_key``, ``api_secret``, ``root_url``), then the adapter's stream options.
* Symbols (:func:`build_resolver`): ``auth_data["instrument_master"]``, the resolver given to
  the adapter, the host's token database, else ``JAINAM_INSTRUMENT_MASTER``.
* The feed token: stand-alone, our token store (:func:`build_store`,
  :func:`stored_token_factory`); hosted, the token the host holds (:func:`host_token`), with a
  refreshed one handed back to it (:func:`store_host_token`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

from jainam_fsm.core.ports import TelemetrySink, TokenSource
from jainam_fsm.integrations.openalgo import (
    MARKET_KEY_ENV,
    MARKET_SECRET_ENV,
    OpenAlgoHooks,
    TokenDbResolver,
)
from jainam_fsm.integrations.symbols import MasterFileResolver, SymbolResolver
from jainam_fsm.streaming.config import AdapterConfig

__all__ = [
    "TokenSourceFactory",
    "build_config",
    "build_resolver",
    "build_store",
    "host_token",
    "store_host_token",
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


def host_token(
    auth_data: Mapping[str, Any] | None, hooks: OpenAlgoHooks, user: str
) -> tuple[str | None, str | None]:
    """The feed token and login user id the host holds (``auth_data`` first)."""
    data = auth_data or {}
    if data.get("feed_token"):
        uid = data.get("feed_user_id") or data.get("userID")
        if uid is None and hooks.get_user_id is not None:
            uid = hooks.get_user_id(user)
        return str(data["feed_token"]), None if uid is None else str(uid)
    token = hooks.get_feed_token(user) if hooks.get_feed_token is not None else None
    uid = hooks.get_user_id(user) if hooks.get_user_id is not None else None
    return token, None if uid is None else str(uid)


def store_host_token(
    auth_data: dict[str, Any] | None, hooks: OpenAlgoHooks, user: str, token: str, user_id: str
) -> None:
    """Hand a refreshed token back: into ``auth_data`` when the token came from there, and to
    the host's store hook."""
    if auth_data is not None and auth_data.get("feed_token"):
        auth_data["feed_token"], auth_data["feed_user_id"] = token, user_id
    store = hooks.store_feed_token
    if store is not None:
        store(user, token, user_id)
