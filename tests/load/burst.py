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
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, __import__("os").path.dirname(__file__))
from common import Api, Server, Submissions, Target, aos_binary, machine, metric, statuses, wait_finished  # noqa: E402


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
    subs = Submissions(api, target, "burst")

    try:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.clients) as pool:
            list(pool.map(subs.submit, range(args.runs)))
        submit_s = time.perf_counter() - t0
        accepted, latencies = subs.accepted, subs.latencies
        print(f"submitted: {len(accepted)} accepted, {len(subs.refused)} refused in {submit_s:.2f} s "
              f"({args.runs / submit_s:.0f} submissions/s); submit latency {subs.latency_ms()}, max {max(latencies) * 1000:.0f} ms")
        assert not subs.refused, f"submissions refused: {subs.refused[:5]}"
        assert len(set(accepted.values())) == args.runs, "two submissions got the same run id"

        ids = set(accepted.values())
        listed = wait_finished(api, ids, args.timeout, 0.5)
        total_s = time.perf_counter() - t0
        ended = statuses(listed, ids)
        print(f"finished: all {len(ids)} runs terminal {total_s:.1f} s after the first submission "
              f"({len(ids) / total_s:.1f} runs/s, {5 * len(ids) / total_s:.0f} steps/s end to end); statuses {ended}")

        assert set(listed) == ids, f"the API lists {len(set(listed) - ids)} runs nobody submitted and misses {len(ids - set(listed))}"
        assert ended == {"succeeded": len(ids)}, f"not every run succeeded: {ended}"
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
