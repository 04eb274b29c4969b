"""Telemetry settings of one process: traces and logs, from ``STRATA_TELEMETRY_*``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

import msgspec

from shared.settings import load_settings

PREFIX = "STRATA_TELEMETRY_"


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
    """Read :class:`TelemetrySettings` from ``STRATA_TELEMETRY_*`` variables."""
    return load_settings(TelemetrySettings, environ, prefix=PREFIX)
