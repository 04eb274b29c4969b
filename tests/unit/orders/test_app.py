"""The one wiring point builds every store and client from the one settings object
(constructing them opens no connection, so this needs no Redis)."""

from __future__ import annotations

from process_apis.orders.app import (
    ACKNOWLEDGEMENT_MARGIN,
    erp_http_settings,
    make_worker,
    orders_runtime,
)
from process_apis.orders.customer_index import RedisCustomerIndex
from process_apis.orders.downstream import ErpClient
from process_apis.orders.locks import RedisOrderLocks
from process_apis.orders.order_stream import RedisOrderStream
from process_apis.orders.settings import load_orders_settings
from shared.streams import WebhookStreams


async def test_the_runtime_is_built_from_the_one_settings_object() -> None:
    settings = load_orders_settings(
        {
            "STRATA_ORDERS_ERP_INSTANCES": '{"eu": "http://erp-eu:80"}',
            "STRATA_ORDERS_ERP_TIMEOUT": "5",
            "STRATA_ORDERS_STREAM_PREFIX": "test",
            "STRATA_ORDERS_CONTEXT_ORDERS_PER_CUSTOMER": "3",
            "STRATA_ORDERS_CONTEXT_UPSTREAM_TIMEOUT": "0.3",
        }
    )
    async with orders_runtime(settings) as runtime:
        service = runtime.service
        assert isinstance(service.customers, RedisCustomerIndex)
        assert service.customers.settings.orders_per_customer == 3
        assert runtime.order_context.settings.upstream_timeout == 0.3
        assert isinstance(service.stream, RedisOrderStream)
        assert service.stream.stream_for("any.myshopify.com") == "test:{orders}"
        assert isinstance(service.locks, RedisOrderLocks)
        assert service.locks.ttl == 5 + ACKNOWLEDGEMENT_MARGIN
        [(name, erp)] = service.erps.items()
        assert name == "eu"
        assert isinstance(erp, ErpClient)
        timeout = erp.client.timeout
        # No phase of an ERP call outlasts the one ERP timeout.
        assert max(timeout.connect or 0, timeout.read or 0, timeout.write or 0) <= 5
        assert (timeout.pool or 0) <= 5


def test_no_phase_of_an_erp_call_outlasts_the_erp_timeout() -> None:
    for seconds in ("0.5", "30"):
        settings = load_orders_settings({"STRATA_ORDERS_ERP_TIMEOUT": seconds})
        http = erp_http_settings(settings)
        phases = (http.connect_timeout, http.read_timeout, http.write_timeout, http.pool_timeout)
        assert max(phases) == float(seconds)


async def test_workers_read_every_shard_and_writes_go_to_the_shops_shard() -> None:
    settings = load_orders_settings(
        {"STRATA_ORDERS_STREAM_PREFIX": "sharded", "STRATA_ORDERS_STREAM_SHARDS": "3"}
    )
    shards = ["sharded:{orders-0}", "sharded:{orders-1}", "sharded:{orders-2}"]
    assert settings.order_streams == shards
    async with orders_runtime(settings) as runtime:
        worker = make_worker(runtime)
        assert list(worker.streams) == shards
        stream = runtime.service.stream
        assert isinstance(stream, RedisOrderStream)
        shop = "demo-eu.myshopify.com"
        # The same shard the Shopify ingress appends this shop's webhooks to.
        assert stream.stream_for(shop) == WebhookStreams("sharded", 3).for_topic(
            "orders/create", shop
        )
