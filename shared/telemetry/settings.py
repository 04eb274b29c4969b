"""Telemetry settings of one process: traces and logs, from ``STRATA_TELEMETRY_*``.

The OpenTelemetry SDK's standard variables are honoured too, so an operator's usual
configuration (an OpenTelemetry Operator, a collector's Helm chart, a platform default) works
unchanged: ``OTEL_SDK_DISABLED``, ``OTEL_SERVICE_NAME``, ``OTEL_TRACES_EXPORTER``,
``OTEL_EXPORTER_OTLP_ENDPOINT`` (``/v1/traces`` is appended, as the specification says for
OTLP/HTTP) and ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (used as given), their ``_HEADERS`` and
``_TIMEOUT`` (milliseconds), ``OTEL_TRACES_SAMPLER`` with ``OTEL_TRACES_SAMPLER_ARG``, and the
batch processor's ``OTEL_BSP_*``. A ``STRATA_TELEMETRY_*`` variable wins over the standard one.
``OTEL_RESOURCE_ATTRIBUTES`` is read by the SDK's own resource detector.

Strata always follows a caller's sampling decision, so the samplers map to a ratio for new
traces: ``always_on`` and ``parentbased_always_on`` to 1, ``always_off`` and
``parentbased_always_off`` to 0, ``traceidratio`` and ``parentbased_traceidratio`` to the
argument (1 when it is missing).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal
from urllib.parse import unquote

import msgspec

from shared.settings import SettingsError, load_settings

PREFIX = "STRATA_TELEMETRY_"

#: The standard OpenTelemetry variables :func:`load_telemetry_settings` reads.
OTEL_VARIABLES = frozenset(
    {
        "OTEL_SDK_DISABLED",
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_TRACES_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_TRACES_SAMPLER",
        "OTEL_TRACES_SAMPLER_ARG",
        "OTEL_BSP_SCHEDULE_DELAY",
        "OTEL_BSP_MAX_QUEUE_SIZE",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    }
)

_SAMPLERS = {
    "always_on": "1",
    "parentbased_always_on": "1",
    "always_off": "0",
    "parentbased_always_off": "0",
    "traceidratio": None,
    "parentbased_traceidratio": None,
}


class TelemetrySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Traces and logs of one process (``STRATA_TELEMETRY_*``)."""

    #: Off: no spans, no trace propagation, no middleware at all.
    enabled: bool = True
    #: ``service.name`` of the process's resource; defaults to ``strata-<service>``.
    service_name: str | None = None
    #: OTLP/HTTP traces endpoint (``http://collector:4318/v1/traces``); unset: no export.
    otlp_endpoint: str | None = None
    otlp_headers: dict[str, str] = {}
    otlp_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    #: Share of new traces recorded; a caller's sampling decision is always followed.
    sample_ratio: Annotated[float, msgspec.Meta(ge=0, le=1)] = 1.0
    export_batch_size: Annotated[int, msgspec.Meta(ge=1)] = 512
    export_queue_size: Annotated[int, msgspec.Meta(ge=1)] = 8192
    export_delay_s: Annotated[float, msgspec.Meta(gt=0)] = 2.0
    #: ``json`` (one object a line, with trace and correlation ids) or ``text``.
    log_format: Literal["json", "text"] = "json"
    log_level: str = "INFO"


def load_telemetry_settings(environ: Mapping[str, str] | None = None) -> TelemetrySettings:
    """Read :class:`TelemetrySettings` from ``STRATA_TELEMETRY_*`` variables, falling back
    to the standard ``OTEL_*`` ones (see the module's docstring)."""
    import os

    env = dict(os.environ if environ is None else environ)
    for name, value in from_otel(env).items():
        env.setdefault(PREFIX + name, value)
    return load_settings(TelemetrySettings, env, prefix=PREFIX)


def from_otel(env: Mapping[str, str]) -> dict[str, str]:
    """The ``OTEL_*`` variables of ``env`` as values of :class:`TelemetrySettings` fields
    (upper-cased field name -> text, as ``STRATA_TELEMETRY_<FIELD>`` would give them)."""
    out: dict[str, str] = {}
    if _get(env, "OTEL_SDK_DISABLED").lower() == "true":
        out["ENABLED"] = "false"
    if service := _get(env, "OTEL_SERVICE_NAME"):
        out["SERVICE_NAME"] = service
    exporters = {e.strip().lower() for e in _get(env, "OTEL_TRACES_EXPORTER").split(",")}
    if "none" not in exporters:
        if traces := _get(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
            out["OTLP_ENDPOINT"] = traces
        elif base := _get(env, "OTEL_EXPORTER_OTLP_ENDPOINT"):
            out["OTLP_ENDPOINT"] = base.rstrip("/") + "/v1/traces"
    headers = _get(env, "OTEL_EXPORTER_OTLP_TRACES_HEADERS") or _get(
        env, "OTEL_EXPORTER_OTLP_HEADERS"
    )
    if headers:
        out["OTLP_HEADERS"] = msgspec.json.encode(_headers(headers)).decode()
    timeout = _get(env, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") or _get(
        env, "OTEL_EXPORTER_OTLP_TIMEOUT"
    )
    if timeout:
        out["OTLP_TIMEOUT_S"] = _seconds("OTEL_EXPORTER_OTLP_TIMEOUT", timeout)
    if sampler := _get(env, "OTEL_TRACES_SAMPLER").lower():
        if sampler not in _SAMPLERS:
            raise SettingsError(
                f"OTEL_TRACES_SAMPLER: {sampler!r} is not supported; "
                f"choose from {', '.join(sorted(_SAMPLERS))}"
            )
        ratio = _SAMPLERS[sampler] or _get(env, "OTEL_TRACES_SAMPLER_ARG") or "1"
        try:
            if not 0 <= float(ratio) <= 1:
                raise ValueError(ratio)
        except ValueError:
            raise SettingsError(
                f"OTEL_TRACES_SAMPLER_ARG: {ratio!r} is not a ratio between 0 and 1"
            ) from None
        out["SAMPLE_RATIO"] = ratio
    if delay := _get(env, "OTEL_BSP_SCHEDULE_DELAY"):
        out["EXPORT_DELAY_S"] = _seconds("OTEL_BSP_SCHEDULE_DELAY", delay)
    if queue := _get(env, "OTEL_BSP_MAX_QUEUE_SIZE"):
        out["EXPORT_QUEUE_SIZE"] = queue
    if batch := _get(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"):
        out["EXPORT_BATCH_SIZE"] = batch
    return out


def _get(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def _headers(text: str) -> dict[str, str]:
    """``key=value,key2=value2`` (values percent-encoded), the OTLP exporters' format."""
    headers: dict[str, str] = {}
    for pair in text.split(","):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise SettingsError(f"OTEL_EXPORTER_OTLP_HEADERS: {pair.strip()!r} is not key=value")
        headers[unquote(key.strip())] = unquote(value.strip())
    return headers


def _seconds(name: str, milliseconds: str) -> str:
    try:
        return str(float(milliseconds) / 1000)
    except ValueError:
        raise SettingsError(f"{name}: {milliseconds!r} is not a number of milliseconds") from None
