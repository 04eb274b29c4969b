"""The batch span processor: batches, the schedule, a full queue, flush, shutdown, fork."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from shared.telemetry.export import LeanBatchProcessor
from shared.telemetry.tracing import TelemetrySettings, Tracing


class Recording(SpanExporter):
    def __init__(self, gate: threading.Event | None = None, fail_first: bool = False) -> None:
        self.batches: list[list[Any]] = []
        self.gate = gate
        self.fail_first = fail_first
        self.shut = False
        self.threads: set[str] = set()

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        self.threads.add(threading.current_thread().name)
        if self.gate is not None:
            self.gate.wait(10)
        if self.fail_first:
            self.fail_first = False
            raise RuntimeError("collector unreachable")
        self.batches.append(list(spans))
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.shut = True

    @property
    def exported(self) -> list[Any]:
        return [span for batch in self.batches for span in batch]


def eventually(check: Any, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.01)


def test_a_full_batch_is_exported_at_once_on_the_export_thread() -> None:
    exporter = Recording()
    processor = LeanBatchProcessor(exporter, max_export_batch_size=4, schedule_delay=60)
    try:
        for n in range(4):
            processor.on_end(n)  # type: ignore[arg-type]
        eventually(lambda: len(exporter.exported) == 4)
        assert exporter.batches == [[0, 1, 2, 3]], "oldest first, one batch"
        assert exporter.threads == {"strata-span-export"}
    finally:
        processor.shutdown()


def test_fewer_spans_than_a_batch_wait_for_the_schedule() -> None:
    exporter = Recording()
    processor = LeanBatchProcessor(exporter, max_export_batch_size=100, schedule_delay=0.2)
    try:
        processor.on_end("a")  # type: ignore[arg-type]
        time.sleep(0.05)
        assert exporter.exported == []
        eventually(lambda: exporter.exported == ["a"], within=3)
    finally:
        processor.shutdown()


def test_a_full_queue_drops_and_counts_and_a_flush_exports_the_rest() -> None:
    gate = threading.Event()
    exporter = Recording(gate)
    processor = LeanBatchProcessor(
        exporter, max_queue_size=3, max_export_batch_size=3, schedule_delay=60
    )
    try:
        for n in range(3):
            processor.on_end(n)  # type: ignore[arg-type]
        eventually(lambda: not processor._queue)  # the thread took them and waits on the gate
        for n in range(3, 7):
            processor.on_end(n)  # type: ignore[arg-type]
        assert processor.dropped == 1
        gate.set()
        assert processor.force_flush()
        assert sorted(exporter.exported) == [0, 1, 2, 3, 4, 5]
    finally:
        gate.set()
        processor.shutdown()


def test_an_exporter_failure_does_not_stop_exporting() -> None:
    exporter = Recording(fail_first=True)
    processor = LeanBatchProcessor(exporter, max_export_batch_size=1, schedule_delay=60)
    try:
        processor.on_end("lost")  # type: ignore[arg-type]
        eventually(lambda: not exporter.fail_first)
        processor.on_end("kept")  # type: ignore[arg-type]
        eventually(lambda: exporter.exported == ["kept"])
    finally:
        processor.shutdown()


def test_shutdown_exports_what_waits_and_then_takes_nothing() -> None:
    exporter = Recording()
    processor = LeanBatchProcessor(exporter, max_export_batch_size=100, schedule_delay=60)
    processor.on_end("last")  # type: ignore[arg-type]
    processor.shutdown()
    assert exporter.exported == ["last"]
    assert exporter.shut
    assert not processor._worker.is_alive()
    processor.on_end("late")  # type: ignore[arg-type]
    assert processor.dropped == 1
    assert not processor.force_flush()


def test_a_batch_size_above_the_queue_size_is_refused() -> None:
    with pytest.raises(ValueError, match="max_export_batch_size"):
        LeanBatchProcessor(Recording(), max_queue_size=2, max_export_batch_size=3)


def test_a_forked_child_exports_its_own_spans_on_its_own_thread() -> None:
    exporter = Recording()
    processor = LeanBatchProcessor(exporter, max_export_batch_size=100, schedule_delay=60)
    try:
        processor.on_end("parent")  # type: ignore[arg-type]
        pid = os.fork()
        if pid == 0:  # the child: the parent's queue is not its to export
            ok = not processor._queue and processor._worker.is_alive()
            processor.on_end("child")  # type: ignore[arg-type]
            processor.force_flush()
            os._exit(0 if ok and exporter.exported == ["child"] else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        processor.force_flush()
        assert exporter.exported == ["parent"]
    finally:
        processor.shutdown()


def test_tracing_exports_lean_spans_through_it() -> None:
    exporter = Recording()
    tracing = Tracing.from_settings(TelemetrySettings(), exporter=exporter)
    try:
        assert isinstance(tracing.processor, LeanBatchProcessor)
        span = tracing.tracer("strata.test").start_span("work")
        span.end()
        assert tracing.force_flush()
        assert [s.name for s in exporter.exported] == ["work"]
    finally:
        tracing.shutdown()
