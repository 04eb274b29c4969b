"""What the ERP system API costs its ERP: requests sent to the backend, by method."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Protocol, runtime_checkable

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector


@runtime_checkable
class CountsRequests(Protocol):
    """A backend client that counts the requests it sends, by method."""

    @property
    def requests(self) -> Mapping[str, int]: ...


class BackendRequests(Collector):
    """``strata_erp_backend_requests_total{method}``, read from the client at scrape time."""

    def __init__(self, client: CountsRequests) -> None:
        self._client = client

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "strata_erp_backend_requests",
            "Requests sent to the ERP backend, by method (logins included)",
            labels=["method"],
        )
        for method, count in sorted(self._client.requests.items()):
            family.add_metric([method], count)
        yield family


@contextmanager
def backend_requests_counted(registry: CollectorRegistry, port: object) -> Iterator[None]:
    """Count the port's backend requests on ``registry`` while open, when its adapter
    exposes them (a fake port does not)."""
    client = getattr(port, "rpc", None)
    if not isinstance(client, CountsRequests):
        yield
        return
    collector = BackendRequests(client)
    registry.register(collector)
    try:
        yield
    finally:
        registry.unregister(collector)
