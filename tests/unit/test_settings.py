"""Settings from STRATA_* variables: nested parts, errors that name the variable, unknown names."""

from __future__ import annotations

from typing import Annotated

import msgspec
import pytest

from shared.settings import (
    SettingsError,
    load_settings,
    own_prefix,
    setting_names,
    unknown_variables,
)


class Part(msgspec.Struct, frozen=True, kw_only=True):
    keep_days: Annotated[int, msgspec.Meta(ge=1)] = 30
    url: str = "http://127.0.0.1:1"


class Shared(msgspec.Struct, frozen=True, kw_only=True):
    issuer: str = "http://issuer"


class Service(msgspec.Struct, frozen=True, kw_only=True):
    redis_url: str = "redis://127.0.0.1:6379/0"
    instances: dict[str, str] = {}
    timeout: Annotated[float, msgspec.Meta(gt=0)] = 2.0
    index: Part = Part()
    auth: Annotated[Shared, own_prefix("STRATA_COMMON_")] = Shared()


PREFIX = "STRATA_DEMO_"


def test_nested_parts_read_their_own_variables() -> None:
    env = {
        "STRATA_DEMO_TIMEOUT": "5",
        "STRATA_DEMO_INDEX_KEEP_DAYS": "7",
        "STRATA_DEMO_INSTANCES": '{"eu": "http://eu"}',
    }
    settings = load_settings(Service, env, prefix=PREFIX)
    assert settings.timeout == 5.0
    assert settings.index == Part(keep_days=7)
    assert settings.instances == {"eu": "http://eu"}


def test_defaults_when_nothing_is_set() -> None:
    assert load_settings(Service, {}, prefix=PREFIX) == Service()


def test_a_bad_nested_value_names_its_variable() -> None:
    with pytest.raises(SettingsError, match=r"^STRATA_DEMO_INDEX_KEEP_DAYS: "):
        load_settings(Service, {"STRATA_DEMO_INDEX_KEEP_DAYS": "0"}, prefix=PREFIX)


def test_a_bad_top_level_value_names_its_variable() -> None:
    with pytest.raises(SettingsError, match=r"^STRATA_DEMO_TIMEOUT: "):
        load_settings(Service, {"STRATA_DEMO_TIMEOUT": "-1"}, prefix=PREFIX)


def test_every_variable_is_listed() -> None:
    assert sorted(setting_names(Service, prefix=PREFIX)) == [
        "STRATA_DEMO_INDEX_KEEP_DAYS",
        "STRATA_DEMO_INDEX_URL",
        "STRATA_DEMO_INSTANCES",
        "STRATA_DEMO_REDIS_URL",
        "STRATA_DEMO_TIMEOUT",
    ]


def test_an_unknown_variable_stops_start_up_with_a_suggestion() -> None:
    env = {"STRATA_DEMO_REDIS_URI": "redis://x", "STRATA_OTHER_THING": "1"}
    assert unknown_variables(Service, env, prefix=PREFIX) == ["STRATA_DEMO_REDIS_URI"]
    with pytest.raises(SettingsError) as caught:
        load_settings(Service, env, prefix=PREFIX, reject_unknown=True)
    assert str(caught.value) == (
        "STRATA_DEMO_REDIS_URI: not a setting (did you mean STRATA_DEMO_REDIS_URL?)"
    )


def test_unknown_variables_are_ignored_unless_asked() -> None:
    settings = load_settings(Service, {"STRATA_DEMO_NOPE": "1"}, prefix=PREFIX)
    assert settings == Service()


def test_a_shared_part_keeps_its_own_prefix() -> None:
    env = {"STRATA_COMMON_ISSUER": "http://other", "STRATA_COMMON_UNRELATED": "x"}
    settings = load_settings(Service, env, prefix=PREFIX, reject_unknown=True)
    assert settings.auth == Shared(issuer="http://other")
    assert "STRATA_COMMON_ISSUER" not in set(setting_names(Service, prefix=PREFIX))


class Strict(msgspec.Struct, frozen=True, kw_only=True):
    port: Annotated[int, msgspec.Meta(ge=1)] = 1


class WithStrict(msgspec.Struct, frozen=True, kw_only=True):
    net: Annotated[Strict, own_prefix("STRATA_NET_")] = Strict()


def test_a_bad_value_in_a_shared_part_names_its_variable() -> None:
    with pytest.raises(SettingsError, match=r"^STRATA_NET_PORT: "):
        load_settings(WithStrict, {"STRATA_NET_PORT": "0"}, prefix=PREFIX)


def test_an_empty_value_is_an_empty_string_not_json() -> None:
    settings = load_settings(Part, {"STRATA_DEMO_URL": ""}, prefix=PREFIX)
    assert settings.url == ""
