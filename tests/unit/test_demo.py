"""The pure parts of ``strata demo`` and ``strata up``'s ready tokens, against the real code
that judges them: the webhook ingress's HMAC check, the auth kernel's verifiers with the
settings the demo stack gives the storefront and the service desk, and real processes for
the pause that must always be undone."""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from shared.app import load_auth_settings
from shared.auth import AuthSettings
from shared.auth.authentication import build_authentication
from shared.auth.challenges import InvalidToken
from shared.events import ATTEMPT, HISTORY
from strata.demo import (
    StackNotFound,
    StepLine,
    StepResult,
    cause,
    forged_delivery,
    load_state,
    metric_value,
    parse_state,
    paused,
    posted_count,
    retries_of,
    stream_id_at,
    summary_table,
)
from strata.stack import (
    DEMO_SHOPS,
    SANDBOX_SECRET,
    demo_config,
    remove_state,
    shopify_session_token,
    write_state,
    zendesk_token,
)
from system_apis.shopify.ingress import signature_matches

METRICS = """\
# HELP strata_webhooks_duplicates_total Repeated deliveries
# TYPE strata_webhooks_duplicates_total counter
strata_webhooks_duplicates_total{topic="orders/create"} 2.0
strata_webhooks_duplicates_total{topic="orders/paid"} 5.0
strata_webhooks_duplicates_total_created{topic="orders/create"} 1.7e+09
strata_shopify_webhooks_rejected_total{reason="webhook-signature-invalid"} 1.0
"""


def test_metric_value_reads_one_labelled_sample_or_sums_them() -> None:
    name = "strata_webhooks_duplicates_total"
    assert metric_value(METRICS, name, {"topic": "orders/create"}) == 2.0
    assert metric_value(METRICS, name) == 7.0
    assert metric_value(METRICS, name, {"topic": "refunds/create"}) == 0.0
    reason = {"reason": "webhook-signature-invalid"}
    assert metric_value(METRICS, "strata_shopify_webhooks_rejected_total", reason) == 1.0


def test_the_forged_delivery_fails_the_ingress_check_and_only_its_secret_matches() -> None:
    body, headers = forged_delivery(DEMO_SHOPS[0], 9_000_000_000_001)
    signature = headers["X-Shopify-Hmac-Sha256"]
    assert headers["X-Shopify-Shop-Domain"] == DEMO_SHOPS[0]
    assert headers["X-Shopify-Topic"] == "orders/create"
    assert json.loads(body)["id"] == 9_000_000_000_001
    assert not signature_matches(body, signature, (SANDBOX_SECRET.encode(),))
    assert signature_matches(body, signature, (b"not-the-shops-secret",))


def _entry(
    shop: str, order_id: str, topic: str, attempt: int | None, error: str = ""
) -> tuple[bytes, dict[bytes, bytes]]:
    fields = {b"shop": shop.encode(), b"topic": topic.encode()}
    fields[b"body"] = json.dumps({"id": int(order_id)}).encode()
    if attempt is not None:
        fields[ATTEMPT.encode()] = str(attempt).encode()
        history = [
            {"at": 1.0, "error": f"{error} {n}", "kind": "transient"} for n in range(attempt)
        ]
        fields[HISTORY.encode()] = json.dumps(history).encode()
    return (b"1-0", fields)


def test_retries_are_counted_from_the_entries_put_back_on_the_stream() -> None:
    shop = DEMO_SHOPS[0]
    entries = [
        _entry(shop, "11", "orders/create", None),  # the delivery itself
        _entry(shop, "11", "orders/create", 1, "erp eu create order: timed out"),
        _entry(shop, "11", "orders/paid", 4, "locked"),  # another topic of the same order
        _entry(shop, "12", "orders/create", 7, "another order"),
        _entry(DEMO_SHOPS[1], "11", "orders/create", 9, "another shop"),
        _entry(shop, "11", "orders/create", 2, "erp eu create order: timed out"),
    ]
    retries, error = retries_of(entries, shop, "11")
    assert retries == 2
    assert error == "erp eu create order: timed out 1"
    assert retries_of(entries[:1], shop, "11") == (0, None)
    assert cause("erp eu create order: timed out (ReadTimeout)") == "timed out (ReadTimeout)"


def test_stream_ids_and_posted_steps() -> None:
    assert stream_id_at(1_700_000_000.5) == "1700000000500-0"
    steps = [{"step": s} for s in ("received", "routed", "posted", "acknowledged")]
    assert posted_count({"steps": steps}) == 1
    assert posted_count({"steps": [*steps, {"step": "posted"}]}) == 2
    assert posted_count({}) == 0


def test_summary_table_says_every_step_passed_only_when_all_did() -> None:
    passed = StepResult(1, "orders in both regions", True, "eu SO 1; us SO 2", 1.25)
    failed = StepResult(2, "a duplicate webhook", False, "posted 2 times", 0.5)
    table = summary_table([passed], planned=1)
    assert "1. orders in both regions  passed  eu SO 1; us SO 2" in table
    assert "1.2" in table
    assert "1/1 steps passed in 1.2s: every step passed" in table
    assert "SOME STEPS FAILED" in summary_table([passed, failed], planned=2)
    assert "INTERRUPTED after 1 steps" in summary_table([passed], planned=5)


def test_a_step_line_off_a_terminal_prints_each_new_note_once() -> None:
    out = io.StringIO()
    with StepLine(out, 4, "ERP outage and recovery", live=False) as line:
        line.note("#1003 routed, 0 retries", "erp-eu back in 9s")
        line.note("#1003 routed, 0 retries", "erp-eu back in 8s")
        line.note("#1003 routed, 1 retry")
        line.finish(StepResult(4, "ERP outage and recovery", True, "posted once", 11.0))
    lines = out.getvalue().splitlines()
    assert lines[0] == "4. ERP outage and recovery ..."
    assert [x.split("s  ", 1)[1] for x in lines[1:3]] == [
        "#1003 routed, 0 retries",
        "#1003 routed, 1 retry",
    ]
    assert lines[3].startswith("4. ERP outage and recovery")
    assert " ok " in lines[3]
    assert lines[3].endswith("posted once")


def test_a_step_line_on_a_terminal_redraws_in_place() -> None:
    out = io.StringIO()
    with StepLine(out, 1, "orders in both regions", live=True) as line:
        line.note("#1001 routed")
        time.sleep(0.25)
        line.finish(StepResult(1, "orders in both regions", False, "timed out", 60.0))
    text = out.getvalue()
    assert "\r\x1b[2K1. orders in both regions" in text
    assert "#1001 routed" in text
    assert text.endswith("timed out\n")
    assert "FAILED" in text


def test_state_file_round_trip_and_removal(tmp_path: Path) -> None:
    from strata.stack import Part

    path = tmp_path / "var" / "stack.json"
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        part = Part("erp-eu", [], 8101, proc=proc)
        write_state(path, "redis://127.0.0.1:6390/0", {"erp-eu": part}, tmp_path / "log")
        state = load_state(path)
        assert state.redis_url == "redis://127.0.0.1:6390/0"
        assert state.pid == os.getpid()
        assert state.address("erp-eu") == "http://127.0.0.1:8101"
        assert state.pid_of("erp-eu") == proc.pid
        assert [p.name for p in path.parent.iterdir()] == ["stack.json"]
        # Another stack wrote its own file there since: it is not ours to remove.
        data = json.loads(path.read_text())
        path.write_text(json.dumps({**data, "pid": proc.pid}))
        remove_state(path)
        assert path.exists()
        path.write_text(json.dumps(data))
        remove_state(path)
        assert not path.exists()
    finally:
        proc.kill()
        proc.wait()


def test_load_state_tells_a_missing_a_stale_and_a_broken_file(tmp_path: Path) -> None:
    with pytest.raises(StackNotFound, match="no running stack"):
        load_state(tmp_path / "stack.json")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps({"pid": int(dead.stdout), "redis_url": "r", "parts": []}))
    with pytest.raises(StackNotFound, match="stale"):
        load_state(stale)
    with pytest.raises(StackNotFound, match="not a stack state file"):
        parse_state('{"parts": "nope"}')


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]


def _wait_state(pid: int, wanted: set[str]) -> str:
    deadline = time.monotonic() + 5
    while (current := _state(pid)) not in wanted and time.monotonic() < deadline:
        time.sleep(0.02)
    return current


def test_paused_stops_the_group_and_always_continues_it() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )
    try:
        with paused(proc.pid):
            assert _wait_state(proc.pid, {"T"}) == "T"
        assert _wait_state(proc.pid, {"S", "R"}) in {"S", "R"}
        interrupted = False
        try:
            with paused(proc.pid):
                assert _wait_state(proc.pid, {"T"}) == "T"
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while paused
                time.sleep(1)
        except KeyboardInterrupt:
            interrupted = True
        assert interrupted
        assert _wait_state(proc.pid, {"S", "R"}) in {"S", "R"}
    finally:
        proc.kill()
        proc.wait()


def _settings_of(part: str) -> AuthSettings:
    config = demo_config("redis://127.0.0.1:6379/0", Path("var/erp"), Path("var/log"))
    return load_auth_settings(config.part_env[part])


async def test_the_printed_shopify_session_token_passes_the_storefronts_verifier() -> None:
    authentication = build_authentication(_settings_of("storefront"))
    principal = await authentication.authenticate_header(
        f"Bearer {shopify_session_token(DEMO_SHOPS[1])}"
    )
    assert principal.tenant is not None
    assert principal.tenant.id == DEMO_SHOPS[1]
    assert "storefront:read" in principal.scopes
    expired = shopify_session_token(DEMO_SHOPS[0], 60, now=time.time() - 3600)
    with pytest.raises(InvalidToken):
        await authentication.authenticate_header(f"Bearer {expired}")


async def test_the_printed_zendesk_token_passes_the_service_desks_verifier() -> None:
    authentication = build_authentication(_settings_of("service-desk"))
    principal = await authentication.authenticate_header(f"Bearer {zendesk_token()}")
    assert principal.tenant is not None
    assert principal.tenant.shops == frozenset(DEMO_SHOPS)
    assert "service-desk:read" in principal.scopes
    claims = msgspec.json.decode(base64.urlsafe_b64decode(zendesk_token().split(".")[1] + "=="))
    assert claims["exp"] - claims["iat"] == 3600
