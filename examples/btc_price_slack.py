#!/usr/bin/env python3
"""Fetch the BTC price, extract it, and post it to a Slack incoming webhook — with the AOS SDK.

The plan has three or four steps, all run by AOS:

  fetch    http_call       GET $PRICE_URL (retried on transient errors and rate limits)
  price    json_transform  .bitcoin.usd of the response body (fails unless it is a number)
  message  json_transform  builds the Slack payload {"text": "BTC price: ... USD"}
  notify   http_call       POST the payload to $SLACK_WEBHOOK_URL (only when it is set)

Without SLACK_WEBHOOK_URL the script prints the message it would send.

Environment:
  AOS_URL            AOS API (default http://127.0.0.1:8080)
  AOS_API_KEY        API key (``aos serve`` writes one to .aos/admin.key)
  PRICE_URL          CoinGecko-style simple-price URL (default: CoinGecko's public API)
  SLACK_WEBHOOK_URL  Slack incoming webhook URL (optional)

Exit status: 0 when the run succeeded, 1 when it failed or the API answered an error.
"""

from __future__ import annotations

import json
import os
import sys

import aos
from aos import PlanBuilder, RetryPolicy, ref_step

DEFAULT_PRICE_URL = "https://api.coingecko.com/api/v3/simple/price?ids=bitcoin&vs_currencies=usd"

RETRY = RetryPolicy(max_attempts=4, initial_delay_ms=300, max_delay_ms=3000, retry_on=["TRANSIENT", "RATE_LIMIT"])


def build_plan(price_url: str, webhook: str | None) -> aos.Plan:
    b = (
        PlanBuilder("btc-price-slack")
        .budget(max_duration_ms=120_000)
        .http_call("fetch", price_url, headers={"accept": "application/json"}, retry=RETRY, timeout_ms=15_000)
        .json_transform(
            "price",
            ref_step("fetch", "output.body"),
            '.bitcoin.usd | if type == "number" then . else error("the response has no numeric bitcoin.usd") end',
            depends_on=["fetch"],
        )
        .json_transform(
            "message",
            {"usd": ref_step("price")},
            '{text: "BTC price: \\(.usd) USD"}',
            depends_on=["price"],
        )
    )
    if webhook:
        # A whole-string reference keeps the JSON type: the body is the {"text": ...} object.
        b.http_call("notify", webhook, method="POST", body=ref_step("message"), retry=RETRY, depends_on=["message"])
    return b.build()


def show_progress(event: aos.ProgressEvent) -> None:
    if event.step_id is not None and event.previous_status is not None:
        print(f"  {event}")


def main() -> int:
    price_url = os.environ.get("PRICE_URL") or DEFAULT_PRICE_URL
    webhook = os.environ.get("SLACK_WEBHOOK_URL") or None
    plan = build_plan(price_url, webhook)

    with aos.Client() as client:
        print(f"Submitting plan {plan.name!r} to {client.base_url} (price from {price_url})")
        submitted = client.runs.submit(plan)
        print(f"Run {submitted.run_id} {submitted.status}")
        run = client.wait_for_run(submitted.run_id, timeout=180, on_progress=show_progress)

        print(f"Run {run.run_id} {run.status} (cost {run.cost_usd:g} USD)")
        for step in run.step_details:
            tries = len(step.attempts)
            detail = f"{step.error.code}: {step.error.message}" if step.error else (step.skip_reason or "")
            print(f"  {step.step_id:<8} {step.status:<10} attempts={tries} {detail}")

        if not run.succeeded:
            err = run.error
            print(f"FAILED: {err.code}: {err.message}" if err else "FAILED", file=sys.stderr)
            return 1

        message = run.output("message")
        print(f"BTC price: {run.output('price')} USD")
        if webhook:
            status = (run.output("notify") or {}).get("status")
            print(f"Posted to Slack (HTTP {status}): {json.dumps(message)}")
        else:
            print(f"No SLACK_WEBHOOK_URL set; would send: {json.dumps(message)}")

        report = client.runs.verify(run.run_id)
        print(f"Trace root {report.computed_root} {'verified locally' if report.ok else 'DID NOT VERIFY'}")
        return 0 if report.ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except aos.AuthenticationError as e:
        print(f"error: {e} (set AOS_API_KEY; `aos serve` saves one in .aos/admin.key)", file=sys.stderr)
        sys.exit(1)
    except aos.AosError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
