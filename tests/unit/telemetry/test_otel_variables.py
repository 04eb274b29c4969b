"""The standard OpenTelemetry variables configure traces as operators expect; Strata's own
``STRATA_TELEMETRY_*`` win where both are set."""

from __future__ import annotations

import pytest

from shared.settings import SettingsError
from shared.telemetry.settings import load_telemetry_settings


def test_the_standard_variables_set_name_endpoint_headers_timeout_and_batching() -> None:
    settings = load_telemetry_settings(
        {
            "OTEL_SERVICE_NAME": "orders-eu",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/",
            "OTEL_EXPORTER_OTLP_HEADERS": "api-key=s%3Dcret,x-tenant = retail",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
            "OTEL_BSP_SCHEDULE_DELAY": "500",
            "OTEL_BSP_MAX_QUEUE_SIZE": "1024",
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "128",
        }
    )
    assert settings.service_name == "orders-eu"
    # OTLP/HTTP: the signal's path is appended to the base endpoint.
    assert settings.otlp_endpoint == "http://collector:4318/v1/traces"
    assert settings.otlp_headers == {"api-key": "s=cret", "x-tenant": "retail"}
    assert settings.otlp_timeout_s == 2.5
    assert settings.export_delay_s == 0.5
    assert settings.export_queue_size == 1024
    assert settings.export_batch_size == 128


def test_the_traces_endpoint_is_used_as_given_and_none_turns_export_off() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:4318/custom",
    }
    assert load_telemetry_settings(env).otlp_endpoint == "http://traces:4318/custom"
    off = load_telemetry_settings({**env, "OTEL_TRACES_EXPORTER": "none"})
    assert off.otlp_endpoint is None
    assert load_telemetry_settings({"OTEL_SDK_DISABLED": "true"}).enabled is False
    assert load_telemetry_settings({}).otlp_endpoint is None


@pytest.mark.parametrize(
    ("sampler", "arg", "ratio"),
    [
        ("always_on", None, 1.0),
        ("parentbased_always_on", None, 1.0),
        ("always_off", None, 0.0),
        ("parentbased_always_off", "0.5", 0.0),
        ("traceidratio", "0.25", 0.25),
        ("parentbased_traceidratio", "0.1", 0.1),
        ("parentbased_traceidratio", None, 1.0),
    ],
)
def test_the_sampler_variables_set_the_ratio_of_new_traces(
    sampler: str, arg: str | None, ratio: float
) -> None:
    env = {"OTEL_TRACES_SAMPLER": sampler}
    if arg is not None:
        env["OTEL_TRACES_SAMPLER_ARG"] = arg
    assert load_telemetry_settings(env).sample_ratio == ratio


def test_strata_s_own_variables_win_over_the_standard_ones() -> None:
    settings = load_telemetry_settings(
        {
            "OTEL_SERVICE_NAME": "from-otel",
            "STRATA_TELEMETRY_SERVICE_NAME": "from-strata",
            "OTEL_TRACES_SAMPLER": "always_off",
            "STRATA_TELEMETRY_SAMPLE_RATIO": "0.5",
        }
    )
    assert settings.service_name == "from-strata"
    assert settings.sample_ratio == 0.5


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"OTEL_TRACES_SAMPLER": "jaeger_remote"}, "OTEL_TRACES_SAMPLER"),
        (
            {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"},
            "OTEL_TRACES_SAMPLER_ARG",
        ),
        ({"OTEL_EXPORTER_OTLP_HEADERS": "no-equals-sign"}, "OTEL_EXPORTER_OTLP_HEADERS"),
        ({"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"}, "OTEL_EXPORTER_OTLP_TIMEOUT"),
    ],
)
def test_a_bad_standard_variable_stops_start_up_naming_it(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_telemetry_settings(env)


def test_the_service_name_reaches_the_exported_spans_resource() -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from shared.telemetry.spans import Tracing

    settings = load_telemetry_settings({"OTEL_SERVICE_NAME": "orders-eu"})
    tracing = Tracing.from_settings(settings, service="orders", exporter=InMemorySpanExporter())
    try:
        assert tracing.provider is not None
        assert tracing.provider.resource.attributes["service.name"] == "orders-eu"
    finally:
        tracing.shutdown()
