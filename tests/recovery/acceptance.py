#!/usr/bin/env python3
"""Recovery acceptance: how suggestions learn from repeated traffic with known behaviour.

Starts `aos serve` (temporary data dir, free port, `AOS_HTTP_ALLOW_HOSTS=127.0.0.1`) and
`aos-target` (the tests' local HTTP server), then runs ROUNDS rounds of four scenarios:

  rate-limit  GET /limited/<key>/1/1: a 429 with `Retry-After: 1`, then 200 (the default retry policy)
  flaky-503   GET /flaky/<key>/2: 503 twice, then 200 (the default retry policy: three attempts)
  timeout     GET /slow/400 with timeout_ms 150 (fails), then the same plan with timeout_ms 750
  bad-request GET /status/400, which no retry fixes (the plan forces three attempts with retry_on)

After each round it asks `POST /api/v1/recovery/suggest` about the round's failure of each
scenario (by its failure record's id) and prints a table: the top suggestion, its source, its
confidence (mean, lower bound) and the evidence behind it. At the end it checks the top
suggestion of each scenario and that confidence moved the way the evidence says, and exits 1
when a check fails. The tables are the figures of docs/recovery.md.

usage: python3 tests/recovery/acceptance.py [--aos PATH] [--target PATH] [--rounds N] [--markdown]
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


def default_bin(name: str) -> str:
    return str(Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target") / "debug" / name)


class Api:
    def __init__(self, base: str, key: str):
        self.base, self.key = base, key

    def call(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("authorization", f"Bearer {self.key}")
        if data is not None:
            req.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def run(self, plan: dict) -> dict:
        s, b = self.call("POST", "/api/v1/runs", {"plan": plan})
        assert s == 202, f"submit: {s} {b}"
        s, v = self.call("GET", f"/api/v1/runs/{b['run_id']}?wait_ms=30000")
        assert s == 200 and v["status"] in ("succeeded", "failed"), f"run: {s} {v.get('status')}"
        return v


def start(cmd, env, marker: str, log: Path):
    out = open(log, "w")
    p = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    for _ in range(300):
        text = log.read_text()
        for line in text.splitlines():
            if marker in line:
                return p, line.split(marker, 1)[1].split()[0]
        if p.poll() is not None:
            raise SystemExit(f"{cmd[0]} exited: {text[-2000:]}")
        time.sleep(0.1)
    raise SystemExit(f"{cmd[0]} did not start")


def scenarios(target: str, r: int):
    """(name, step id, plans run this round; the last failure of the step is asked about)."""
    step = lambda sid, url, **kw: {"id": sid, "skill": "http_call", "input": {"url": url}, **kw}
    return [
        ("rate-limit", "rl", [{"name": "acc-rate-limit", "steps": [step("rl", f"{target}/limited/rl{r}/1/1")]}]),
        ("flaky-503", "fl", [{"name": "acc-flaky", "steps": [step("fl", f"{target}/flaky/fl{r}/2")]}]),
        ("timeout", "to", [
            {"name": "acc-timeout", "steps": [step("to", f"{target}/slow/400", timeout_ms=150, retry={"max_attempts": 1})]},
            {"name": "acc-timeout", "steps": [step("to", f"{target}/slow/400", timeout_ms=750, retry={"max_attempts": 1})]},
        ]),
        ("bad-request", "bad", [{"name": "acc-bad", "steps": [step("bad", f"{target}/status/400",
                                                                  retry={"max_attempts": 3, "initial_delay_ms": 20, "retry_on": ["VALIDATION"]})]}]),
    ]


def describe(s: dict) -> str:
    params = ",".join(f"{k}={v}" for k, v in s["params"].items())
    return s["action"] + (f"({params})" if params else "")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--aos", default=os.environ.get("AOS_BIN") or default_bin("aos"))
    ap.add_argument("--target", default=default_bin("aos-target"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="aos-recovery-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AOS_")}
    env.update({"AOS_HTTP_ALLOW_HOSTS": "127.0.0.1", "AOS_RATE_LIMIT_PER_MINUTE": "0", "AOS_AGGREGATE_EVERY": "off", "AOS_LOG": "warn"})
    procs = []
    try:
        tp, target = start([args.target], env, "AOS target listening on ", tmp / "target.log")
        procs.append(tp)
        sp, base = start([args.aos, "serve", "--port", "0", "--data-dir", str(tmp / "d")], env, "AOS listening on ", tmp / "serve.log")
        procs.append(sp)
        api = Api(base, (tmp / "d" / "admin.key").read_text().strip())
        history = {}
        problems = []
        for r in range(1, args.rounds + 1):
            rows = []
            for name, sid, plans in scenarios(target, r):
                for plan in plans:
                    api.run(plan)
                s, page = api.call("GET", "/api/v1/failures?limit=200&kind=attempt")
                assert s == 200, page
                failure = next(f for f in page["failures"] if f.get("step_id") == sid)
                s, sug = api.call("POST", "/api/v1/recovery/suggest", {"failure_id": failure["id"]})
                assert s == 200, sug
                top = sug["suggestions"][0]
                retries = [x for x in sug["suggestions"] if x["action"] == "retry"]
                retry = next((x for x in retries if x["evidence"]["observed"]), retries[0] if retries else None)
                history.setdefault(name, []).append((top, retry, sug))
                rows.append((name, sug["key"]["code"], describe(top), top["source"], top["confidence"]["mean"], top["confidence"]["lower"],
                             top["evidence"]["observed"], top["evidence"]["successes"], len(sug["candidates"])))
            print(f"\nRound {r}" if not args.markdown else f"\n**Round {r}**\n")
            head = ("scenario", "failure", "top suggestion", "source", "mean", "lower", "observed", "successes", "candidates")
            if args.markdown:
                print("| " + " | ".join(head) + " |")
                print("|" + "|".join(["---"] * 4 + ["---:"] * 5) + "|")
                for row in rows:
                    print("| " + " | ".join(f"`{c}`" if i in (1, 2) else str(c) for i, c in enumerate(row)) + " |")
            else:
                print("  ".join(f"{h:<14}" for h in head))
                for row in rows:
                    print("  ".join(f"{str(c):<14}" for c in row))

        def check(ok, msg):
            if not ok:
                problems.append(msg)

        last = {n: h[-1] for n, h in history.items()}
        check(last["rate-limit"][0]["action"] == "retry_after" and last["rate-limit"][0]["source"] == "history", f"rate-limit: top {describe(last['rate-limit'][0])}")
        check(last["flaky-503"][0]["action"] == "retry" and last["flaky-503"][0]["source"] == "history", f"flaky-503: top {describe(last['flaky-503'][0])}")
        check(last["timeout"][0]["action"] == "raise_timeout" and last["timeout"][0]["source"] == "history", f"timeout: top {describe(last['timeout'][0])}")
        check(last["bad-request"][0]["action"] in ("fix_input", "do_not_retry"), f"bad-request: top {describe(last['bad-request'][0])}")
        # Which timeout fires first — the step's (STEP_TIMEOUT) or http_call's own (HTTP_TIMEOUT) —
        # is a race on a loaded machine; the timeouts are one family of evidence (kept under
        # STEP_TIMEOUT), so the race does not split the observations.
        for name in ("rate-limit", "flaky-503", "timeout"):
            lows = [h[0]["confidence"]["lower"] for h in history[name]]
            check(all(b > a for a, b in zip(lows, lows[1:])), f"{name}: the top suggestion's lower bound should grow each round: {lows}")
            check(last[name][0]["evidence"]["observed"] == args.rounds, f"{name}: one observation per round, got {last[name][0]['evidence']['observed']}")
        retry_lows = [h[1]["confidence"]["lower"] for h in history["bad-request"] if h[1]]
        check(len(retry_lows) == args.rounds and all(b < a for a, b in zip(retry_lows, retry_lows[1:])),
              f"bad-request: retrying's lower bound should fall each round: {retry_lows}")
        observed = [(h[1]["evidence"]["observed"], h[1]["confidence"]["mean"], h[1]["confidence"]["lower"]) for h in history["bad-request"] if h[1]]
        print(f"\nbad-request, the observed `retry` by round (observed, mean, lower): {observed}")
        if args.rounds >= 3:
            check(any(h[2]["candidates"] for h in history["flaky-503"]), "flaky-503: no candidate proposed")
        s, cands = api.call("GET", "/api/v1/recovery/candidates?status=pending")
        print(f"pending candidates: {[(c['code'], describe(c), c['confidence']['lower']) for c in cands['candidates']]}")
        for p in problems:
            print(f"FAIL {p}")
        print("recovery acceptance: " + ("ok" if not problems else f"{len(problems)} problem(s)"))
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
