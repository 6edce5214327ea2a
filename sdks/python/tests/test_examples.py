"""Every Python example in examples/ runs against `aos serve`, with local stand-ins for the price
API, a flaky endpoint and the Slack webhook."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, Optional

import pytest

from conftest import EXAMPLES, AosServer, _stop, start_server
from standins import StandIn

pytestmark = pytest.mark.contract

PY_EXAMPLES = sorted(p.name for p in EXAMPLES.glob("*.py"))


def run_example(
    name: str, server: AosServer, env: Optional[Dict[str, str]] = None, python: str = sys.executable, cwd: Optional[Path] = None
) -> "subprocess.CompletedProcess[str]":
    full_env = {k: v for k, v in os.environ.items() if k not in ("PRICE_URL", "SLACK_WEBHOOK_URL", "FLAKY_URL")}
    full_env.update({"AOS_URL": server.url, "AOS_API_KEY": server.api_key, "PYTHONUNBUFFERED": "1"})
    full_env.update(env or {})
    return subprocess.run(
        [python, str(EXAMPLES / name)],
        env=full_env,
        cwd=str(cwd or EXAMPLES),
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_the_examples_are_the_expected_ones() -> None:
    assert PY_EXAMPLES == ["btc_price_slack.py", "http_retry_demo.py", "json_transform_demo.py", "recovery_review.py"]


def test_btc_price_slack_posts_the_price(aos_server: AosServer, standin: StandIn, unique: str) -> None:
    result = run_example(
        "btc_price_slack.py",
        aos_server,
        {"PRICE_URL": f"{standin.url}/price", "SLACK_WEBHOOK_URL": f"{standin.url}/slack/{unique}"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    received = standin.slack_messages(unique)
    assert received == [{"text": "BTC price: 43210.5 USD"}], "what Slack received"
    assert "BTC price: 43210.5 USD" in result.stdout
    assert "Posted to Slack (HTTP 200)" in result.stdout
    assert "verified locally" in result.stdout


def test_btc_price_slack_without_webhook_prints_the_message(aos_server: AosServer, standin: StandIn) -> None:
    before = {k: len(v) for k, v in standin.slack.items()}
    result = run_example("btc_price_slack.py", aos_server, {"PRICE_URL": f"{standin.url}/price"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'would send: {"text": "BTC price: 43210.5 USD"}' in result.stdout
    assert {k: len(v) for k, v in standin.slack.items()} == before, "nothing was posted"


def test_btc_price_slack_fails_when_the_price_is_missing(aos_server: AosServer, standin: StandIn) -> None:
    result = run_example("btc_price_slack.py", aos_server, {"PRICE_URL": f"{standin.url}/status/404"})
    assert result.returncode == 1
    assert "HTTP_404" in result.stderr
    wrong = run_example("btc_price_slack.py", aos_server, {"PRICE_URL": f"{standin.url}/echo"})
    assert wrong.returncode == 1 and "JQ_RUNTIME_ERROR" in wrong.stderr


def test_json_transform_demo(aos_server: AosServer) -> None:
    result = run_example("json_transform_demo.py", aos_server)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert '"4 ORDERS, 162.75 PAID, LARGEST O-1"' in out
    assert "Replay: parity=True, re-executed 4, recorded 0" in out
    assert "Local verification: ok over 4 trace entries" in out


def test_http_retry_demo_shows_the_retries(aos_server: AosServer, standin: StandIn, unique: str) -> None:
    result = run_example("http_retry_demo.py", aos_server, {"FLAKY_URL": f"{standin.url}/flaky/{unique}"})
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "3 attempt(s)" in out
    lines = [line.split() for line in out.splitlines()]
    rows = [cols for cols in lines if cols and cols[0] in ("1", "2", "3")]
    assert [r[:2] for r in rows] == [["1", "HTTP_503"], ["2", "HTTP_503"], ["3", "ok"]]
    # Each failed attempt shows the failure catalog's entry; the successful one none.
    assert [r[-1] for r in rows[:2]] == ["HTTP_SERVICE_UNAVAILABLE"] * 2 and rows[2][-1] != "HTTP_SERVICE_UNAVAILABLE"
    assert "Succeeded on attempt 3" in out and "verified locally" in out
    assert standin.flaky_counts[unique] == 3


def test_http_retry_demo_exit_codes(aos_server: AosServer, standin: StandIn) -> None:
    assert run_example("http_retry_demo.py", aos_server).returncode == 2
    failing = run_example("http_retry_demo.py", aos_server, {"FLAKY_URL": f"{standin.url}/status/500"})
    assert failing.returncode == 1 and "5 attempt(s)" in failing.stdout and "HTTP_500" in failing.stderr
    assert "Catalog: HTTP_INTERNAL_SERVER_ERROR (TRANSIENT, retryable)" in failing.stderr


@pytest.fixture(scope="module")
def recovery_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AosServer]:
    """A server of its own for recovery_review.py: the confidence it needs to propose a candidate
    must not depend on the recoveries (and failed retries) of the other tests."""
    server, proc = start_server(tmp_path_factory)
    try:
        yield server
    finally:
        _stop(proc.pid, proc)


def test_recovery_review_suggests_and_approves(recovery_server: AosServer) -> None:
    """With no FLAKY_URL the example serves its own flaky endpoint on 127.0.0.1 (the test server
    lets http_call reach loopback), asks for suggestions for the run that failed, and approves a
    pending candidate."""
    result = run_example("recovery_review.py", recovery_server)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.count("succeeded after 3 attempt(s)") == 3 and "failed with HTTP_503" in out
    assert "Catalog: HTTP_SERVICE_UNAVAILABLE (TRANSIENT, retryable)" in out
    assert "Evidence key: HTTP_SERVICE_UNAVAILABLE on http_call" in out
    assert "█" in out and "Best: retry" in out
    approved = [line for line in out.splitlines() if line.startswith("Approved rc_")]
    assert len(approved) == 1, out
    candidate_id = approved[0].split()[1].rstrip(":")
    assert "pending -> approved by key:" in out and "approved by recovery_review.py" in out
    with recovery_server.client() as client:
        assert client.recovery.get(candidate_id).status == "approved"


def test_recovery_review_with_a_flaky_url(recovery_server: AosServer, standin: StandIn, unique: str) -> None:
    """Against another flaky endpoint: the same kind of failure, whose candidate is now approved
    (exit 3: nothing left to approve) unless the first test did not run."""
    result = run_example("recovery_review.py", recovery_server, {"FLAKY_URL": f"{standin.url}/flaky/{unique}"})
    assert result.returncode in (0, 3), result.stdout + result.stderr
    # Three runs recovered on their third call, one failed on its only call.
    assert sorted(n for k, n in standin.flaky_counts.items() if k.startswith(unique + "/")) == [1, 3, 3, 3]
    assert "Catalog: HTTP_SERVICE_UNAVAILABLE" in result.stdout


def test_examples_report_api_errors(aos_server: AosServer, standin: StandIn) -> None:
    result = run_example(
        "json_transform_demo.py", aos_server, {"AOS_API_KEY": "aos_00000000_" + "0" * 48}
    )
    assert result.returncode == 1 and "UNAUTHENTICATED" in result.stderr
