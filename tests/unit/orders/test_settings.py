"""The orders process reads one settings object at start-up, nested parts included, and the
customer index keeps to its part's bounds."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from process_apis.orders.customer_index import RedisCustomerIndex, customer_key
from process_apis.orders.settings import OrdersSettings, load_orders_settings
from shared.models import Customer, OrderLine, SalesOrderDraft
from shared.settings import SettingsError
from tests.unit.orders.fakes import RecordingRedis


def test_the_nested_parts_are_read_under_their_own_variables() -> None:
    settings = load_orders_settings(
        {
            "STRATA_ORDERS_REDIS_URL": "redis://orders:6379/1",
            "STRATA_ORDERS_CONTEXT_UPSTREAM_TIMEOUT": "0.3",
            "STRATA_ORDERS_CONTEXT_ORDERS_PER_CUSTOMER": "3",
            "STRATA_ORDERS_CONTEXT_INDEX_KEEP_DAYS": "7",
            "STRATA_ORDERS_RATELIMIT_ENABLED": "false",
            "STRATA_AUTH_AUDIENCE": "strata-test",
        }
    )
    assert settings.context.upstream_timeout == 0.3
    assert settings.context.orders_per_customer == 3
    assert settings.context.index_keep_days == 7
    assert settings.ratelimit.enabled is False
    assert settings.auth.audience == "strata-test"


def test_rate_limits_default_to_the_service_redis_and_the_default_policy() -> None:
    settings = load_orders_settings({"STRATA_ORDERS_REDIS_URL": "redis://orders:6379/1"})
    assert settings.ratelimit.redis_url == "redis://orders:6379/1"
    [policy] = settings.ratelimit.policies
    assert (policy.name, policy.limit, policy.burst, policy.paths) == (
        "default",
        200,
        400,
        ("/orders/",),
    )
    assert OrdersSettings() == load_orders_settings({})


def test_configured_rate_limits_are_kept() -> None:
    settings = load_orders_settings(
        {
            "STRATA_ORDERS_RATELIMIT_REDIS_URL": "redis://limits:6379/0",
            "STRATA_ORDERS_RATELIMIT_POLICIES": '[{"name": "tight", "limit": 5, "period": 1,'
            ' "paths": ["/orders/v1/"]}]',
        }
    )
    assert settings.ratelimit.redis_url == "redis://limits:6379/0"
    assert [p.name for p in settings.ratelimit.policies] == ["tight"]


@pytest.mark.parametrize(
    ("variable", "hint"),
    [
        ("STRATA_ORDERS_RATE_LIMIT_ENABLED", "STRATA_ORDERS_RATELIMIT_ENABLED"),
        ("STRATA_ORDERS_CONTEXT_ORDERS_PER_CUSTMER", "STRATA_ORDERS_CONTEXT_ORDERS_PER_CUSTOMER"),
        ("STRATA_ORDERS_ERP_TIMEOUTS", "STRATA_ORDERS_ERP_TIMEOUT"),
    ],
)
def test_a_misspelt_variable_stops_start_up(variable: str, hint: str) -> None:
    with pytest.raises(SettingsError, match=f"{variable}: not a setting.*{hint}"):
        load_orders_settings({variable: "1"})


def test_the_cli_s_address_of_this_api_is_not_a_setting_to_refuse() -> None:
    settings = load_orders_settings({"STRATA_ORDERS_URL": "http://127.0.0.1:8120"})
    assert settings == OrdersSettings()


def test_redis_cluster_is_read() -> None:
    # The Helm chart writes it to every service; false is a single Redis node.
    assert load_orders_settings({"STRATA_ORDERS_REDIS_CLUSTER": "false"}) == OrdersSettings()
    assert load_orders_settings({"STRATA_ORDERS_REDIS_CLUSTER": "true"}).redis_cluster


def test_a_bad_value_in_a_part_names_its_variable() -> None:
    with pytest.raises(SettingsError, match="STRATA_ORDERS_CONTEXT_ORDERS_PER_CUSTOMER"):
        load_orders_settings({"STRATA_ORDERS_CONTEXT_ORDERS_PER_CUSTOMER": "0"})


def draft(email: str = "Ada@Example.com") -> SalesOrderDraft:
    return SalesOrderDraft(
        external_reference="shopify:demo.myshopify.com:1001",
        currency="EUR",
        customer=Customer(email=email, name="Ada Lovelace"),
        lines=[OrderLine(sku="MUG-WHT", quantity=2, unit_price=Decimal("19.90"))],
    )


async def test_the_customer_index_keeps_to_the_configured_bounds() -> None:
    settings = load_orders_settings(
        {
            "STRATA_ORDERS_CONTEXT_ORDERS_PER_CUSTOMER": "3",
            "STRATA_ORDERS_CONTEXT_INDEX_KEEP_DAYS": "7",
        }
    )
    redis: Any = RecordingRedis()
    await RedisCustomerIndex(redis, settings.context).add("demo.myshopify.com", "1001", draft())

    key = customer_key("ada@example.com")
    assert redis.sent("zadd")[0][0] == key
    # Only the newest three orders are kept, and the index lives a week past its last order.
    assert redis.sent("zremrangebyrank") == [(key, 0, -4)]
    assert sorted(redis.sent("expire")) == [(key, 7 * 86_400), (key + ":orders", 7 * 86_400)]


async def test_the_customer_index_defaults_apply_without_configuration() -> None:
    redis: Any = RecordingRedis()
    await RedisCustomerIndex(redis, OrdersSettings().context).add("s", "1", draft())
    key = customer_key("ada@example.com")
    assert redis.sent("zremrangebyrank") == [(key, 0, -501)]
    assert (key, 730 * 86_400) in redis.sent("expire")


async def test_an_order_without_email_is_not_indexed() -> None:
    redis: Any = RecordingRedis()
    await RedisCustomerIndex(redis, OrdersSettings().context).add("s", "1", draft(email=" "))
    assert redis.commands == []
