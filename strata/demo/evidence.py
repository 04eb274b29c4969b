"""Reading the figures that prove a step: Prometheus samples, stream entries, pipeline steps.

Pure functions over what the stack answers, so each is tested without a stack.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from shared.events import ATTEMPT, HISTORY
from shared.streams import ORDERS_CREATE, MalformedEntry, decode_entry


def metric_value(text: str, name: str, labels: Mapping[str, str] | None = None) -> float:
    """The sum of ``name``'s samples in Prometheus text whose labels include ``labels``."""
    wanted = (labels or {}).items()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and wanted <= sample.labels.items()
    )


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def retries_of(
    entries: Iterable[tuple[Any, Mapping[Any, Any]]],
    shop: str,
    order_id: str,
    topic: str = ORDERS_CREATE,
) -> tuple[int, str | None]:
    """How often the stream workers retried ``topic`` of the order, and the last error.

    A retried entry goes back on the stream with its attempt count and history, so the
    entries since the order was placed tell the retries even after it was posted.
    """
    retries, error = 0, None
    for _entry_id, raw in entries:
        fields = {_text(k): _text(v) for k, v in raw.items()}
        if ATTEMPT not in fields:
            continue
        try:
            entry = decode_entry(fields)
        except MalformedEntry:
            continue
        if entry.shop != shop or entry.topic != topic:
            continue
        try:
            body_id = str(json.loads(entry.body).get("id", ""))
        except (ValueError, AttributeError):
            continue
        if body_id != order_id:
            continue
        attempt = int(fields[ATTEMPT])
        if attempt >= retries:
            retries = attempt
            with contextlib.suppress(ValueError, LookupError, TypeError):
                error = str(json.loads(fields.get(HISTORY, "[]"))[-1]["error"])
    return retries, error


def stream_id_at(epoch: float) -> str:
    """The smallest stream entry id at or after ``epoch`` (seconds)."""
    return f"{int(epoch * 1000)}-0"


def posted_count(status: Mapping[str, Any]) -> int:
    """How many times the pipeline recorded a posting of the order."""
    return sum(1 for step in status.get("steps", []) if step.get("step") == "posted")
