#!/usr/bin/env python3
"""Acceptance traffic: a scripted mix of plans against a running `aos serve` and a local target
server (`aos-target`), then checks that every failure shows where an operator looks for it:
`GET /api/v1/failures/stats` and `GET /metrics`.

The mix (see MIX) has runs that succeed, runs that recover after retries (503, 429 with
Retry-After), runs that fail on a matched failure (404, 401, 500 retried then failed, a jq error,
an HTTP timeout), runs that fail on a failure no catalog entry matches (HTTP 300/304), and
submissions the validator refuses (unknown skill, cycle). That is 9 distinct catalog matches.

Usage (a person, against a running server; the target server must be allowed by the server's
AOS_HTTP_ALLOW_HOSTS, e.g. `AOS_HTTP_ALLOW_HOSTS=127.0.0.1 aos serve`):

    aos-target &                      # prints `AOS target listening on http://127.0.0.1:PORT`
    python3 tests/acceptance/traffic.py --aos http://127.0.0.1:8080 --key-file .aos/admin.key \
        --target http://127.0.0.1:PORT

The script compares the server's figures before and after its own traffic, so it can run against a
server that already has other traffic (as long as nothing else sends the same kinds of failures at
the same moment). It exits non-zero with the failing checks listed. Standard library only.
The Prometheus test (tests/monitoring/prometheus_test.py) imports `drive` and `MIX`.
"""

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

HTTP = "http_call"
JQ = "json_transform"


@dataclass
class Case:
    """One kind of submission, sent `runs` times; the expected effects are per run."""

    name: str
    plan: Callable[[str], dict]  # target base URL -> plan (called once per run: keys are unique)
    runs: int
    status: str  # final run status, or "rejected" for a 422
    hits: Dict[Tuple[str, str], int] = field(default_factory=dict)  # (catalog code, category) -> attempts
    misses: Dict[str, int] = field(default_factory=dict)  # skill -> unmatched attempts
    # (mode, catalog code) -> (recoveries started, recoveries that succeeded)
    recoveries: Dict[Tuple[str, str], Tuple[int, int]] = field(default_factory=dict)
    steps: Dict[str, int] = field(default_factory=dict)  # skill -> executed attempts
    rejected_code: Optional[str] = None  # the 422's error code


def call(url: str, retry: dict, **input_extra) -> dict:
    return {"name": "traffic-call", "steps": [{"id": "call", "skill": HTTP, "input": {"url": url, **input_extra}, "retry": retry}]}


ONCE = {"max_attempts": 1}
FAST = {"max_attempts": 3, "initial_delay_ms": 10, "max_delay_ms": 50}

MIX: List[Case] = [
    Case("success", lambda t: {"name": "traffic-ok", "steps": [
        {"id": "price", "skill": HTTP, "input": {"url": f"{t}/price"}},
        {"id": "usd", "skill": JQ, "depends_on": ["price"], "input": {"data": "{{ steps.price.output.body }}", "expr": ".bitcoin.usd"}},
    ]}, runs=4, status="succeeded", steps={HTTP: 1, JQ: 1}),
    Case("flaky-503-recovers", lambda t: call(f"{t}/flaky/{uuid.uuid4().hex}/1", FAST), runs=3, status="succeeded",
         hits={("HTTP_SERVICE_UNAVAILABLE", "TRANSIENT"): 1}, recoveries={("retry_after", "HTTP_SERVICE_UNAVAILABLE"): (1, 1)}, steps={HTTP: 2}),
    Case("rate-limited-429-recovers", lambda t: call(f"{t}/limited/{uuid.uuid4().hex}/1/1", FAST), runs=1, status="succeeded",
         hits={("HTTP_TOO_MANY_REQUESTS", "RATE_LIMIT"): 1}, recoveries={("retry_after", "HTTP_TOO_MANY_REQUESTS"): (1, 1)}, steps={HTTP: 2}),
    Case("not-found-404", lambda t: call(f"{t}/status/404", FAST), runs=2, status="failed",
         hits={("HTTP_NOT_FOUND", "NOT_FOUND"): 1}, steps={HTTP: 1}),
    Case("unauthorized-401", lambda t: call(f"{t}/status/401", ONCE), runs=1, status="failed",
         hits={("HTTP_UNAUTHORIZED", "AUTH"): 1}, steps={HTTP: 1}),
    Case("server-error-500-retried-fails", lambda t: call(f"{t}/status/500", {"max_attempts": 2, "initial_delay_ms": 10, "max_delay_ms": 20}),
         runs=1, status="failed", hits={("HTTP_INTERNAL_SERVER_ERROR", "TRANSIENT"): 2},
         recoveries={("retry_exponential", "HTTP_INTERNAL_SERVER_ERROR"): (1, 0)}, steps={HTTP: 2}),
    Case("http-timeout", lambda t: call(f"{t}/slow/3000", ONCE, timeout_ms=200), runs=1, status="failed",
         hits={("HTTP_TIMEOUT", "TRANSIENT"): 1}, steps={HTTP: 1}),
    Case("jq-error", lambda t: {"name": "traffic-jq", "steps": [
        {"id": "calc", "skill": JQ, "input": {"data": {"a": "x"}, "expr": ".a + 1"}, "retry": ONCE}]},
         runs=1, status="failed", hits={("JQ_RUNTIME_ERROR", "VALIDATION"): 1}, steps={JQ: 1}),
    Case("unmatched-300", lambda t: call(f"{t}/status/300", ONCE), runs=1, status="failed", misses={HTTP: 1}, steps={HTTP: 1}),
    Case("unmatched-304", lambda t: call(f"{t}/status/304", ONCE), runs=1, status="failed", misses={HTTP: 1}, steps={HTTP: 1}),
    Case("rejected-unknown-skill", lambda t: {"name": "traffic-bad", "steps": [{"id": "a", "skill": "no_such_skill"}]},
         runs=1, status="rejected", rejected_code="PLAN_UNKNOWN_SKILL"),
    Case("rejected-cycle", lambda t: {"name": "traffic-cycle", "steps": [
        {"id": "a", "skill": JQ, "depends_on": ["b"], "input": {"data": 1, "expr": "."}},
        {"id": "b", "skill": JQ, "depends_on": ["a"], "input": {"data": 1, "expr": "."}}]},
         runs=1, status="rejected", rejected_code="PLAN_CYCLE"),
]


@dataclass
class Expected:
    """What the whole mix adds to the server's figures."""

    runs: Counter  # status -> runs
    hits: Counter  # (code, category) -> attempts
    misses: Counter  # skill -> attempts
    recovery_attempts: Counter  # (mode, code) -> n
    recovery_success: Counter
    steps: Counter  # skill -> executed attempts
    rejected: Counter  # error code -> rejected submissions (matched to the catalog entry of the same code)


def expected(mix: List[Case] = MIX) -> Expected:
    e = Expected(Counter(), Counter(), Counter(), Counter(), Counter(), Counter(), Counter())
    for c in mix:
        e.runs[c.status] += c.runs
        for k, v in c.hits.items():
            e.hits[k] += v * c.runs
        for k, v in c.misses.items():
            e.misses[k] += v * c.runs
        for k, (a, s) in c.recoveries.items():
            e.recovery_attempts[k] += a * c.runs
            e.recovery_success[k] += s * c.runs
        for k, v in c.steps.items():
            e.steps[k] += v * c.runs
        if c.rejected_code:
            e.rejected[c.rejected_code] += c.runs
    return e


class Api:
    def __init__(self, base: str, key: str, timeout: float = 30.0):
        self.base, self.key, self.timeout = base.rstrip("/"), key, timeout

    def request(self, method: str, path: str, body: Optional[dict] = None) -> Tuple[int, object]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("authorization", f"Bearer {self.key}")
        if data is not None:
            req.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        text = raw.decode("utf-8", "replace")
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def metrics(self) -> Dict[Tuple[str, frozenset], float]:
        status, text = self.request("GET", "/metrics")
        if status != 200 or not isinstance(text, str):
            raise SystemExit(f"GET /metrics answered {status}: {text!r}")
        return parse_metrics(text)


def parse_metrics(text: str) -> Dict[Tuple[str, frozenset], float]:
    """Prometheus text exposition -> {(name, frozenset(label pairs)): value}."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        name, _, labels = series.partition("{")
        pairs = []
        for part in labels.rstrip("}").split('",') if labels else []:
            k, _, v = part.partition("=")
            pairs.append((k.strip(), v.strip().strip('"')))
        out[(name, frozenset(pairs))] = float(value)
    return out


def metric(m: Dict[Tuple[str, frozenset], float], name: str, **labels: str) -> float:
    """Sum of the series of `name` carrying every given label."""
    want = set(labels.items())
    return sum(v for (n, ls), v in m.items() if n == name and want <= ls)


@dataclass
class Result:
    started_ms: int
    finished_ms: int
    expected: Expected
    run_ids: List[Tuple["Case", str]]
    failures: List[str] = field(default_factory=list)

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            self.failures.append(what)


def now_ms() -> int:
    return int(time.time() * 1000)


def submit_all(api: Api, target: str, mix: List[Case], res: Result) -> None:
    for c in mix:
        for _ in range(c.runs):
            status, body = api.request("POST", "/api/v1/runs", {"plan": c.plan(target), "inputs": {}})
            if c.status == "rejected":
                code = body.get("error", {}).get("code") if isinstance(body, dict) else None
                res.check(status == 422 and code == c.rejected_code, f"{c.name}: expected 422 {c.rejected_code}, got {status} {body}")
            elif status != 202:
                raise SystemExit(f"{c.name}: submission answered {status}: {body}")
            else:
                res.run_ids.append((c, body["run_id"]))


def wait_all(api: Api, res: Result, timeout_s: float) -> None:
    deadline = time.time() + timeout_s
    pending = list(res.run_ids)
    while pending:
        still = []
        for c, run_id in pending:
            status, run = api.request("GET", f"/api/v1/runs/{run_id}")
            if status != 200:
                raise SystemExit(f"GET run {run_id} answered {status}: {run}")
            if run["status"] in ("succeeded", "failed", "cancelled"):
                res.check(run["status"] == c.status, f"{c.name}: run {run_id} ended {run['status']}, expected {c.status}")
            else:
                still.append((c, run_id))
        pending = still
        if pending and time.time() > deadline:
            raise SystemExit(f"{len(pending)} runs did not finish within {timeout_s} s: {[r for _, r in pending]}")
        if pending:
            time.sleep(0.1)


def check_metrics(before, after, e: Expected, res: Result) -> None:
    def moved(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    for status, n in e.runs.items():
        res.check(moved("runs_total", status=status) == n, f"runs_total{{status={status}}} moved {moved('runs_total', status=status)}, expected {n}")
    for (code, category), n in e.hits.items():
        got = moved("failure_match_hits_total", code=code, category=category)
        res.check(got == n, f"failure_match_hits_total{{code={code},category={category}}} moved {got}, expected {n}")
    got = moved("failure_match_hits_total")
    res.check(got == sum(e.hits.values()), f"all hits moved {got}, expected {sum(e.hits.values())}")
    for skill, n in e.misses.items():
        got = moved("failure_match_misses_total", skill=skill)
        res.check(got == n, f"failure_match_misses_total{{skill={skill}}} moved {got}, expected {n}")
    for (mode, code), n in e.recovery_attempts.items():
        got = moved("recovery_attempts_total", mode=mode, code=code)
        res.check(got == n, f"recovery_attempts_total{{mode={mode},code={code}}} moved {got}, expected {n}")
    for (mode, code), n in e.recovery_success.items():
        got = moved("recovery_success_total", mode=mode, code=code)
        res.check(got == n, f"recovery_success_total{{mode={mode},code={code}}} moved {got}, expected {n}")
    for skill, n in e.steps.items():
        got = moved("step_duration_seconds_count", skill=skill)
        res.check(got == n, f"step_duration_seconds_count{{skill={skill}}} moved {got}, expected {n}")
        inf = moved("step_duration_seconds_bucket", skill=skill, le="+Inf")
        res.check(inf == n, f"step_duration_seconds_bucket{{skill={skill},le=+Inf}} moved {inf}, expected {n}")


def check_stats(api: Api, e: Expected, res: Result) -> dict:
    # Records of the orchestrator's decisions are written with them; a short grace for the last ones.
    q = f"/api/v1/failures/stats?from={res.started_ms}&to={now_ms() + 1000}&bucket_ms=60000"
    status, st = api.request("GET", q)
    if status != 200:
        raise SystemExit(f"GET {q} answered {status}: {st}")
    by_catalog = st.get("by_catalog_code", {})
    attempts_by_code = Counter({code: n for (code, _), n in e.hits.items()})
    for code, n in attempts_by_code.items():
        # Attempts, plus the run's own failure for runs that failed on it.
        res.check(by_catalog.get(code, 0) >= n, f"stats.by_catalog_code[{code}] = {by_catalog.get(code)}, expected at least {n}")
    for code, n in e.rejected.items():
        res.check(by_catalog.get(code, 0) == n, f"stats.by_catalog_code[{code}] = {by_catalog.get(code)} (rejected submissions), expected {n}")
    distinct = set(attempts_by_code) | set(e.rejected)
    seen = {c for c in distinct if by_catalog.get(c, 0) > 0}
    res.check(len(seen) >= 5, f"only {len(seen)} distinct catalog matches visible in stats: {sorted(seen)}")
    res.check(st.get("by_kind", {}).get("rejected", 0) == sum(e.rejected.values()), f"stats.by_kind.rejected = {st.get('by_kind')}")
    res.check(st.get("by_kind", {}).get("attempt", 0) == sum(e.hits.values()) + sum(e.misses.values()),
              f"stats.by_kind.attempt = {st.get('by_kind', {}).get('attempt')}, expected {sum(e.hits.values()) + sum(e.misses.values())}")
    unmatched = st["total"] - st["matched"]
    # Misses: each unmatched attempt, and the failed run it caused.
    res.check(unmatched == 2 * sum(e.misses.values()), f"stats: {unmatched} unmatched failures, expected {2 * sum(e.misses.values())}")
    rec = st.get("recovery", {})
    res.check(rec.get("attempted") == sum(e.recovery_attempts.values()), f"stats.recovery.attempted = {rec.get('attempted')}, expected {sum(e.recovery_attempts.values())}")
    res.check(rec.get("succeeded") == sum(e.recovery_success.values()), f"stats.recovery.succeeded = {rec.get('succeeded')}, expected {sum(e.recovery_success.values())}")
    return st


def check_candidates(api: Api, res: Result) -> None:
    """The unmatched failures of this mix (HTTP 300 and 304 from `http_call`, see MIX) surface as
    catalog candidates: the aggregation is run now (`POST /api/v1/failures/aggregate`, as the
    nightly job does) and its result read back through `GET /api/v1/failures/candidates`, each
    candidate with its signature, count, skill, examples and a suggested category and recovery."""
    status, report = api.request("POST", "/api/v1/failures/aggregate?days=1")
    res.check(status == 200, f"POST /api/v1/failures/aggregate answered {status}: {report}")
    status, page = api.request("GET", "/api/v1/failures/candidates?limit=200")
    res.check(status == 200, f"GET /api/v1/failures/candidates answered {status}: {page}")
    if status != 200 or not isinstance(page, dict):
        return
    by_code = {c.get("code"): c for c in page.get("candidates", [])}
    for code in ("HTTP_300", "HTTP_304"):
        c = by_code.get(code)
        res.check(c is not None, f"no catalog candidate for the unmatched {code} failures: {sorted(by_code)}")
        if c is None:
            continue
        res.check(c.get("count", 0) >= 1 and c.get("skills") == [HTTP], f"candidate {code}: count {c.get('count')}, skills {c.get('skills')}")
        res.check(bool(c.get("signature")) and bool(c.get("examples")), f"candidate {code} has no signature or examples: {c}")
        suggested = c.get("suggested") or {}
        res.check(bool(suggested.get("category")) and bool(suggested.get("recovery_mode")) and bool(suggested.get("reason")), f"candidate {code} has no suggestion: {suggested}")


def drive(api: Api, target: str, mix: List[Case] = MIX, timeout_s: float = 60.0) -> Result:
    """Sends the mix, waits for every run, and checks metrics and stats. Returns the result with
    its list of failed checks (empty when everything is as expected)."""
    res = Result(started_ms=now_ms(), finished_ms=0, expected=expected(mix), run_ids=[])
    before = api.metrics()
    submit_all(api, target, mix, res)
    wait_all(api, res, timeout_s)
    res.finished_ms = now_ms()
    after = api.metrics()
    check_metrics(before, after, res.expected, res)
    check_stats(api, res.expected, res)
    check_candidates(api, res)
    return res


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--aos", required=True, help="base URL of aos serve, e.g. http://127.0.0.1:8080")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--key", help="API key with RunsWrite, FailuresRead and MetricsRead (an admin key)")
    g.add_argument("--key-file", help="file holding the key, e.g. <data dir>/admin.key")
    p.add_argument("--target", required=True, help="base URL of aos-target, e.g. http://127.0.0.1:9000")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the runs (default 60)")
    a = p.parse_args()
    key = a.key or open(a.key_file).read().strip()
    t0 = time.time()
    res = drive(Api(a.aos, key), a.target.rstrip("/"), timeout_s=a.timeout)
    e = res.expected
    print(f"traffic: {sum(c.runs for c in MIX)} submissions ({dict(e.runs)}), {len(res.run_ids)} runs in {time.time() - t0:.1f} s; "
          f"{len(set(c for c, _ in e.hits) | set(e.rejected))} distinct catalog codes, {sum(e.misses.values())} unmatched attempts")
    if res.failures:
        print("FAILED checks:", *res.failures, sep="\n  ", file=sys.stderr)
        return 1
    print("traffic: all checks passed (/metrics, /api/v1/failures/stats and the catalog candidates)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
