#!/usr/bin/env python3
"""Recovery suggestions learned from history, reviewed by a person — with the AOS SDK.

1. Provokes failures against a flaky endpoint: a few runs whose http_call step gets two 503s and
   then a 200, recovering by retrying (evidence that a retry fixes HTTP_SERVICE_UNAVAILABLE for
   http_call), and one run that fails outright (no retries allowed).
2. Finds the stored failure of that run and asks AOS what to do about it
   (``client.recovery.suggest(failure_id=...)``): the catalog's match, then the suggestions best
   first, each with its confidence (the lower credible bound as a bar, and the mean), the evidence
   behind it and the patch to the failing step.
3. Lists the pending recovery candidates and approves one (the top suggestion's, when the call
   proposed it), with a note kept in its history and the audit log.

Without FLAKY_URL the script serves its own flaky endpoint on 127.0.0.1: the AOS server must then
allow http_call to reach loopback (``AOS_HTTP_ALLOW_HOSTS=127.0.0.1 aos serve``). Approving needs
an admin or operator key (``recovery:review``).

Environment:
  AOS_URL      AOS API (default http://127.0.0.1:8080)
  AOS_API_KEY  API key (``aos serve`` writes one to .aos/admin.key)
  FLAKY_URL    base URL of a flaky endpoint: each FLAKY_URL/<name> answers 503 twice, then 200
               (optional; default: one served by this script)

Exit status: 0 when a candidate was approved, 1 when the API answered an error, 3 when there was no
pending candidate to approve.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional

import aos
from aos import PlanBuilder, RetryPolicy

RECOVERING_RUNS = 3
RETRY = RetryPolicy(max_attempts=4, initial_delay_ms=50, max_delay_ms=200, retry_on=["TRANSIENT"])


class FlakyEndpoint:
    """A local HTTP server whose every path answers 503 twice, then 200."""

    def __init__(self) -> None:
        calls: Dict[str, int] = {}
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                with lock:
                    n = calls[self.path] = calls.get(self.path, 0) + 1
                status, body = (503, {"error": "temporarily unavailable"}) if n <= 2 else (200, {"ok": True, "calls": n})
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, name="flaky-endpoint", daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def bar(x: float, cells: int = 8) -> str:
    """``0.51`` -> ``████░░░░ 51%``."""
    filled = min(cells, round(max(0.0, min(1.0, x)) * cells))
    return f"{'█' * filled}{'░' * (cells - filled)} {x * 100:.0f}%"


def evidence(e: aos.EvidenceView) -> str:
    if e.observed == 0:
        return "none"
    return f"{e.successes:.1f}/{e.attempts:.1f} ok ({e.observed} seen)"


def compact(value: object) -> str:
    return "-" if value in (None, {}) else json.dumps(value, separators=(",", ":"))


def provoke(client: aos.Client, base: str, tag: str) -> aos.RunView:
    """Runs that recover by retrying, then one that fails; returns the failed run."""
    for i in range(RECOVERING_RUNS):
        plan = PlanBuilder("recovery-review").http_call("call", f"{base}/{tag}-ok-{i}", retry=RETRY).build()
        run = client.runs.submit_and_wait(plan, timeout=60)
        attempts = len(run.step("call").attempts)
        print(f"  run {run.run_id}: {run.status} after {attempts} attempt(s)")
    plan = PlanBuilder("recovery-review").http_call("call", f"{base}/{tag}-fails", retry=RetryPolicy(max_attempts=1)).build()
    failed = client.runs.submit_and_wait(plan, timeout=60)
    err = failed.error
    print(f"  run {failed.run_id}: {failed.status}" + (f" with {err.code}: {err.message}" if err else ""))
    return failed


def failure_of(client: aos.Client, run: aos.RunView, since_ms: int) -> aos.FailureRecord:
    """The stored record of the run's failed attempt (records are written as the run goes)."""
    deadline = time.monotonic() + 30
    while True:
        for record in client.failures.list(from_ms=since_ms, kind="attempt"):
            if record.run_id == run.run_id:
                return record
        if time.monotonic() > deadline:
            raise SystemExit(f"error: no failure record for run {run.run_id}")
        time.sleep(0.2)


def print_suggestions(answer: aos.SuggestResponse) -> None:
    m = answer.match
    if m.matched:
        retry = "retryable" if m.retryable else "not retryable"
        print(f"Catalog: {m.code} ({m.category}, {retry}), matched by {m.match_type} at {m.confidence * 100:.0f}%")
    else:
        print(f"Catalog: no entry (signature {m.signature})")
    print(f"Evidence key: {answer.key.code} on {answer.key.skill or 'any skill'}")
    print(f"  {'#':<2} {'action':<20} {'confidence':<14} {'mean':>5}  {'evidence':<20} {'source':<8} patch")
    for i, s in enumerate(answer.suggestions, 1):
        print(
            f"  {i:<2} {s.action:<20} {bar(s.confidence.lower):<14} {s.confidence.mean * 100:>4.0f}%  "
            f"{evidence(s.evidence):<20} {s.source:<8} {compact(s.patch)}"
        )
    if answer.best is not None:
        print(f"Best: {answer.best.action} — {answer.best.explanation}")


def main() -> int:
    own: Optional[FlakyEndpoint] = None
    base = os.environ.get("FLAKY_URL", "").rstrip("/")
    if not base:
        own = FlakyEndpoint()
        base = own.url
    tag = uuid.uuid4().hex[:8]
    try:
        with aos.Client() as client:
            print(f"Provoking failures against {base} through AOS at {client.base_url}")
            since = int(time.time() * 1000)
            failed = provoke(client, base, tag)
            record = failure_of(client, failed, since)
            print(f"Failure {record.id}: {record.code} of {record.skill} step {record.step_id}")

            answer = client.recovery.suggest(failure_id=record.id)
            print_suggestions(answer)

            pending: List[aos.RecoveryCandidate] = client.recovery.candidates(status="pending").to_list()
            print(f"Pending candidates: {len(pending)}")
            for c in pending:
                print(
                    f"  {c.id}  {c.code:<28} {c.skill or '-':<12} {c.action:<14} {bar(c.confidence.lower):<14} "
                    f"seen {c.occurrences}  patch {compact(c.patch)}"
                )
            proposed = [c for c in pending if c.id in answer.candidates]
            chosen = proposed[0] if proposed else (pending[0] if pending else None)
            if chosen is None:
                print("Nothing to approve: no pending candidate (their confidence is still below the threshold).")
                return 3
            approved = client.recovery.approve(chosen.id, note=f"approved by recovery_review.py ({tag})")
            last = approved.history[-1]
            print(f"Approved {approved.id}: {approved.action} {compact(approved.params)} for {approved.code} on {approved.skill or 'any skill'}")
            print(f"  {last.from_} -> {last.to} by {last.actor}: {last.note}")
            return 0
    finally:
        if own is not None:
            own.close()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except aos.AosError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
