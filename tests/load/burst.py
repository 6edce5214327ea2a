#!/usr/bin/env python3
"""A burst of concurrent runs through the API of a real `aos serve`, every one accounted for.

Submits N five-step runs (tests/load/common.py `plan`: four jq transforms and a POST to a local
target) from C client threads at once, waits for every run to finish, and checks:
  - every submission was accepted (202) — a refusal fails the test;
  - every accepted run reached a terminal state, and succeeded;
  - `GET /api/v1/runs` (all pages) lists exactly the accepted runs, each once;
  - the target received exactly one call per run (counted by the Idempotency-Key http_call sends,
    `<run_id>/<step_id>/<attempt>`): nothing lost, nothing run twice;
  - `runs_total{status="succeeded"}` on /metrics equals N.
Prints submit throughput, p50/p99 submit latency, time until all finished and runs/s end to end.

    python3 tests/load/burst.py [--runs 1000] [--clients 100]    # AOS_BIN picks the binary

The test command runs `--runs 200` as a correctness check (not timed); docs/performance.md has the
figures of the full run."""

import argparse
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, __import__("os").path.dirname(__file__))
from common import INPUTS, TERMINAL, Api, Server, Target, aos_binary, list_runs, machine, metric, percentile, plan  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=100, help="client threads submitting at once")
    ap.add_argument("--timeout", type=float, default=900, help="seconds to wait for every run to finish")
    args = ap.parse_args()

    binary = aos_binary()
    print(f"burst: {args.runs} runs from {args.clients} clients; {binary}; {machine()}")
    target = Target()
    server = Server(binary)
    api = Api(server)
    body = {"plan": plan(target.url), "inputs": INPUTS}
    accepted, refused, latencies = {}, [], []
    lock = threading.Lock()

    def submit(i: int) -> None:
        # An idempotency key per submission: a client retry after a dropped connection returns
        # the same run instead of making a second one.
        started = time.perf_counter()
        status, answer = api.request("POST", "/api/v1/runs", {**body, "idempotency_key": f"burst-{i}"})
        elapsed = time.perf_counter() - started
        with lock:
            latencies.append(elapsed)
            if status == 202:
                accepted[i] = answer["run_id"]
            else:
                refused.append((i, status, answer))

    try:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.clients) as pool:
            list(pool.map(submit, range(args.runs)))
        submit_s = time.perf_counter() - t0
        print(f"submitted: {len(accepted)} accepted, {len(refused)} refused in {submit_s:.2f} s "
              f"({args.runs / submit_s:.0f} submissions/s); submit latency p50 {percentile(latencies, 50) * 1000:.0f} ms, "
              f"p99 {percentile(latencies, 99) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms")
        assert not refused, f"submissions refused: {refused[:5]}"
        assert len(set(accepted.values())) == args.runs, "two submissions got the same run id"

        ids = set(accepted.values())
        deadline = time.time() + args.timeout
        while True:
            listed = list_runs(api)
            pending = [r for r in ids if listed.get(r) not in TERMINAL]
            if not pending:
                break
            if time.time() > deadline:
                raise AssertionError(f"{len(pending)} runs not finished after {args.timeout} s, e.g. {pending[:3]}: {[listed.get(r) for r in pending[:3]]}")
            time.sleep(0.5)
        total_s = time.perf_counter() - t0
        statuses = {}
        for r in ids:
            statuses[listed[r]] = statuses.get(listed[r], 0) + 1
        print(f"finished: all {len(ids)} runs terminal {total_s:.1f} s after the first submission "
              f"({len(ids) / total_s:.1f} runs/s, {5 * len(ids) / total_s:.0f} steps/s end to end); statuses {statuses}")

        assert set(listed) == ids, f"the API lists {len(set(listed) - ids)} runs nobody submitted and misses {len(ids - set(listed))}"
        assert statuses == {"succeeded": len(ids)}, f"not every run succeeded: {statuses}"
        calls = target.per_run()
        twice = {r: n for r, n in calls.items() if n != 1}
        assert not twice, f"runs whose call reached the target more than once: {list(twice.items())[:5]}"
        assert set(calls) == ids, f"runs whose call never reached the target: {list(ids - set(calls))[:5]}; unknown: {list(set(calls) - ids)[:5]}"
        assert all(k.endswith("/notify/1") for k in target.calls), "every call is the step's first attempt"
        succeeded = metric(api, "runs_total", 'status="succeeded"')
        assert succeeded == len(ids), f"runs_total{{status=\"succeeded\"}} is {succeeded}, not {len(ids)}"
        print(f"burst: OK — {len(ids)} accepted, {len(ids)} listed, {len(ids)} succeeded, {sum(calls.values())} target calls (one per run), "
              f"runs_total{{status=\"succeeded\"}} {succeeded:.0f}")
        return 0
    except AssertionError as e:
        print(f"burst: FAILED — {e}\n--- aos serve log (end) ---\n{server.tail()}")
        return 1
    finally:
        server.stop()
        target.stop()


if __name__ == "__main__":
    sys.exit(main())
