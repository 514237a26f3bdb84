"""``AdapterConfig.api`` and ``AdapterConfig.broker`` presets: how the API, the REST prefix and
the socket path are resolved, and that explicit settings win over a preset."""

from __future__ import annotations

import pytest

from jainam_fsm.errors import ConfigError
from jainam_fsm.streaming import AdapterConfig
from jainam_fsm.streaming.flavour import PRESETS, Flavour

ROOT = "https://md.example.test:4143"
CREDS = {"app_key": "k", "secret_key": "s"}


def cfg(**kw: object) -> AdapterConfig:
    return AdapterConfig(**{"base_url": ROOT, **CREDS, **kw})  # type: ignore[arg-type]


def test_default_is_the_json_api() -> None:
    c = cfg()
    assert (c.api, c.prefix, c.socket_path) == (
        "json",
        "/apimarketdata",
        "/apimarketdata/socket.io",
    )


def test_binary_api_uses_the_binary_prefix_and_socket_path() -> None:
    c = cfg(api="binary")
    assert (c.prefix, c.socket_path) == ("/apibinarymarketdata", "/apibinarymarketdata/socket.io")


def test_a_binary_prefix_in_the_url_means_the_binary_api() -> None:
    c = AdapterConfig(base_url=ROOT + "/apibinarymarketdata", **CREDS)
    assert (c.api, c.prefix) == ("binary", "/apibinarymarketdata")


def test_jainam_prop_preset_is_the_binary_api() -> None:
    c = cfg(broker="jainam-prop")
    assert (c.api, c.prefix, c.broker) == ("binary", "/apibinarymarketdata", "jainam-prop")
    assert c.base_url == ROOT  # no host is a default: the base URL stays yours


def test_other_presets() -> None:
    assert cfg(broker="xts").api == "json"
    retail = cfg(broker="jainam-retail")
    assert (retail.api, retail.prefix) == ("auto", "/apimarketdata")  # the probe starts at JSON
    assert set(PRESETS) == {"jainam-prop", "jainam-retail", "xts"}


def test_explicit_settings_win_over_a_preset() -> None:
    c = cfg(broker="jainam-prop", api="json")
    assert (c.api, c.prefix) == ("json", "/apimarketdata")
    c = cfg(broker="jainam-prop", prefix="/custom", socket_path="/custom/io")
    assert (c.api, c.prefix, c.socket_path) == ("binary", "/custom", "/custom/io")


@pytest.mark.parametrize(("field", "value"), [("api", "grpc"), ("broker", "zerodha")])
def test_bad_values_are_one_line_errors(field: str, value: str) -> None:
    with pytest.raises(ConfigError, match=field) as info:
        cfg(**{field: value})
    assert "\n" not in str(info.value)


def test_environment() -> None:
    env = {"JAINAM_BASE_URL": ROOT, "JAINAM_APP_KEY": "k", "JAINAM_SECRET_KEY": "s"}
    c = AdapterConfig.from_env({**env, "JAINAM_BROKER": "jainam-prop"})
    assert (c.broker, c.api) == ("jainam-prop", "binary")
    c = AdapterConfig.from_env({**env, "JAINAM_BROKER": "jainam-prop", "JAINAM_API": "json"})
    assert c.api == "json"
    with pytest.raises(ConfigError, match="JAINAM_API"):
        AdapterConfig.from_env({**env, "JAINAM_API": "xml"})


def test_auto_flavour_switches_paths_and_keeps_custom_ones() -> None:
    c = cfg(api="auto")
    f = Flavour(c.api_str, c.prefix_str, c.socket_path_str)
    assert (f.api, f.settled, f.publish_format) == ("json", False, "JSON")
    assert f.server_code(1512) == 1512
    f.settle("binary")
    assert (f.prefix, f.socket_path, f.publish_format) == (
        "/apibinarymarketdata",
        "/apibinarymarketdata/socket.io",
        "Binary",
    )
    assert f.server_code(1512) == 1501  # no public binary 1512 layout: LTP comes from 1501
    assert f.server_code(1502) == 1502
    custom = Flavour("auto", "/md", "/md/socket.io")
    custom.settle("binary")
    assert (custom.prefix, custom.socket_path) == ("/md", "/md/socket.io")
