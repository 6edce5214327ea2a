#!/usr/bin/env python3
"""Retries as data, with the AOS SDK: call a flaky endpoint and show every attempt of the run.

The plan calls $FLAKY_URL with http_call and retries transient failures (5xx, timeouts) up to five
attempts with exponential backoff. While the run executes, the script prints each step change
(every retry is visible); afterwards it prints the attempt records — outcome, error code, duration,
the failure catalog's entry for each failed attempt — and, for each retry, the wait AOS took next to
the delay the seeded backoff formula gives (``aos.trace.backoff_delay_ms``, the same formula the
orchestrator uses). When the call never succeeds, it prints the catalog's explanation and advice.

Environment:
  FLAKY_URL    an endpoint that fails now and then (required)
  AOS_URL      AOS API (default http://127.0.0.1:8080)
  AOS_API_KEY  API key

Exit status: 0 when the call finally succeeded, 1 when it failed, 2 when FLAKY_URL is missing.
"""

from __future__ import annotations

import os
import sys

import aos
from aos import PlanBuilder, RetryPolicy
from aos.trace import backoff_delay_ms

SEED = 42
RETRY = RetryPolicy(max_attempts=5, initial_delay_ms=200, max_delay_ms=2000, multiplier=2.0, retry_on=["TRANSIENT"])


def main() -> int:
    url = os.environ.get("FLAKY_URL")
    if not url:
        print("error: set FLAKY_URL to an endpoint that fails now and then", file=sys.stderr)
        return 2
    plan = PlanBuilder("http-retry-demo").http_call("call", url, retry=RETRY, timeout_ms=10_000).build()

    def progress(event: aos.ProgressEvent) -> None:
        if event.step_id is None or event.step is None:
            return
        failed = [a for a in event.step.attempts if not a.outcome.ok]
        if event.status == "running" and event.attempt > 1 and failed:
            last = max(failed, key=lambda a: a.attempt)
            code = last.outcome.error.code if last.outcome.error else "an error"
            print(f"  attempt {last.attempt} failed with {code}; retrying as attempt {event.attempt}")
        else:
            print(f"  {event}")

    with aos.Client() as client:
        print(f"Calling {url} through AOS at {client.base_url} (up to {RETRY.max_attempts} attempts)")
        run = client.runs.submit_and_wait(plan, seed=SEED, timeout=120, on_progress=progress, poll_interval=0.05)
        step = run.step("call")
        attempts = sorted(step.attempts, key=lambda a: a.attempt)
        print(f"Run {run.run_id} {run.status}: {len(attempts)} attempt(s)")
        print(f"  {'attempt':<8} {'result':<14} {'duration':>9}  {'waited':>7}  {'backoff':>7}  catalog")
        for i, a in enumerate(attempts):
            if a.outcome.ok:
                result = f"ok {a.outcome.output.get('status', '')}" if isinstance(a.outcome.output, dict) else "ok"
            else:
                result = a.outcome.error.code if a.outcome.error else "error"
            waited = backoff = ""
            if i + 1 < len(attempts):
                waited = f"{attempts[i + 1].started_at_ms - a.finished_at_ms} ms"
                backoff = f"{backoff_delay_ms(RETRY, run.seed, 'call', a.attempt)} ms"
            catalog = a.failure.code or "(no match)" if a.failure else ""
            print(f"  {a.attempt:<8} {result:<14} {a.duration_ms:>6} ms  {waited:>7}  {backoff:>7}  {catalog}")

        report = client.runs.verify(run.run_id)
        print(f"Trace root {report.computed_root} {'verified locally' if report.ok else 'DID NOT VERIFY'}")
        if not run.succeeded:
            err = run.error
            print(f"FAILED: {err.code}: {err.message}" if err else "FAILED", file=sys.stderr)
            if run.failure is not None and run.failure.code:
                entry = client.catalog.get(run.failure.code)
                retry = "retryable" if entry.retryable else "not retryable"
                print(f"Catalog: {entry.code} ({entry.category}, {retry}): {entry.explanation}", file=sys.stderr)
                for suggestion in entry.suggestions:
                    print(f"  - {suggestion}", file=sys.stderr)
            return 1
        print(f"Succeeded on attempt {attempts[-1].attempt}")
        return 0 if report.ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except aos.AosError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
