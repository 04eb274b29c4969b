"""Running a bulk mutation in the background, the way Shopify does.

The operation goes ``RUNNING``; each JSONL line is the mutation's variables and runs through
the same resolvers as a single call (so a ``productSet`` line is a real ``productSet``, with
its ``products/*`` webhooks), outside the cost bucket, as Shopify runs bulk operations. Each
line gives one result line ``{"data": ..., "errors": ..., "__lineNumber": n}`` (0-based, as
Shopify numbers them). Then the result file is stored, the operation ``COMPLETED`` (or
``CANCELED`` after ``bulkOperationCancel``), and ``bulk_operations/finish`` published.

Pace: Shopify states no throughput for bulk mutations. The sandbox writes
``bulk_objects_per_second`` objects per sandbox second (settings): a line's objects are the
items of the longest list in its variables (a ``productSet``'s variants), at least one; a line
starts no earlier than the pace allows, so a back-fill takes time in proportion to its size.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import msgspec
from graphql import ExecutionResult, execute, parse

from sandbox.shopify.admin_graphql import formatted_error
from sandbox.shopify.admin_root import IdempotencyStore
from sandbox.shopify.admin_views import field_resolver
from sandbox.shopify.bulk import jsonl_lines
from sandbox.shopify.clock import SandboxClock
from sandbox.shopify.commerce import ShopEvent
from sandbox.shopify.payloads import bulk_operation_finish_payload
from sandbox.shopify.root import SandboxRoot
from sandbox.shopify.schema import admin_schema
from sandbox.shopify.state import BulkOperation, Shop, ShopifyState, now_utc
from sandbox.shopify.versions import CONCURRENCY_PROTECTION_VERSION, at_least

log = logging.getLogger("strata.sandbox.shopify.bulk")

Publish = Callable[[str, list[ShopEvent]], object]


def line_objects(variables: Mapping[str, Any]) -> int:
    """Objects a line writes: the items of the longest list in its variables, at least 1."""

    def longest(value: Any) -> int:
        if isinstance(value, list):
            return max([len(value), *(longest(v) for v in value)])
        if isinstance(value, Mapping):
            return max([0, *(longest(v) for v in value.values())])
        return 0

    return max(1, longest(variables))


class BulkRunner:
    """Runs bulk mutations of every shop as background tasks."""

    def __init__(
        self,
        state: ShopifyState,
        clock: SandboxClock,
        publish: Publish,
        idempotency: IdempotencyStore,
        objects_per_second: float,
    ) -> None:
        self.state = state
        self.clock = clock
        self.publish = publish
        self.idempotency = idempotency
        self.objects_per_second = objects_per_second
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, shop: Shop, op: BulkOperation) -> None:
        """Run ``op`` in the background (the caller's event loop)."""
        task = asyncio.get_running_loop().create_task(self.run(shop, op))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, within: float = 60.0) -> None:
        """Wait up to ``within`` real seconds for every running operation to finish."""
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=within)
            if pending:
                raise TimeoutError(f"{len(pending)} bulk operations still running")

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def run(self, shop: Shop, op: BulkOperation) -> None:
        """Run every line of ``op``, store the result file and publish the finish webhook."""
        upload = self.state.staged_uploads.get(op.staged_upload_path)
        lines = jsonl_lines(upload.content or b"") if upload is not None else None
        results: list[bytes] = []
        notify = True
        try:
            op.status = "RUNNING"
            schema = admin_schema(at_least(op.version, CONCURRENCY_PROTECTION_VERSION))
            document = parse(op.mutation)
            started = self.clock.now()
            written = 0
            for number, variables in enumerate(lines or []):
                # Let the loop run (webhooks, reads of the operation) between lines.
                due = started + written / self.objects_per_second - self.clock.now()
                await self.clock.sleep(max(0.0, due))
                if op.status == "CANCELING":
                    break
                root = SandboxRoot(self.state, shop, op.version, op.app, self.idempotency)
                result = execute(
                    schema,
                    document,
                    root_value=root,
                    variable_values=variables,
                    field_resolver=field_resolver,
                )
                if not isinstance(result, ExecutionResult):
                    raise TypeError("resolvers are synchronous")
                results.append(_result_line(result, number))
                written += line_objects(variables)
                op.object_count += 1
                if root.events:
                    self.publish(shop.domain, root.events)
            op.status = "CANCELED" if op.status == "CANCELING" else "COMPLETED"
        except asyncio.CancelledError:
            op.status, op.error_code = "FAILED", "INTERNAL_SERVER_ERROR"
            notify = False  # the sandbox is shutting down
            raise
        except Exception:
            # A fault in the simulator must still end the operation, as Shopify's would.
            log.exception("bulk operation %s failed", op.id)
            op.status, op.error_code = "FAILED", "INTERNAL_SERVER_ERROR"
        finally:
            self._finish(shop, op, results, notify=notify)

    def _finish(self, shop: Shop, op: BulkOperation, results: list[bytes], *, notify: bool) -> None:
        if results:
            key = f"bulk/{shop.domain}/{op.id}/result.jsonl"
            content = b"".join(line + b"\n" for line in results)
            self.state.files[key] = content
            op.result_key, op.result_size = key, len(content)
        op.completed_at = now_utc()
        if not notify:
            return
        self.publish(
            shop.domain,
            [ShopEvent(topic="bulk_operations/finish", payload=bulk_operation_finish_payload(op))],
        )


def _result_line(result: ExecutionResult, number: int) -> bytes:
    line: dict[str, Any] = {}
    if result.errors:
        line["errors"] = [formatted_error(e) for e in result.errors]
    if result.data is not None:
        line["data"] = result.data
    line["__lineNumber"] = number
    return msgspec.json.encode(line)
