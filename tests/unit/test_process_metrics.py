"""Every service's ``/metrics`` carries the process and garbage-collector figures every
Prometheus client exports, beside Strata's own."""

from __future__ import annotations

from litestar.testing import TestClient

from shared.app import build_service_app
from shared.telemetry.spans import Tracing


def test_metrics_show_process_and_gc_collectors_in_each_app_s_own_registry() -> None:
    apps = [
        build_service_app(
            service=name,
            title=name,
            version="1.0.0",
            description="probe",
            route_handlers=[],
            tracing=Tracing.disabled(),
        )
        for name in ("one", "two")
    ]
    for app in apps:
        with TestClient(app) as client:
            client.get("/health/live")
            text = client.get("/metrics").text
        assert "process_cpu_seconds_total" in text
        assert "process_resident_memory_bytes" in text
        assert "process_open_fds" in text
        assert "python_gc_objects_collected_total" in text
        assert "strata_http_requests_total" in text  # and Strata's own, in the same registry
