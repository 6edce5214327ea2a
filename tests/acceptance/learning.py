#!/usr/bin/env python3
"""The learning loop's traffic simulator: does AOS reduce its failure rate over time without any
plan being edited?

It starts `aos serve` twice — the loop `active` (candidates past the thresholds are approved
automatically and compiled into plans) and `off` (the baseline) — each with a fresh data directory
and compressed days (`AOS_RECOVERY_WINDOW_MS`: one simulated day is a few seconds of evaluation
window), and `aos-target` (the tests' local HTTP server) with fault-injecting endpoints. Each
simulated day submits the same traffic, the same seed, to both servers:

  rate-limit   a 429 with Retry-After, then 200         careful plan: default retry   fragile: 1 attempt
  bursts       503 twice, then 200                     careful: 4 attempts            fragile: 1 attempt
  slow         answers in 400 ms                       careful: 150 ms, then 750 ms   fragile: 150 ms
  bad-request  a 400 no retry fixes                    careful: on_error continue     fragile: abort
  dependency   a 503 once, then 200 — except on DEGRADE_DAY, when it answers 503 always (fragile: 1 attempt)

Fragile plans opt in to policy overrides (`"policies": "override"`): their own settings are what a
policy may replace; nobody edits them. At the end of each day the script runs the failure
aggregation (`POST /api/v1/failures/aggregate`: nightly proposals, automatic approval, the
regression guard, drift) and reads `GET /api/v1/failures/drift`, the policies and `/metrics`.

It prints a per-day table (submitted runs, failed runs, failure rate; active against baseline), the
policies and when they changed, and checks: the last day's failure rate with the loop active is at
least 30% below its first day's, while the baseline's stays flat (within 10 percentage points); the
degradation raises drift (`aos_failure_drift > 0` in `/metrics`, the alert's condition) on the day
it happens; the policy it breaks is suspended by the regression guard (and, in probation, comes
back once the dependency recovers). Exit status 1 when a check
fails. `--mode shadow` runs the loop in shadow mode instead and checks that no run changed.

usage: python3 tests/acceptance/learning.py [--aos PATH] [--target PATH] [--days N] [--markdown]
Standard library only.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEGRADE_DAY = 5
WINDOW_MS = 8000


def default_bin(name: str) -> str:
    return str(Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target") / "debug" / name)


class Api:
    def __init__(self, base, key):
        self.base, self.key = base, key

    def call(self, method, path, body=None, raw=False):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("authorization", f"Bearer {self.key}")
        if data is not None:
            req.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                text = r.read()
                return r.status, (text.decode() if raw else json.loads(text or b"null"))
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")


def start(cmd, env, marker, log: Path):
    out = open(log, "w")
    p = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    for _ in range(300):
        for line in log.read_text().splitlines():
            if marker in line:
                return p, line.split(marker, 1)[1].split()[0]
        if p.poll() is not None:
            raise SystemExit(f"{cmd[0]} exited: {log.read_text()[-2000:]}")
        time.sleep(0.1)
    raise SystemExit(f"{cmd[0]} did not start")


def step(url, **kw):
    return {"id": "call", "skill": "http_call", "input": {"url": url}, **kw}


def traffic(target, day, mode_tag):
    """The day's plans: (scenario, plan). Keys include the server's tag so that the two servers'
    calls to aos-target never share a counter."""
    k = lambda name, i: f"{mode_tag}-{name}-d{day}-{i}"
    out = []
    for i in range(2):
        out.append(("rate-limit", {"name": "quotes-careful", "steps": [step(f"{target}/limited/{k('rlc', i)}/1/1")]}))
        out.append(("rate-limit", {"name": "quotes", "policies": "override", "steps": [step(f"{target}/limited/{k('rlf', i)}/1/1", retry={"max_attempts": 1})]}))
        out.append(("bursts", {"name": "inventory-careful", "steps": [step(f"{target}/flaky/{k('flc', i)}/2", retry={"max_attempts": 4, "initial_delay_ms": 50, "max_delay_ms": 200})]}))
        out.append(("bursts", {"name": "inventory", "policies": "override", "steps": [step(f"{target}/flaky/{k('flf', i)}/2", retry={"max_attempts": 1})]}))
        out.append(("bad-request", {"name": "enrich-careful", "steps": [step(f"{target}/status/400", on_error={"action": "continue"}), {"id": "after", "skill": "json_transform", "input": {"data": 1, "expr": "."}}]}))
        out.append(("bad-request", {"name": "enrich", "policies": "override", "steps": [step(f"{target}/status/400"), {"id": "after", "skill": "json_transform", "input": {"data": 1, "expr": "."}}]}))
    # The slow report: a careful team runs it with 150 ms and, when that fails, again with 750 ms.
    out.append(("slow", {"name": "report-careful", "steps": [step(f"{target}/slow/400", timeout_ms=150, retry={"max_attempts": 1})]}))
    out.append(("slow", {"name": "report-careful", "steps": [step(f"{target}/slow/400", timeout_ms=750, retry={"max_attempts": 1})]}))
    out.append(("slow", {"name": "report", "policies": "override", "steps": [step(f"{target}/slow/400", timeout_ms=150, retry={"max_attempts": 1})]}))
    for i in range(8):
        url = f"{target}/flaky/{k('dep', i)}/1" if day != DEGRADE_DAY else f"{target}/status/503"
        out.append(("dependency", {"name": "billing", "policies": "override", "steps": [step(url, retry={"max_attempts": 1})]}))
    return out


class Server:
    def __init__(self, aos, tmp, name, env, mode):
        self.name, self.mode = name, mode
        self.proc, base = start([aos, "serve", "--port", "0", "--data-dir", str(tmp / name)], env, "AOS listening on ", tmp / f"{name}.log")
        self.api = Api(base, (tmp / name / "admin.key").read_text().strip())
        s, body = self.api.call("PUT", "/api/v1/recovery/settings", {"mode": mode, "min_lower": 0.6, "min_evidence": 3})
        assert s == 200, body
        self.days = []

    def run_day(self, day, target):
        submitted = []
        for scenario, plan in traffic(target, day, self.name):
            s, b = self.api.call("POST", "/api/v1/runs", {"plan": plan, "seed": 42})
            assert s == 202, (s, b)
            submitted.append((scenario, b["run_id"]))
        failed, by_scenario, changed = 0, {}, 0
        for scenario, run_id in submitted:
            for _ in range(4):
                s, v = self.api.call("GET", f"/api/v1/runs/{run_id}?wait_ms=30000")
                assert s == 200, (s, v)
                if v["status"] in ("succeeded", "failed"):
                    break
            assert v["status"] in ("succeeded", "failed"), v["status"]
            bad = v["status"] == "failed"
            failed += bad
            by_scenario.setdefault(scenario, [0, 0])
            by_scenario[scenario][0] += 1
            by_scenario[scenario][1] += bad
            changed += bool(v.get("applied_policies"))
        s, agg = self.api.call("POST", "/api/v1/failures/aggregate?days=1")
        assert s == 200, agg
        s, drift = self.api.call("GET", "/api/v1/failures/drift")
        assert s == 200, drift
        s, metrics = self.api.call("GET", "/metrics", raw=True)
        drift_metric = [l for l in (metrics if isinstance(metrics, str) else "").splitlines() if l.startswith("aos_failure_drift{") and not l.endswith(" 0")]
        s, pols = self.api.call("GET", "/api/v1/policies")
        self.days.append({
            "day": day, "submitted": len(submitted), "failed": failed, "rate": failed / len(submitted), "by": by_scenario,
            "changed": changed, "drifting": [(i["skill"], i["code"], i["z"]) for i in drift["items"] if i["drifting"]],
            "top": [(i["code"], i["z"], i["current"], i["baseline"]) for i in drift["items"][:2]],
            "drift_metric": drift_metric, "policies": [(p["id"], p["status"], p["code"], p["action"]) for p in pols["policies"]],
        })

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--aos", default=os.environ.get("AOS_BIN") or default_bin("aos"))
    ap.add_argument("--target", default=default_bin("aos-target"))
    ap.add_argument("--days", type=int, default=8)
    ap.add_argument("--mode", choices=["active", "shadow"], default="active")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="aos-learning-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AOS_")}
    env.update({"AOS_HTTP_ALLOW_HOSTS": "127.0.0.1", "AOS_RATE_LIMIT_PER_MINUTE": "0", "AOS_AGGREGATE_EVERY": "off", "AOS_LOG": "warn",
                "AOS_RECOVERY_WINDOW_MS": str(WINDOW_MS), "AOS_RECOVERY_MIN_EVIDENCE": "3", "AOS_RECOVERY_CANDIDATE_LOWER": "0.6"})
    procs = []
    try:
        tp, target = start([args.target], env, "AOS target listening on ", tmp / "target.log")
        procs.append(tp)
        loop = Server(args.aos, tmp, "loop", env, args.mode)
        base = Server(args.aos, tmp, "base", env, "off")
        procs += [loop.proc, base.proc]
        for day in range(1, args.days + 1):
            started = time.monotonic()
            loop.run_day(day, target)
            base.run_day(day, target)
            # A simulated day lasts two evaluation windows: the evaluation at its end (right after the
            # loop server's traffic) sees that day's traffic and none of the day before.
            time.sleep(max(0.0, 2 * WINDOW_MS / 1000 - (time.monotonic() - started)))
            d = loop.days[-1]
            print(f"day {day}: loop {d['failed']}/{d['submitted']} failed, base {base.days[-1]['failed']}/{base.days[-1]['submitted']}; "
                  f"policies {[(p[1], p[2]) for p in d['policies']]}; drifting {d['drifting']}; top {d['top']}", flush=True)
        head = ("day", "submitted", f"failed ({args.mode})", f"rate ({args.mode})", "failed (off)", "rate (off)", "runs changed by policies", "drift")
        rows = [(l["day"], l["submitted"], l["failed"], f"{l['rate']:.1%}", b["failed"], f"{b['rate']:.1%}", l["changed"],
                 ", ".join(f"{s}/{c} z={z}" for s, c, z in l["drifting"]) or "—") for l, b in zip(loop.days, base.days)]
        print()
        if args.markdown:
            print("| " + " | ".join(head) + " |")
            print("|" + "|".join(["---:"] * 7 + ["---"]) + "|")
            for r in rows:
                print("| " + " | ".join(str(c) for c in r) + " |")
        else:
            for r in [head] + rows:
                print("  ".join(f"{str(c):<14}" for c in r))
        print("\npolicies at the end:", json.dumps(loop.days[-1]["policies"]))
        problems = []
        first, last = loop.days[0], loop.days[-1]
        b_first, b_last = base.days[0], base.days[-1]
        if args.mode == "active":
            cut = 1 - last["rate"] / first["rate"] if first["rate"] else 0
            print(f"failure rate, first day → last day: loop {first['rate']:.1%} → {last['rate']:.1%} ({cut:.0%} lower); "
                  f"baseline {b_first['rate']:.1%} → {b_last['rate']:.1%}")
            if cut < 0.30:
                problems.append(f"the loop cut the failure rate by {cut:.0%}, not at least 30%")
            if abs(b_last["rate"] - b_first["rate"]) > 0.10:
                problems.append(f"the baseline moved from {b_first['rate']:.1%} to {b_last['rate']:.1%}")
            if args.days >= DEGRADE_DAY:
                degraded = loop.days[DEGRADE_DAY - 1]
                if not degraded["drifting"] or not degraded["drift_metric"]:
                    problems.append(f"day {DEGRADE_DAY}: the degradation raised no drift ({degraded['drifting']}, metric {degraded['drift_metric']})")
                if not any(p[1] == "suspended" for d in loop.days[DEGRADE_DAY - 1:] for p in d["policies"]):
                    problems.append("no policy was suspended after the degradation")
        else:
            changed = sum(d["changed"] for d in loop.days)
            if changed:
                problems.append(f"shadow mode changed {changed} runs")
            if not any(p[1] == "shadow" for p in last["policies"]):
                problems.append("shadow mode recorded no shadow policy")
        for p in problems:
            print(f"FAIL {p}")
        print("learning loop: " + ("ok" if not problems else f"{len(problems)} problem(s)"))
        return 1 if problems else 0
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    sys.exit(main())
